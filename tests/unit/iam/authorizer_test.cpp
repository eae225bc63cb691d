// The decision table of the Authorizer against a real store: who may see,
// read and change a project and its containers, in the check order of API.md §2.
#include "iam/authorizer.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/ids.hpp"
#include "unit/store/store_fixture.hpp"

using namespace berth;
using namespace berth::iam;
using store::ContainerRecord;
using store::ContainerStatus;
using store::Membership;
using store::ProjectRecord;
using store::ProjectRole;
using store::UserRecord;
using store::UserRole;

namespace {

// What a check answered, comparable in one CHECK.
struct Verdict {
  bool allowed = true;
  Errc code = Errc::internal;
  Detail detail = Detail::none;
  bool operator==(const Verdict&) const = default;
};

const Verdict kAllowed{};
const Verdict kHidden{false, Errc::not_found, Detail::none};
const Verdict kProjectNotFound{false, Errc::not_found, Detail::project_not_found};
const Verdict kInsufficient{false, Errc::permission_denied, Detail::insufficient_permissions};
const Verdict kGuestExpired{false, Errc::permission_denied, Detail::guest_expired};
const Verdict kBanned{false, Errc::permission_denied, Detail::account_banned};
const Verdict kContainerExpired{false, Errc::permission_denied, Detail::container_expired};

template <typename T>
Verdict verdictOf(const Result<T>& result) {
  if (result) return kAllowed;
  return Verdict{false, result.error().code, result.error().detail};
}

std::ostream& operator<<(std::ostream& out, const Verdict& verdict) {
  if (verdict.allowed) return out << "allowed";
  return out << errcName(verdict.code) << "/" << detailName(verdict.detail);
}

// A project `shop` with an owner, an operator and a viewer; an admin and an
// outsider who are members of nothing.
struct World {
  testing::TempDir dir{"berth-authorizer"};
  std::unique_ptr<store::Store> store = store::testfix::openStore(dir.sub("db"));
  Authorizer authorizer{*store};
  ProjectRecord shop = makeProject("shop");
  Principal admin = member("root", UserRole::admin);
  Principal owner = member("olivia", UserRole::user, ProjectRole::owner);
  Principal operator_ = member("oscar", UserRole::user, ProjectRole::operator_);
  Principal viewer = member("vera", UserRole::user, ProjectRole::viewer);
  Principal outsider = member("nobody", UserRole::user);

  ProjectRecord makeProject(const std::string& name) {
    ProjectRecord project{newObjectId(), name, "someone", nowMillis()};
    REQUIRE(store->createProject(project));
    return project;
  }

  // A user (stored), with a role in `shop` when given.
  Principal member(const std::string& username, UserRole role, std::optional<ProjectRole> inShop = std::nullopt,
                   std::optional<UnixMillis> guestExpiresAt = std::nullopt) {
    UserRecord user;
    user.id = newObjectId();
    user.username = username;
    user.role = role;
    user.guestExpiresAt = guestExpiresAt;
    user.personalProjectId = newObjectId();
    user.createdAt = nowMillis();
    REQUIRE(store->createUser(user));
    if (inShop) REQUIRE(store->putMembership(Membership{shop.id, user.id, *inShop}));
    return Principal{user, "0123456789abcdef0123456789abcdef", nowMillis() + 3600 * 1000};
  }

  ContainerRecord container(ContainerStatus status) const {
    return store::testfix::makeContainer(store::testfix::containerId(1), shop.id, "web", status);
  }
};

ContainerNeed reading(ProjectRole role = ProjectRole::viewer) { return ContainerNeed{.role = role}; }
ContainerNeed changing(ProjectRole role) { return ContainerNeed{.role = role, .mutates = true}; }

}  // namespace

TEST_CASE("role in a project: admins are owners of every existing project, members have their role") {
  World w;
  CHECK(w.authorizer.roleIn(w.admin, w.shop.id) == ProjectRole::owner);
  CHECK(w.authorizer.roleIn(w.owner, w.shop.id) == ProjectRole::owner);
  CHECK(w.authorizer.roleIn(w.operator_, w.shop.id) == ProjectRole::operator_);
  CHECK(w.authorizer.roleIn(w.viewer, w.shop.id) == ProjectRole::viewer);
  CHECK_FALSE(w.authorizer.roleIn(w.outsider, w.shop.id));
  CHECK_FALSE(w.authorizer.roleIn(w.admin, newObjectId()));  // no such project
  CHECK_FALSE(w.authorizer.roleIn(w.admin, "not-an-id"));
  CHECK_FALSE(w.authorizer.roleIn(w.owner, "not-an-id"));
}

TEST_CASE("requireProjectRole and authorizeContainer: principal x needed role") {
  World w;
  const ProjectRole needs[] = {ProjectRole::viewer, ProjectRole::operator_, ProjectRole::owner};
  struct Row {
    const char* who;
    const Principal& principal;
    Verdict project[3];    // viewer, operator, owner needed
    Verdict container[3];  // the same on a container of the project
  };
  const Row rows[] = {
      {"admin", w.admin, {kAllowed, kAllowed, kAllowed}, {kAllowed, kAllowed, kAllowed}},
      {"owner", w.owner, {kAllowed, kAllowed, kAllowed}, {kAllowed, kAllowed, kAllowed}},
      {"operator", w.operator_, {kAllowed, kAllowed, kInsufficient}, {kAllowed, kAllowed, kInsufficient}},
      {"viewer", w.viewer, {kAllowed, kInsufficient, kInsufficient}, {kAllowed, kInsufficient, kInsufficient}},
      {"non-member", w.outsider, {kProjectNotFound, kProjectNotFound, kProjectNotFound}, {kHidden, kHidden, kHidden}},
  };
  const ContainerRecord running = w.container(ContainerStatus::running);
  for (const Row& row : rows) {
    for (size_t i = 0; i < 3; ++i) {
      INFO(row.who << " needing " << store::projectRoleName(needs[i]));
      CHECK(verdictOf(w.authorizer.requireProjectRole(row.principal, w.shop.id, needs[i])) == row.project[i]);
      CHECK(verdictOf(w.authorizer.authorizeContainer(row.principal, running, reading(needs[i]))) == row.container[i]);
      CHECK(verdictOf(w.authorizer.authorizeContainer(row.principal, running, changing(needs[i]))) == row.container[i]);
    }
  }
  // A project that does not exist, or a malformed id, is 404 even for admins.
  CHECK(verdictOf(w.authorizer.requireProjectRole(w.admin, newObjectId(), ProjectRole::viewer)) == kProjectNotFound);
  CHECK(verdictOf(w.authorizer.requireProjectRole(w.owner, "bad", ProjectRole::viewer)) == kProjectNotFound);
  // A hidden container answers exactly like a missing one.
  auto hidden = w.authorizer.authorizeContainer(w.outsider, running, reading());
  REQUIRE_FALSE(hidden);
  CHECK(hidden.error().message == "container not found");
}

TEST_CASE("a deleted container is found only by its project's owners and admins, only where the route asks") {
  World w;
  const ContainerRecord deleted = w.container(ContainerStatus::deleted);
  ContainerNeed auditRead = reading();
  auditRead.deletedVisibleToOwners = true;
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.admin, deleted, auditRead)) == kAllowed);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.owner, deleted, auditRead)) == kAllowed);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.operator_, deleted, auditRead)) == kHidden);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.viewer, deleted, auditRead)) == kHidden);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.outsider, deleted, auditRead)) == kHidden);
  // Routes that do not show deleted containers hide them from everyone.
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.admin, deleted, reading())) == kHidden);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.owner, deleted, reading())) == kHidden);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.owner, deleted, changing(ProjectRole::owner))) == kHidden);
}

TEST_CASE("a guest past guest_expires_at may read but not change anything; banned accounts neither") {
  World w;
  const UnixMillis now = nowMillis();
  Principal expired = w.member("old-guest", UserRole::guest, ProjectRole::operator_, now - 1000);
  Principal current = w.member("new-guest", UserRole::guest, ProjectRole::operator_, now + 3600 * 1000);
  Principal unlimited = w.member("plain-guest", UserRole::guest, ProjectRole::operator_);
  Principal expiredViewer = w.member("old-viewer", UserRole::guest, ProjectRole::viewer, now - 1000);
  const ContainerRecord running = w.container(ContainerStatus::running);

  auto refused = w.authorizer.checkMayMutate(expired);
  CHECK(verdictOf(refused) == kGuestExpired);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "guest session expired");
  CHECK(verdictOf(w.authorizer.checkMayMutate(current)) == kAllowed);
  CHECK(verdictOf(w.authorizer.checkMayMutate(unlimited)) == kAllowed);
  CHECK(verdictOf(w.authorizer.checkMayMutate(w.owner)) == kAllowed);
  CHECK(verdictOf(w.authorizer.checkMayMutate(w.admin)) == kAllowed);

  CHECK(verdictOf(w.authorizer.authorizeContainer(expired, running, reading())) == kAllowed);
  CHECK(verdictOf(w.authorizer.requireProjectRole(expired, w.shop.id, ProjectRole::operator_)) == kAllowed);
  CHECK(verdictOf(w.authorizer.authorizeContainer(expired, running, changing(ProjectRole::operator_))) ==
        kGuestExpired);
  CHECK(verdictOf(w.authorizer.authorizeContainer(current, running, changing(ProjectRole::operator_))) == kAllowed);
  // The role is judged before the expiry.
  CHECK(verdictOf(w.authorizer.authorizeContainer(expiredViewer, running, changing(ProjectRole::operator_))) ==
        kInsufficient);

  Principal banned = w.owner;
  banned.user.banned = true;  // as a principal taken just before a ban
  CHECK(verdictOf(w.authorizer.checkMayMutate(banned)) == kBanned);
  CHECK(verdictOf(w.authorizer.authorizeContainer(banned, running, reading())) == kAllowed);
  CHECK(verdictOf(w.authorizer.authorizeContainer(banned, running, changing(ProjectRole::owner))) == kBanned);
}

TEST_CASE("an expired container refuses changes unless the route allows them; reads go on") {
  World w;
  const UnixMillis now = nowMillis();
  const ContainerRecord expired = w.container(ContainerStatus::expired);
  ContainerNeed deleting = changing(ProjectRole::owner);
  deleting.allowedWhenExpired = true;

  CHECK(verdictOf(w.authorizer.authorizeContainer(w.viewer, expired, reading())) == kAllowed);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.operator_, expired, changing(ProjectRole::operator_))) ==
        kContainerExpired);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.admin, expired, changing(ProjectRole::owner))) ==
        kContainerExpired);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.owner, expired, deleting)) == kAllowed);
  CHECK(verdictOf(w.authorizer.authorizeContainer(w.operator_, expired, deleting)) == kInsufficient);
  // An expired guest hears about its own expiry first.
  Principal expiredGuest = w.member("old-guest", UserRole::guest, ProjectRole::owner, now - 1000);
  CHECK(verdictOf(w.authorizer.authorizeContainer(expiredGuest, expired, changing(ProjectRole::owner))) ==
        kGuestExpired);
  CHECK(verdictOf(w.authorizer.authorizeContainer(expiredGuest, expired, deleting)) == kGuestExpired);
}

TEST_CASE("requireAdmin lets admins only") {
  World w;
  CHECK(verdictOf(w.authorizer.requireAdmin(w.admin)) == kAllowed);
  for (const Principal* other : {&w.owner, &w.operator_, &w.viewer, &w.outsider})
    CHECK(verdictOf(w.authorizer.requireAdmin(*other)) == kInsufficient);
}

TEST_CASE("visible projects: admins see all, members their projects, others none") {
  World w;
  ProjectRecord second = w.makeProject("second");
  REQUIRE(w.store->putMembership(Membership{second.id, w.viewer.user.id, ProjectRole::owner}));

  auto all = w.authorizer.visibleProjects(w.admin);
  REQUIRE(all);
  CHECK_FALSE(*all);
  CHECK_FALSE(w.authorizer.visibleProjectsFailClosed(w.admin));

  std::vector<std::string> both{w.shop.id, second.id};
  std::sort(both.begin(), both.end());
  auto viewers = w.authorizer.visibleProjects(w.viewer);
  REQUIRE(viewers);
  CHECK(*viewers == std::optional(both));
  CHECK(w.authorizer.visibleProjectsFailClosed(w.viewer) == std::optional(both));
  CHECK(w.authorizer.visibleProjectsFailClosed(w.owner) == std::optional(std::vector<std::string>{w.shop.id}));
  CHECK(w.authorizer.visibleProjectsFailClosed(w.outsider) == std::optional(std::vector<std::string>{}));

  auto seen = w.authorizer.visibleProject(w.viewer, w.shop.id);
  REQUIRE(seen);
  CHECK(*seen == w.shop);
  CHECK(verdictOf(w.authorizer.visibleProject(w.admin, second.id)) == kAllowed);
  CHECK(verdictOf(w.authorizer.visibleProject(w.outsider, w.shop.id)) == kProjectNotFound);
  CHECK(verdictOf(w.authorizer.visibleProject(w.owner, second.id)) == kProjectNotFound);
  CHECK(verdictOf(w.authorizer.visibleProject(w.admin, newObjectId())) == kProjectNotFound);
  CHECK(verdictOf(w.authorizer.visibleProject(w.admin, "bad-id")) == kProjectNotFound);
}

TEST_CASE("managing a project's members takes its owner or an admin") {
  World w;
  auto managed = w.authorizer.managedProject(w.owner, w.shop.id);
  REQUIRE(managed);
  CHECK(*managed == w.shop);
  CHECK(verdictOf(w.authorizer.managedProject(w.admin, w.shop.id)) == kAllowed);
  auto refused = w.authorizer.managedProject(w.operator_, w.shop.id);
  CHECK(verdictOf(refused) == kInsufficient);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "only the project's owner or an admin may manage its members");
  CHECK(verdictOf(w.authorizer.managedProject(w.viewer, w.shop.id)) == kInsufficient);
  CHECK(verdictOf(w.authorizer.managedProject(w.outsider, w.shop.id)) == kProjectNotFound);
  CHECK(verdictOf(w.authorizer.managedProject(w.admin, newObjectId())) == kProjectNotFound);
}
