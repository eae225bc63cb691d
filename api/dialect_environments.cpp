// The seed 003 dialect: POST /api/containers/{ref}/{operation}?env=N
// (API.md §7). Parsing and shaping only: the dispatcher has found the
// environment, resolved and authorized the container.
#include "api/envelope.hpp"
#include "api/handlers.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

// The seed's operation names; pause needs its stop permission, unpause its
// start permission: in berth every one needs the operator role (the route's).
std::optional<runtime::Operation> environmentOperation(std::string_view name) {
  if (name == "start") return runtime::Operation::start;
  if (name == "stop") return runtime::Operation::stop;
  if (name == "restart") return runtime::Operation::restart;
  if (name == "pause") return runtime::Operation::pause;
  if (name == "unpause") return runtime::Operation::resume;
  return std::nullopt;
}

}  // namespace

HandlerResult environmentOperate(Core&, Call& call) {
  auto operation = environmentOperation(call.params.get("operation"));
  if (!operation)
    return fail(Errc::not_found, Detail::route_not_found, "unknown operation " + call.params.get("operation").substr(0, 32));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  BERTH_TRYV(call.host->operate(call.caller().user.id, *call.container, *operation));
  HttpResponse response;
  response.body = R"({"success":true})";
  return response;
}

}  // namespace berth::api::handlers
