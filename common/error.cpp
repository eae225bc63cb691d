#include "common/error.hpp"

#include <cstring>

namespace berth {

std::string_view errcName(Errc code) {
  switch (code) {
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::already_exists: return "already_exists";
    case Errc::state_conflict: return "state_conflict";
    case Errc::permission_denied: return "permission_denied";
    case Errc::unauthenticated: return "unauthenticated";
    case Errc::container_config: return "container_config";
    case Errc::resource_exhausted: return "resource_exhausted";
    case Errc::host_refused: return "host_refused";
    case Errc::deadline_exceeded: return "deadline_exceeded";
    case Errc::unavailable: return "unavailable";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

std::string_view detailName(Detail detail) {
  switch (detail) {
    case Detail::none: return "none";
    case Detail::missing_token: return "missing_token";
    case Detail::invalid_token: return "invalid_token";
    case Detail::token_expired: return "token_expired";
    case Detail::invalid_credentials: return "invalid_credentials";
    case Detail::account_banned: return "account_banned";
    case Detail::guest_expired: return "guest_expired";
    case Detail::insufficient_permissions: return "insufficient_permissions";
    case Detail::container_expired: return "container_expired";
    case Detail::user_not_found: return "user_not_found";
    case Detail::project_not_found: return "project_not_found";
    case Detail::image_not_found: return "image_not_found";
    case Detail::route_not_found: return "route_not_found";
    case Detail::snapshot_not_found: return "snapshot_not_found";
    case Detail::exec_not_found: return "exec_not_found";
    case Detail::image_in_use: return "image_in_use";
    case Detail::username_taken: return "username_taken";
    case Detail::port_conflict: return "port_conflict";
    case Detail::rate_limited: return "rate_limited";
    case Detail::unknown_environment: return "unknown_environment";
    case Detail::invalid_id_format: return "invalid_id_format";
    case Detail::method_not_allowed: return "method_not_allowed";
    case Detail::payload_too_large: return "payload_too_large";
  }
  return "unknown";
}

Error Error::wrap(std::string_view context) const& {
  Error copy = *this;
  return std::move(copy).wrap(context);
}

Error Error::wrap(std::string_view context) && {
  message = std::string(context) + ": " + message;
  return std::move(*this);
}

std::string Error::describe() const {
  if (sysErrno == 0) return message;
  return message + ": " + std::strerror(sysErrno);
}

std::string Error::describeForClient() const {
  std::string errnoText = sysErrno ? std::string(": ") + std::strerror(sysErrno) : "";
  switch (code) {
    case Errc::host_refused: return "the host refused the operation" + errnoText;
    case Errc::deadline_exceeded: return "the host did not finish the operation in time";
    case Errc::internal: return "an unexpected error occurred";
    default: return describe();
  }
}

tl::unexpected<Error> sysFail(std::string message, int err) {
  return sysFail(Errc::host_refused, std::move(message), err);
}

tl::unexpected<Error> sysFail(Errc code, std::string message, int err) {
  return tl::unexpected<Error>(Error{code, err, std::move(message)});
}

}  // namespace berth
