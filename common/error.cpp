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
    case Errc::internal: return "internal";
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

namespace {
Errc categoryOf(int err) {
  switch (err) {
    case ENOENT: return Errc::not_found;
    case EEXIST: return Errc::already_exists;
    case EINVAL: return Errc::invalid_argument;
    case ETIMEDOUT: return Errc::deadline_exceeded;
    default: return Errc::host_refused;
  }
}
}  // namespace

tl::unexpected<Error> sysFail(std::string message, int err) {
  return sysFail(categoryOf(err), std::move(message), err);
}

tl::unexpected<Error> sysFail(Errc code, std::string message, int err) {
  return tl::unexpected<Error>(Error{code, err, std::move(message)});
}

}  // namespace berth
