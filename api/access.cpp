#include "api/access.hpp"

#include <strings.h>

namespace berth::api {

Result<iam::Principal> authenticateBearer(const iam::Accounts& accounts, std::string_view authorization) {
  auto trim = [](std::string_view text) {
    while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
    while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
    return text;
  };
  authorization = trim(authorization);
  std::string_view scheme = authorization.substr(0, authorization.find(' '));
  if (authorization.empty() || (scheme.size() == 6 && ::strncasecmp(scheme.data(), "Bearer", 6) == 0 &&
                                trim(authorization.substr(6)).empty()))
    return fail(Errc::unauthenticated, Detail::missing_token, "Authentication token required");
  if (scheme.size() != 6 || ::strncasecmp(scheme.data(), "Bearer", 6) != 0)
    return fail(Errc::unauthenticated, Detail::invalid_token, "Authorization must use the Bearer scheme");
  return accounts.authenticate(trim(authorization.substr(6)));
}

std::optional<std::string> sessionCookie(std::string_view cookieHeader) {
  while (!cookieHeader.empty()) {
    std::string_view pair = cookieHeader.substr(0, cookieHeader.find(';'));
    cookieHeader.remove_prefix(std::min(cookieHeader.size(), pair.size() + 1));
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    while (!pair.empty() && pair.back() == ' ') pair.remove_suffix(1);
    if (pair.starts_with("session=") && pair.size() > 8) return std::string(pair.substr(8));
  }
  return std::nullopt;
}

}  // namespace berth::api
