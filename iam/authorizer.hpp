#pragma once
// Every permission decision of berth (API.md §2-§3), in one place: the role
// of a caller in a project (admins are owners everywhere), what that role
// allows, what an expired guest may still do, which projects a caller sees
// and whether it may act on one container. The routes and Accounts ask it;
// nothing else decides. It only reads the store.
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "iam/principal.hpp"
#include "store/records.hpp"

namespace berth::store {
class Store;
}

namespace berth::iam {

// What a route on one container asks of its caller (api's route table).
struct ContainerNeed {
  store::ProjectRole role = store::ProjectRole::viewer;
  bool mutates = false;
  bool allowedWhenExpired = false;      // a change an expired container still takes (delete)
  bool deletedVisibleToOwners = false;  // a deleted container is found by its project's owners (audit reads)
};

class Authorizer {
 public:
  explicit Authorizer(const store::Store& store) : store_(store) {}

  // Owner for admins (when the project exists), the membership's role
  // otherwise; nullopt when the principal has no role in the project.
  std::optional<store::ProjectRole> roleIn(const Principal& principal, const std::string& projectId) const;
  // project_not_found when the principal has no role in the project,
  // insufficient_permissions when its role is below `role`.
  Result<void> requireProjectRole(const Principal& principal, const std::string& projectId,
                                  store::ProjectRole role) const;
  // insufficient_permissions for anyone but an admin.
  Result<void> requireAdmin(const Principal& principal) const;
  // A banned account (account_banned) and a guest past guest_expires_at
  // (guest_expired) may read but not change anything.
  Result<void> checkMayMutate(const Principal& principal) const;

  // The ids of the projects the principal sees, sorted; nullopt: every project (admins).
  Result<std::optional<std::vector<std::string>>> visibleProjects(const Principal& principal) const;
  // visibleProjects for filtering a list: a store failure shows no project
  // rather than failing open.
  std::optional<std::vector<std::string>> visibleProjectsFailClosed(const Principal& principal) const;
  // The project if the principal sees it (admins: all; others: those they
  // are members of), else project_not_found.
  Result<store::ProjectRecord> visibleProject(const Principal& principal, const std::string& projectId) const;
  // A project whose members the principal may change: visible, and the
  // principal is its owner or an admin (else insufficient_permissions).
  Result<store::ProjectRecord> managedProject(const Principal& principal, const std::string& projectId) const;

  // Whether the principal may act on `container` (loaded by the caller,
  // deleted ones too when need.deletedVisibleToOwners), in the check order of
  // API.md §2: not_found, exactly as for a missing container, when the
  // principal has no role in its project or it is deleted and either the
  // route does not show deleted ones or the principal is not an owner;
  // insufficient_permissions when the role is below need.role; for a change,
  // checkMayMutate, then container_expired on an expired container unless
  // need.allowedWhenExpired.
  Result<void> authorizeContainer(const Principal& principal, const store::ContainerRecord& container,
                                  const ContainerNeed& need) const;

 private:
  const store::Store& store_;
};

}  // namespace berth::iam
