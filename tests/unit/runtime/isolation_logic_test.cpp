// `user`, `umask` and `isolation` in the lifecycle, without root: resolved
// at create and PATCH, handed to the monitor, a user namespace's host id
// range claimed at create, its layer given to its root, the range kept
// through stops and a reopen, released at delete; refusals leave nothing.
#include <catch2/catch.hpp>

#include <set>

#include "logic_fixture.hpp"
#include "runtime/users.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::logicfix;

namespace {

CreateRequest isolated(const std::string& name, bool autostart = true) {
  CreateRequest request;
  request.name = name;
  request.isolation = "user-namespace";
  request.autostart = autostart;
  return request;
}

ContainerRecord made(Result<Created> created) {
  if (!created) FAIL(created.error().describe());
  if (created->startError) FAIL(created->startError->describe());
  return created->record;
}

}  // namespace

TEST_CASE("isolation logic: each user-namespace container holds its own host id range until it is deleted") {
  LogicFixture f;
  auto first = made(f.create(isolated("first")));
  auto second = made(f.create(isolated("second")));
  REQUIRE(first.idMap);
  REQUIRE(second.idMap);
  CHECK(first.isolation == "user-namespace");
  CHECK(first.idMap->size == kIdMapSize);
  CHECK(first.idMap->hostUid == idRangeCandidates()[0]);
  CHECK(second.idMap->hostUid == idRangeCandidates()[1]);
  CHECK(first.idMap->hostGid == first.idMap->hostUid);
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK(f.kernel().layerOwners.at(first.id) == std::pair{first.idMap->hostUid, first.idMap->hostGid});
    // The monitor was told: the map, and root (busybox has no User).
    REQUIRE(f.kernel().lastSpec->userNamespace);
    CHECK(f.kernel().lastSpec->userNamespace->hostUid == second.idMap->hostUid);
    CHECK(f.kernel().lastSpec->userNamespace->size == kIdMapSize);
    REQUIRE(f.kernel().lastSpec->user);
    CHECK(f.kernel().lastSpec->user->uid == 0);
  }
  // Host-root containers hold none.
  auto plain = f.create("plain");
  CHECK_FALSE(plain.idMap);
  CHECK(plain.isolation == "host-root");

  REQUIRE(f.manager().operate(kOwner, first, Operation::stop));
  REQUIRE(f.manager().operate(kOwner, f.current(first.id), Operation::start));
  f.reopen();
  CHECK(f.current(first.id).idMap == first.idMap);
  REQUIRE(f.manager().remove(kOwner, first.id, true, false));
  auto third = made(f.create(isolated("third")));
  CHECK(third.idMap == first.idMap);  // released, taken again
}

TEST_CASE("isolation logic: the default comes from the config; bridge, a failed probe and copies are refused") {
  LogicFixture f;
  f.config().defaultIsolation = "user-namespace";
  f.reopen();
  CreateRequest request;
  request.name = "by-default";
  CHECK(made(f.create(request)).isolation == "user-namespace");

  CreateRequest bridged = isolated("bridged");
  bridged.networkMode = "bridge";
  auto refused = f.create(bridged);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.find("isolation") != std::string::npos);

  auto stopped = made(f.create(isolated("stopped", false)));
  auto copy = f.manager().copy(kOwner, stopped, "copied", kOwner);
  REQUIRE_FALSE(copy);
  CHECK(copy.error().code == Errc::invalid_argument);

  // A kernel without idmapped overlays: 503 at create, nothing made.
  f.closeManager();
  auto host = testing::fakeHost(f.kernel(), f.clock());
  host.userNamespaceSupport = [] { return fail(Errc::host_refused, "overlay over an idmapped layer (Linux 5.19+)"); };
  auto manager = ContainerManager::open(f.config(), f.store(), std::move(host));
  REQUIRE(manager);
  auto noKernel = (*manager)->create(kOwner, isolated("no-kernel"));
  REQUIRE_FALSE(noKernel);
  CHECK(noKernel.error().code == Errc::host_refused);
  CHECK(noKernel.error().message.find("idmapped") != std::string::npos);
  auto listed = f.store().listContainers({});
  REQUIRE(listed);
  for (const auto& record : listed->containers) CHECK(record.name != "no-kernel");
}

TEST_CASE("user logic: resolved at create and PATCH, refused names leave nothing, a running container keeps its user") {
  LogicFixture f;
  CreateRequest request;
  request.name = "nob";
  request.user = "nobody";
  request.umask = 077;
  auto nobody = made(f.create(request));
  REQUIRE(nobody.user);
  CHECK(*nobody.user == store::ProcessUser{"nobody", 65534, 65534, {}});
  CHECK(nobody.umask == 077u);
  {
    std::lock_guard lock(f.kernel().mutex);
    REQUIRE(f.kernel().lastSpec->user);
    CHECK(f.kernel().lastSpec->user->uid == 65534);
    CHECK(f.kernel().lastSpec->umask == 077u);
    CHECK_FALSE(f.kernel().lastSpec->userNamespace);
  }
  CreateRequest ghost;
  ghost.name = "ghost";
  ghost.user = "ghost";
  auto refused = f.create(ghost);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);
  CHECK(refused.error().message.starts_with("user \"ghost\""));
  CHECK_FALSE(f.store().findContainerByName(kOwner, "ghost").value());

  UpdateRequest change;
  change.user = "0:0";
  auto busy = f.manager().update(kOwner, nobody.id, change);
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == Errc::state_conflict);
  REQUIRE(f.manager().operate(kOwner, nobody, Operation::force_stop));
  change.umask = std::optional<uint32_t>{};
  auto updated = f.manager().update(kOwner, nobody.id, change);
  REQUIRE(updated);
  CHECK(*updated->container.user == store::ProcessUser{"0:0", 0, 0, {}});
  CHECK_FALSE(updated->container.umask);
  change = {};
  change.user = "no-such-user";
  CHECK(f.manager().update(kOwner, nobody.id, change).error().code == Errc::invalid_argument);
  CHECK(f.current(nobody.id).user->name == "0:0");
}
