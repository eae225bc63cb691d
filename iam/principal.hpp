#pragma once
// The authenticated caller of one request (Accounts::authenticate makes it;
// the Authorizer decides what it may do).
#include <string>

#include "common/clock.hpp"
#include "store/records.hpp"

namespace berth::iam {

struct Principal {
  store::UserRecord user;
  std::string tokenId;  // jti
  UnixMillis tokenExpiresAt = 0;
  bool isAdmin() const { return user.role == store::UserRole::admin; }
};

}  // namespace berth::iam
