#pragma once
// Who is calling: the bearer token of a request, read from its HTTP header
// and handed to Accounts. What the caller may do is the Authorizer's
// (iam/authorizer.hpp); service.cpp asks it in the check order of API.md §2.
#include <string_view>

#include "iam/accounts.hpp"

namespace berth::api {

// The Authorization header ("Bearer <token>"). Absent or empty: missing_token;
// another scheme: invalid_token; else whatever Accounts::authenticate says.
Result<iam::Principal> authenticateBearer(const iam::Accounts& accounts, std::string_view authorization);

// The `session` cookie of a Cookie header ("a=1; session=<token>"), the
// token the dialects' clients send; nullopt when there is none.
std::optional<std::string> sessionCookie(std::string_view cookieHeader);

}  // namespace berth::api
