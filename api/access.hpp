#pragma once
// Who is calling and what it may do, in the check order of API.md §2:
// authentication (401), id format (400), existence and visibility (404),
// permission (403), expiry (403). Shared by every dialect's handlers.
#include <string>
#include <string_view>

#include "iam/accounts.hpp"
#include "runtime/manager.hpp"

namespace berth::api {

// The Authorization header ("Bearer <token>"). Absent or empty: missing_token;
// another scheme: invalid_token; else whatever Accounts::authenticate says.
Result<iam::Principal> authenticateBearer(const iam::Accounts& accounts, std::string_view authorization);

struct ContainerNeed {
  store::ProjectRole role = store::ProjectRole::viewer;
  bool mutates = false;
  bool allowedWhenExpired = false;
  bool deletedVisibleToOwners = false;
};

// The container `id` (already checked to be an object id) if the principal
// may act on it: not_found when it does not exist, is deleted or lies in a
// project the principal has no role in; permission_denied when the role is
// too small or the principal is a guest past expiry and the call mutates;
// permission_denied/container_expired for a change to an expired container.
Result<store::ContainerRecord> authorizeContainer(const runtime::ContainerManager& containers,
                                                  const iam::Accounts& accounts,
                                                  const iam::Principal& principal, const std::string& id,
                                                  const ContainerNeed& need);

// The caller's role must be at least `role` in the project; not_found
// (project_not_found) when it has none.
Result<void> requireProjectRole(const iam::Accounts& accounts, const iam::Principal& principal,
                                const std::string& projectId, store::ProjectRole role);

}  // namespace berth::api
