#pragma once
// The one error convention of berth: every fallible call returns Result<T>.
// An Error carries a category (mapped to the wire in api/ only), the errno of
// the failing system call (0 if none) and a message that gains context on the
// way up through wrap().
#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include <tl/expected.hpp>

namespace berth {

enum class Errc {
  invalid_argument,     // the caller's input is malformed or out of range
  not_found,            // the named thing does not exist
  already_exists,       // a unique name or key is taken
  state_conflict,       // the operation is not allowed from the current state
  permission_denied,    // authenticated but not allowed
  unauthenticated,      // no or bad credentials
  container_config,     // the container's own configuration made it fail (bad command, cwd)
  resource_exhausted,   // a configured limit would be exceeded
  host_refused,         // the kernel or host refused (cgroup write, mount, ENOMEM)
  deadline_exceeded,    // a bounded wait ran out
  unavailable,          // the service is at a capacity it set itself; retry later
  internal,             // a bug or a corrupted invariant
};

std::string_view errcName(Errc code);

// A finer, machine-readable reason inside a category, where callers must tell
// cases apart (api/errors.cpp gives each its own wire code); none otherwise.
enum class Detail {
  none,
  // unauthenticated
  missing_token,
  invalid_token,
  token_expired,
  invalid_credentials,
  // permission_denied
  account_banned,
  guest_expired,
  insufficient_permissions,
  container_expired,
  unknown_environment,  // a dialect's ?env= names no environment this service fronts
  // not_found
  user_not_found,
  project_not_found,
  image_not_found,
  route_not_found,
  snapshot_not_found,
  exec_not_found,
  // state_conflict
  image_in_use,  // an image a container that is not deleted uses
  // already_exists
  username_taken,
  port_conflict,  // a published host port another container holds, or the host uses
  // resource_exhausted
  rate_limited,
  // invalid_argument
  invalid_id_format,
  method_not_allowed,
  payload_too_large,  // also on resource_exhausted: a streamed body past its limit
};

// "token_expired"
std::string_view detailName(Detail detail);

struct Error {
  Errc code = Errc::internal;
  int sysErrno = 0;
  std::string message;
  Detail detail = Detail::none;

  // Prefixes context: "starting container: clone3: Operation not permitted".
  Error wrap(std::string_view context) const&;
  Error wrap(std::string_view context) &&;
  // The full text with strerror(sysErrno) appended when set (for the log).
  std::string describe() const;
  // The text that may leave the service (an API answer, a status-log
  // reason): the whole text for the caller's own mistakes and the
  // container's own faults; for a failure of the host only what kind of
  // failure and the errno's text, never a host path.
  std::string describeForClient() const;
};

template <typename T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(Errc code, std::string message) {
  return tl::unexpected<Error>(Error{code, 0, std::move(message), {}});
}

inline tl::unexpected<Error> fail(Errc code, Detail detail, std::string message) {
  return tl::unexpected<Error>(Error{code, 0, std::move(message), detail});
}

// For a failed system call: captures errno now. The category is host_refused
// whatever the errno: only the layer that knows a thing is absent (or taken,
// or malformed) says so, with its own category; errno never decides it.
tl::unexpected<Error> sysFail(std::string message, int err = errno);
tl::unexpected<Error> sysFail(Errc code, std::string message, int err = errno);

// Adds context to the error of a Result on its way up.
template <typename T>
Result<T> withContext(Result<T> result, std::string_view context) {
  if (!result) return tl::unexpected<Error>(std::move(result.error()).wrap(context));
  return result;
}

}  // namespace berth

// Early return on error: BERTH_TRY(auto fd, openSomething(path));
#define BERTH_CONCAT_INNER(a, b) a##b
#define BERTH_CONCAT(a, b) BERTH_CONCAT_INNER(a, b)
#define BERTH_TRY_IMPL(tmp, decl, expr)                                   \
  auto tmp = (expr);                                                      \
  if (!tmp) return tl::unexpected<::berth::Error>(std::move(tmp.error())); \
  decl = std::move(*tmp)
#define BERTH_TRY(decl, expr) BERTH_TRY_IMPL(BERTH_CONCAT(berthTry_, __COUNTER__), decl, expr)
// For Result<void>: BERTH_TRYV(doSomething());
#define BERTH_TRYV(expr)                                                       \
  do {                                                                         \
    auto berthTryV_ = (expr);                                                  \
    if (!berthTryV_) return tl::unexpected<::berth::Error>(std::move(berthTryV_.error())); \
  } while (0)
