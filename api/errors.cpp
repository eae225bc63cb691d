#include "api/errors.hpp"

namespace berth::api {

namespace {

std::string orDefault(const std::string& message, std::string_view fallback) {
  return message.empty() ? std::string(fallback) : message;
}

WireError invalidArgument(const Error& error) {
  switch (error.detail) {
    case Detail::invalid_id_format: return {400, "INVALID_ID_FORMAT", orDefault(error.message, "Invalid ID format")};
    case Detail::method_not_allowed: return {405, "METHOD_NOT_ALLOWED", error.message};
    case Detail::payload_too_large: return {413, "PAYLOAD_TOO_LARGE", error.message};
    default: return {400, "VALIDATION_ERROR", orDefault(error.message, "Invalid request")};
  }
}

WireError notFound(const Error& error) {
  switch (error.detail) {
    case Detail::user_not_found: return {404, "USER_NOT_FOUND", "User not found"};
    case Detail::project_not_found: return {404, "PROJECT_NOT_FOUND", "Project not found"};
    case Detail::image_not_found: return {404, "IMAGE_NOT_FOUND", orDefault(error.message, "Image not found")};
    case Detail::route_not_found: return {404, "NOT_FOUND", orDefault(error.message, "Route not found")};
    case Detail::snapshot_not_found: return {404, "SNAPSHOT_NOT_FOUND", "Snapshot not found"};
    case Detail::exec_not_found: return {404, "EXEC_NOT_FOUND", "Exec not found"};
    // Fixed text: a container the caller may not see must look exactly like one that does not exist.
    default: return {404, "CONTAINER_NOT_FOUND", "Container not found"};
  }
}

WireError unauthenticated(const Error& error) {
  // Fixed texts: token parsing details are of no use to a client and may help an attacker.
  switch (error.detail) {
    case Detail::missing_token: return {401, "MISSING_TOKEN", "Authentication token required"};
    case Detail::token_expired: return {401, "TOKEN_EXPIRED", "Authentication token expired"};
    case Detail::invalid_credentials: return {401, "INVALID_CREDENTIALS", "Invalid username or password"};
    default: return {401, "INVALID_TOKEN", "Invalid authentication token"};
  }
}

WireError permissionDenied(const Error& error) {
  switch (error.detail) {
    case Detail::account_banned: return {403, "ACCOUNT_BANNED", "Account banned"};
    case Detail::guest_expired: return {403, "INSUFFICIENT_PERMISSIONS", "guest session expired"};
    case Detail::container_expired:
      return {403, "OPERATION_NOT_PERMITTED_ON_EXPIRED", "Operation not permitted on an expired container"};
    default: return {403, "INSUFFICIENT_PERMISSIONS", orDefault(error.message, "Insufficient permissions")};
  }
}

WireError resourceExhausted(const Error& error) {
  switch (error.detail) {
    case Detail::rate_limited: return {429, "RATE_LIMITED", error.message};
    // A body past its limit (an image archive), found while streaming it.
    case Detail::payload_too_large: return {413, "PAYLOAD_TOO_LARGE", error.message};
    default: return {422, "RESOURCE_LIMIT_EXCEEDED", error.message};
  }
}

}  // namespace

WireError toWireError(const Error& error) {
  switch (error.code) {
    case Errc::invalid_argument: return invalidArgument(error);
    case Errc::not_found: return notFound(error);
    case Errc::already_exists:
      if (error.detail == Detail::port_conflict) return {409, "PORT_CONFLICT", error.message};
      return {409, "NAME_CONFLICT", orDefault(error.message, "Name already in use")};
    case Errc::state_conflict:
      if (error.detail == Detail::image_in_use) return {409, "IMAGE_IN_USE", error.message};
      return {400, "OPERATION_STATE_CONFLICT", error.message};
    case Errc::unauthenticated: return unauthenticated(error);
    case Errc::permission_denied: return permissionDenied(error);
    case Errc::container_config: return {422, "START_FAILED", error.describe()};
    case Errc::resource_exhausted: return resourceExhausted(error);
    // What the host said stays in the service's log; the client learns the kind of failure only.
    case Errc::host_refused:
    case Errc::deadline_exceeded: return {503, "EXTERNAL_SERVICE_ERROR", error.describeForClient()};
    case Errc::unavailable: return {503, "EXTERNAL_SERVICE_ERROR", error.message};
    case Errc::internal: break;
  }
  return {500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred"};
}

WireError toDialectError(const Error& error, Dialect dialect) {
  const bool environments = dialect == Dialect::environments;
  switch (error.code) {
    case Errc::unauthenticated: return {401, "", "unauthorized"};
    case Errc::permission_denied:
      if (error.detail == Detail::guest_expired) return {403, "", "guest session expired"};
      if (error.detail == Detail::account_banned) return {403, "", "account banned"};
      if (error.detail == Detail::container_expired) return {403, "", "operation not permitted on an expired container"};
      if (error.detail == Detail::unknown_environment) return {403, "", "environment access denied"};
      return {403, "", environments ? "permission denied" : "not authorized"};
    case Errc::not_found:
      if (error.detail == Detail::route_not_found) return {404, "", "not found"};
      return {404, "", "container not found"};
    case Errc::invalid_argument:
      if (error.detail == Detail::method_not_allowed) return {405, "", error.message};
      if (error.detail == Detail::payload_too_large) return {413, "", error.message};
      return {400, "", error.message};
    case Errc::already_exists:
    case Errc::state_conflict: return {409, "", error.message};
    case Errc::resource_exhausted:
      if (error.detail == Detail::rate_limited) return {429, "", error.message};
      if (error.detail == Detail::payload_too_large) return {413, "", error.message};
      return {400, "", error.message};  // above the tier: the request asked too much
    // The seeds answer 500 when the runtime could not do it.
    case Errc::container_config: return {500, "", "failed to start container: " + error.describe()};
    case Errc::host_refused:
    case Errc::deadline_exceeded: return {500, "", error.describeForClient()};
    case Errc::unavailable: return {503, "", error.message};
    case Errc::internal: break;
  }
  return {500, "", "internal error"};
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: break;
  }
  return status >= 500 ? "Internal Server Error" : "Bad Request";
}

tl::unexpected<Error> invalidIdFormat(std::string_view field) {
  return fail(Errc::invalid_argument, Detail::invalid_id_format,
              std::string(field) + " must be 24 lowercase hex characters");
}

tl::unexpected<Error> validationError(std::string message) { return fail(Errc::invalid_argument, std::move(message)); }

}  // namespace berth::api
