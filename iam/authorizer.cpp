#include "iam/authorizer.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "store/store.hpp"

namespace berth::iam {

using store::ContainerStatus;
using store::ProjectRecord;
using store::ProjectRole;
using store::UserRole;

namespace {

tl::unexpected<Error> insufficientPermissions(std::string message = "Insufficient permissions") {
  return fail(Errc::permission_denied, Detail::insufficient_permissions, std::move(message));
}

tl::unexpected<Error> projectNotFound(const std::string& id) {
  return fail(Errc::not_found, Detail::project_not_found, "project " + id + " not found");
}

}  // namespace

std::optional<ProjectRole> Authorizer::roleIn(const Principal& principal, const std::string& projectId) const {
  if (!isObjectId(projectId)) return std::nullopt;
  if (principal.isAdmin()) {
    if (!store_.getProject(projectId)) return std::nullopt;
    return ProjectRole::owner;
  }
  auto membership = store_.getMembership(projectId, principal.user.id);
  if (!membership || !*membership) return std::nullopt;
  return (*membership)->role;
}

Result<void> Authorizer::requireProjectRole(const Principal& principal, const std::string& projectId,
                                            ProjectRole role) const {
  auto actual = roleIn(principal, projectId);
  if (!actual) return fail(Errc::not_found, Detail::project_not_found, "Project not found");
  if (*actual < role) return insufficientPermissions();
  return {};
}

Result<void> Authorizer::requireAdmin(const Principal& principal) const {
  if (!principal.isAdmin()) return insufficientPermissions();
  return {};
}

Result<void> Authorizer::checkMayMutate(const Principal& principal) const {
  if (principal.user.banned)
    return fail(Errc::permission_denied, Detail::account_banned, "account " + principal.user.username + " is banned");
  if (principal.user.role == UserRole::guest && principal.user.guestExpiresAt &&
      *principal.user.guestExpiresAt <= nowMillis())
    return fail(Errc::permission_denied, Detail::guest_expired, "guest session expired");
  return {};
}

Result<std::optional<std::vector<std::string>>> Authorizer::visibleProjects(const Principal& principal) const {
  if (principal.isAdmin()) return std::nullopt;
  BERTH_TRY(auto memberships, store_.membershipsOfUser(principal.user.id));
  std::vector<std::string> ids;
  ids.reserve(memberships.size());
  for (const auto& membership : memberships) ids.push_back(membership.projectId);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<std::vector<std::string>> Authorizer::visibleProjectsFailClosed(const Principal& principal) const {
  auto visible = visibleProjects(principal);
  if (!visible) {
    spdlog::error("listing projects of user {}: {}", principal.user.id, visible.error().describe());
    return std::vector<std::string>{};
  }
  return std::move(*visible);
}

Result<ProjectRecord> Authorizer::visibleProject(const Principal& principal, const std::string& projectId) const {
  if (!isObjectId(projectId)) return projectNotFound(projectId);
  auto project = store_.getProject(projectId);
  if (!project) {
    if (project.error().code == Errc::not_found) return projectNotFound(projectId);
    return project;
  }
  if (principal.isAdmin()) return project;
  BERTH_TRY(auto membership, store_.getMembership(projectId, principal.user.id));
  if (!membership) return projectNotFound(projectId);
  return project;
}

Result<ProjectRecord> Authorizer::managedProject(const Principal& principal, const std::string& projectId) const {
  BERTH_TRY(auto project, visibleProject(principal, projectId));
  if (principal.isAdmin()) return project;
  BERTH_TRY(auto membership, store_.getMembership(projectId, principal.user.id));
  if (!membership || membership->role != ProjectRole::owner)
    return insufficientPermissions("only the project's owner or an admin may manage its members");
  return project;
}

Result<void> Authorizer::authorizeContainer(const Principal& principal, const store::ContainerRecord& container,
                                            const ContainerNeed& need) const {
  // The same answer as for a container that does not exist, so ids of others' containers tell nothing.
  auto hidden = [] { return fail(Errc::not_found, "container not found"); };
  auto role = roleIn(principal, container.projectId);
  if (!role) return hidden();
  // A deleted container exists only for the audit trail of its project's owners.
  if (container.status == ContainerStatus::deleted && (!need.deletedVisibleToOwners || *role < ProjectRole::owner))
    return hidden();
  if (*role < need.role) return insufficientPermissions();
  if (need.mutates) BERTH_TRYV(checkMayMutate(principal));
  if (need.mutates && !need.allowedWhenExpired && container.status == ContainerStatus::expired)
    return fail(Errc::permission_denied, Detail::container_expired, "Operation not permitted on an expired container");
  return {};
}

}  // namespace berth::iam
