// ContainerManager's lifecycle logic without root: the cgroups, the monitors
// and the clock are fakes (support/fake_host.hpp); the store is a real one in
// a temp dir. What the kernel does itself is tested in tests/kernel/.
#include <catch2/catch.hpp>

#include <future>
#include <optional>
#include <thread>

#include "common/files.hpp"
#include "logic_fixture.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::logicfix;

TEST_CASE("logic: a graceful stop of an init that handles SIGTERM, and of one that ignores it") {
  LogicFixture f;
  auto polite = f.create("polite");
  CHECK(polite.status == ContainerStatus::running);
  auto stopped = f.manager().operate(kOwner, polite, Operation::stop);
  REQUIRE(stopped);
  CHECK(stopped->status == ContainerStatus::stopped);
  CHECK(stopped->exitCode == 0);
  CHECK_FALSE(stopped->pid);
  auto log = f.log(polite.id);
  REQUIRE(log.size() == 3);
  CHECK(log[0].metadata.operation == "create");
  CHECK(log[1].metadata.operation == "start");
  CHECK(log[2].metadata.operation == "stop");
  CHECK(log[2].metadata.reason == "exited after SIGTERM");

  f.kernel().nextInitIgnoresTerm = true;
  auto stubborn = f.create("stubborn");
  OperationOptions oneSecond;
  oneSecond.timeout = 1s;
  auto start = std::chrono::steady_clock::now();
  auto killed = f.manager().operate(kOwner, stubborn, Operation::stop, oneSecond);
  REQUIRE(killed);
  CHECK(millisSince(start) >= 1000);
  CHECK(millisSince(start) < 3000);
  CHECK(killed->exitSignal == "SIGKILL");
  CHECK(f.log(stubborn.id).back().metadata.reason == "killed after the grace period");
}

TEST_CASE("logic: a force-stop cuts short a graceful stop waiting out its grace period") {
  LogicFixture f;
  f.kernel().nextInitIgnoresTerm = true;
  auto record = f.create("slow");
  OperationOptions longGrace;
  longGrace.timeout = 60s;
  auto start = std::chrono::steady_clock::now();
  auto graceful = std::async(std::launch::async, [&] { return f.manager().operate(kOwner, record, Operation::stop, longGrace); });
  // The force-stop can only escalate once the stop holds the container and waits.
  std::this_thread::sleep_for(200ms);
  auto forced = f.manager().operate(kOwner, record, Operation::force_stop);
  auto stopped = graceful.get();
  CHECK(millisSince(start) < 5000);
  REQUIRE(stopped);
  REQUIRE(forced);
  CHECK(forced->status == ContainerStatus::stopped);
  CHECK(stopped->exitSignal == "SIGKILL");
  auto log = f.log(record.id);
  REQUIRE(log.size() == 3);  // create, start, one stop: the force-stop found it stopped
  CHECK(log[2].metadata.operation == "stop");
  CHECK(log[2].metadata.reason == "killed after the grace period");
}

TEST_CASE("logic: a freeze the host never confirms is undone after its deadline, and so is the pause recorded meanwhile") {
  LogicFixture f;
  auto record = f.create("ticker");
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().group(record.runtimeId).confirmsFreeze = false;
  }
  auto start = std::chrono::steady_clock::now();
  auto paused = f.manager().operate(kOwner, record, Operation::pause);
  REQUIRE_FALSE(paused);
  CHECK(paused.error().code == Errc::deadline_exceeded);
  CHECK(millisSince(start) >= 300);
  CHECK(f.current(record.id).status == ContainerStatus::running);
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK_FALSE(f.kernel().group(record.runtimeId).frozen);
    f.kernel().group(record.runtimeId).confirmsFreeze = true;
  }
  // The pause was committed while the kernel froze; its undoing follows it.
  auto log = f.log(record.id);
  REQUIRE(log.size() == 4);
  CHECK(log[2].metadata.operation == "pause");
  CHECK(log[2].toStatus == ContainerStatus::paused);
  CHECK(log[3].metadata.operation == "pause_undone");
  CHECK(log[3].fromStatus == ContainerStatus::paused);
  CHECK(log[3].toStatus == ContainerStatus::running);
  CHECK(log[3].metadata.reason == "the freeze did not finish and was undone");
  auto resumed = f.manager().operate(kOwner, record, Operation::resume);
  REQUIRE_FALSE(resumed);
  CHECK(resumed.error().code == Errc::state_conflict);
  auto pausedNow = f.manager().operate(kOwner, record, Operation::pause);
  REQUIRE(pausedNow);
  CHECK(pausedNow->status == ContainerStatus::paused);
  std::lock_guard lock(f.kernel().mutex);
  CHECK(f.kernel().group(record.runtimeId).frozen);
}

TEST_CASE("logic: a pause is committed while the kernel freezes, and answered once both are done") {
  LogicFixture f;
  auto record = f.create("ticker");
  std::optional<ContainerStatus> recordedDuringTheWait;
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().group(record.runtimeId).onFinishFreeze = [&] { recordedDuringTheWait = f.current(record.id).status; };
  }
  auto paused = f.manager().operate(kOwner, record, Operation::pause);
  REQUIRE(paused);
  CHECK(paused->status == ContainerStatus::paused);
  REQUIRE(recordedDuringTheWait);
  CHECK(*recordedDuringTheWait == ContainerStatus::paused);
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK(f.kernel().group(record.runtimeId).frozen);
  }
  auto log = f.log(record.id);
  REQUIRE(log.size() == 3);
  CHECK(log[2].metadata.operation == "pause");
}

TEST_CASE("logic: an init that exits by itself, and one the OOM killer ends, are recorded by the supervisor") {
  LogicFixture f;
  auto quits = f.create("quits");
  f.kernel().exitInit(quits.runtimeId, 3);
  REQUIRE(f.waitForStatus(quits.id, ContainerStatus::stopped));
  auto after = f.current(quits.id);
  CHECK(after.exitCode == 3);
  CHECK_FALSE(after.oomKilled);
  CHECK(f.log(quits.id).back().metadata.operation == "exit");
  CHECK(f.log(quits.id).back().triggeredBy == "system");
  CHECK(f.log(quits.id).back().metadata.reason == "init exited");

  auto hungry = f.create("hungry");
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().group(hungry.runtimeId).oomKills = 1;
  }
  f.kernel().exitInit(hungry.runtimeId, 128 + SIGKILL, SIGKILL);
  REQUIRE(f.waitForStatus(hungry.id, ContainerStatus::stopped));
  auto oom = f.current(hungry.id);
  CHECK(oom.oomKilled);
  CHECK(oom.exitSignal == "SIGKILL");
  auto last = f.log(hungry.id).back();
  CHECK(last.metadata.reason == "out of memory");
  CHECK(last.metadata.oomKilled == true);
}

TEST_CASE("logic: an ENOENT of the host during a start is a host failure (503), never not_found, and leaks no path") {
  LogicFixture f;
  auto record = f.create("web", false);
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().group(record.runtimeId).failNextWaitEmpty =
        sysFail("open /fake/cgroup/" + record.runtimeId + "/cgroup.events", ENOENT).value();
  }
  auto started = f.manager().operate(kOwner, record, Operation::start);
  REQUIRE_FALSE(started);
  CHECK(started.error().code == Errc::host_refused);
  CHECK(started.error().sysErrno == ENOENT);
  CHECK(started.error().describeForClient().find("/fake") == std::string::npos);
  auto failed = f.current(record.id);
  CHECK(failed.status == ContainerStatus::failed);
  auto reason = f.log(record.id).back().metadata.reason;
  REQUIRE(reason);
  CHECK(reason->find("/fake") == std::string::npos);
  CHECK(reason->find("No such file or directory") != std::string::npos);
  // The container's own fault keeps its message; it fails the start too.
  f.kernel().failNextLaunch = Error{Errc::container_config, ENOENT, "exec /bin/nope", {}};
  auto again = f.manager().operate(kOwner, failed, Operation::start);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::container_config);
  CHECK(*f.log(record.id).back().metadata.reason == "exec /bin/nope: No such file or directory");
  // A start after that works.
  auto third = f.manager().operate(kOwner, f.current(record.id), Operation::start);
  REQUIRE(third);
  CHECK(third->status == ContainerStatus::running);
}

TEST_CASE("logic: a service restart adopts running inits, records an exit made while it was down, reconciles a freeze") {
  LogicFixture f;
  auto lasting = f.create("lasting");
  auto exiting = f.create("exiting");
  auto frozen = f.create("frozen");
  f.closeManager();
  f.kernel().exitInit(exiting.runtimeId, 7);
  UnixMillis exitedAt = f.clock().now();
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().group(frozen.runtimeId).frozen = true;
  }
  f.clock().advance(5000ms);
  int launchesBefore = f.kernel().launches;
  f.reopen();
  CHECK(f.kernel().launches == launchesBefore);  // adopted, not started again

  CHECK(f.current(lasting.id).status == ContainerStatus::running);
  auto exited = f.current(exiting.id);
  CHECK(exited.status == ContainerStatus::stopped);
  CHECK(exited.exitCode == 7);
  CHECK(exited.finishedAt == exitedAt);
  auto exitEntry = f.log(exiting.id).back();
  CHECK(exitEntry.metadata.operation == "exit");
  CHECK(exitEntry.metadata.reason == "exited while the service was down");
  CHECK(exitEntry.transitionTime == exitedAt);
  auto reconciled = f.current(frozen.id);
  CHECK(reconciled.status == ContainerStatus::paused);
  CHECK(f.log(frozen.id).back().metadata.operation == "reconcile");

  // The adopted ones are supervised again: an exit now is seen, a stop works.
  f.kernel().exitInit(lasting.runtimeId, 0);
  REQUIRE(f.waitForStatus(lasting.id, ContainerStatus::stopped));
  auto stopped = f.manager().operate(kOwner, reconciled, Operation::stop);
  REQUIRE(stopped);
  CHECK(stopped->status == ContainerStatus::stopped);
}

TEST_CASE("logic: after a host boot running containers are recorded stopped and autostart ones start again") {
  LogicFixture f;
  auto keeps = f.create("keeps");
  auto manual = f.create("manual");
  REQUIRE(f.manager().update(kOwner, manual.id, UpdateRequest{.autostart = false}));
  f.closeManager();
  REQUIRE(removeTree(f.config().runDir));  // /run is a tmpfs: a boot empties it
  f.kernel().boot();
  f.reopen();
  auto restarted = f.current(keeps.id);
  CHECK(restarted.status == ContainerStatus::running);
  CHECK(restarted.pid != keeps.pid);
  auto keepsLog = f.log(keeps.id);
  REQUIRE(keepsLog.size() >= 2);
  CHECK(keepsLog[keepsLog.size() - 2].metadata.operation == "host_restart");
  CHECK(keepsLog.back().metadata.operation == "autostart");
  CHECK(f.current(manual.id).status == ContainerStatus::stopped);
  CHECK(f.log(manual.id).back().metadata.reason == "host_restart");
}

TEST_CASE("logic: a container whose expires_at passes is killed and expired in one entry; one moved later is not") {
  LogicFixture f;
  auto soon = f.create("soon", true, f.clock().now() + 60000);
  auto later = f.create("later", true, f.clock().now() + 60000);
  REQUIRE(f.manager().update(kOwner, later.id, UpdateRequest{.expiresAt = std::optional<UnixMillis>(f.clock().now() + 3600000)}));
  f.clock().advance(61s);
  REQUIRE(f.waitForStatus(soon.id, ContainerStatus::expired));
  auto expired = f.current(soon.id);
  CHECK(expired.exitSignal == "SIGKILL");
  CHECK_FALSE(expired.pid);
  auto last = f.log(soon.id).back();
  CHECK(last.fromStatus == ContainerStatus::running);
  CHECK(last.metadata.operation == "expire");
  CHECK(last.metadata.reason == "expires_at passed");
  CHECK(f.current(later.id).status == ContainerStatus::running);
  auto refused = f.manager().operate(kOwner, expired, Operation::start);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::state_conflict);
}

TEST_CASE("logic: delete removes the instance's group; a live one needs force") {
  LogicFixture f;
  auto record = f.create("doomed");
  auto refused = f.manager().remove(kOwner, record.id, false, false);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::state_conflict);
  auto deleted = f.manager().remove(kOwner, record.id, true, false);
  REQUIRE(deleted);
  CHECK(deleted->status == ContainerStatus::deleted);
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK_FALSE(f.kernel().groups.count(record.runtimeId));
  }
  auto log = f.log(record.id);
  REQUIRE(log.size() == 4);
  CHECK(log[2].metadata.operation == "force-stop");
  CHECK(log[3].metadata.operation == "delete");
  CHECK(f.manager().get(record.id).error().code == Errc::not_found);
}

TEST_CASE("logic: a start rebuilds an instance removed behind berth's back under a new runtime id, and says so") {
  LogicFixture f;
  auto record = f.create("rebuilt", false);
  SECTION("its cgroup gone while the service was down: the writable layer is kept") {
    f.closeManager();
    {
      std::lock_guard lock(f.kernel().mutex);
      f.kernel().groups.erase(record.runtimeId);
    }
    f.reopen();
    std::optional<Recreation> recreated;
    auto started = f.manager().operate(kOwner, f.current(record.id), Operation::start, {}, &recreated);
    REQUIRE(started);
    REQUIRE(recreated);
    CHECK(recreated->oldRuntimeId == record.runtimeId);
    CHECK(recreated->volumeKept);
    CHECK(started->runtimeId != record.runtimeId);
    auto reason = f.log(record.id).back().metadata.reason;
    REQUIRE(reason);
    CHECK(reason->find(record.runtimeId) != std::string::npos);
    CHECK(reason->find(started->runtimeId) != std::string::npos);
  }
  SECTION("its writable layer gone: the old group is removed and a new layer made") {
    REQUIRE(removeTree(f.kernel().layerRoot.sub("layers/" + record.id)));
    std::optional<Recreation> recreated;
    auto started = f.manager().operate(kOwner, record, Operation::start, {}, &recreated);
    REQUIRE(started);
    REQUIRE(recreated);
    CHECK_FALSE(recreated->volumeKept);
    std::lock_guard lock(f.kernel().mutex);
    CHECK_FALSE(f.kernel().groups.count(record.runtimeId));
    CHECK(f.kernel().groups.count(started->runtimeId));
  }
  SECTION("an instance that is there is not rebuilt") {
    std::optional<Recreation> recreated;
    auto started = f.manager().operate(kOwner, record, Operation::start, {}, &recreated);
    REQUIRE(started);
    CHECK_FALSE(recreated);
    CHECK(started->runtimeId == record.runtimeId);
  }
}

TEST_CASE("logic: every start readies the group for an init cloned into it, with the container's limits") {
  LogicFixture f;
  auto record = f.create("renewed");
  auto renewals = [&] {
    std::lock_guard lock(f.kernel().mutex);
    return f.kernel().groups.at(record.runtimeId).renewals;
  };
  CHECK(renewals() == 1);
  REQUIRE(f.manager().operate(kOwner, record, Operation::force_stop));
  auto started = f.manager().operate(kOwner, record, Operation::start);
  REQUIRE(started);
  CHECK(started->runtimeId == record.runtimeId);
  CHECK(renewals() == 2);
  std::lock_guard lock(f.kernel().mutex);
  CHECK(f.kernel().groups.at(record.runtimeId).limits.pidsMax == f.config().defaultPidsMax);
}
