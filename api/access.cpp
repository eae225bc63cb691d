#include "api/access.hpp"

#include <strings.h>

#include "api/errors.hpp"

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

Result<store::ContainerRecord> authorizeContainer(const runtime::ContainerManager& containers,
                                                  const iam::Accounts& accounts,
                                                  const iam::Principal& principal, const std::string& id,
                                                  const ContainerNeed& need) {
  BERTH_TRY(auto record, need.deletedVisibleToOwners ? containers.getIncludingDeleted(id) : containers.get(id));
  auto hidden = [] { return fail(Errc::not_found, "container not found"); };
  auto role = accounts.roleIn(principal, record.projectId);
  if (!role) return hidden();
  // A deleted container exists only for the audit trail of its owners.
  if (record.status == store::ContainerStatus::deleted && *role < store::ProjectRole::owner) return hidden();
  if (*role < need.role)
    return fail(Errc::permission_denied, Detail::insufficient_permissions, "Insufficient permissions");
  if (need.mutates) BERTH_TRYV(accounts.checkMayMutate(principal));
  if (need.mutates && !need.allowedWhenExpired && record.status == store::ContainerStatus::expired)
    return fail(Errc::permission_denied, Detail::container_expired,
                "Operation not permitted on an expired container");
  return record;
}

Result<void> requireProjectRole(const iam::Accounts& accounts, const iam::Principal& principal,
                                const std::string& projectId, store::ProjectRole role) {
  auto actual = accounts.roleIn(principal, projectId);
  if (!actual) return fail(Errc::not_found, Detail::project_not_found, "Project not found");
  if (*actual < role)
    return fail(Errc::permission_denied, Detail::insufficient_permissions, "Insufficient permissions");
  return {};
}

}  // namespace berth::api
