#include "api/envelope.hpp"

namespace berth::api {

std::string dumpJson(const Json& value) { return value.dump(-1, ' ', false, Json::error_handler_t::replace); }

HttpResponse successResponse(int status, std::string_view message, Json data) {
  Json body{{"statusCode", status}, {"message", message}, {"data", std::move(data)}};
  HttpResponse response;
  response.status = status;
  response.body = dumpJson(body);
  return response;
}

HttpResponse errorResponse(const WireError& error, Json data) {
  Json body{{"statusCode", error.status},
            {"error", reasonPhrase(error.status)},
            {"code", error.code},
            {"message", error.message}};
  if (!data.is_null()) body["data"] = std::move(data);
  HttpResponse response;
  response.status = error.status;
  response.body = dumpJson(body);
  return response;
}

HttpResponse errorResponse(const Error& error, Json data) { return errorResponse(toWireError(error), std::move(data)); }

HttpResponse dialectErrorResponse(const Error& error, Dialect dialect) {
  WireError wire = toDialectError(error, dialect);
  HttpResponse response;
  response.status = wire.status;
  response.body = dumpJson(Json{{"error", wire.message}});
  return response;
}

}  // namespace berth::api
