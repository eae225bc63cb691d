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
