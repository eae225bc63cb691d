// Restart policies and project quotas in ContainerManager, against the fakes
// of support/fake_host.hpp: the wall clock is the test's, so the backoff is
// asserted to the millisecond without waiting it out.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "logic_fixture.hpp"
#include "runtime/restart_policy.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::logicfix;

namespace {

ContainerRecord createWithPolicy(LogicFixture& f, const std::string& name, const std::string& policy) {
  CreateRequest request;
  request.name = name;
  auto parsed = store::parseRestartPolicy(policy);
  REQUIRE(parsed);
  request.restartPolicy = *parsed;
  auto made = f.create(request);
  if (!made) FAIL(made.error().describe());
  REQUIRE_FALSE(made->startError);
  return made->record;
}

// Polls (each commit wakes it) until the record satisfies `done`.
template <typename Done>
bool waitUntil(LogicFixture& f, const std::string& id, Done done, std::chrono::milliseconds limit = 5s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done(f.current(id))) return true;
    std::this_thread::sleep_for(5ms);
  }
  return done(f.current(id));
}

bool pendingRestart(const ContainerRecord& record) {
  return record.status == ContainerStatus::stopped && record.restartDueAt.has_value();
}

// Moves the fake clock on and waits for the status; nudges the clock again
// now and then, as a scheduler may look at it just before the move.
bool advanceUntil(LogicFixture& f, const std::string& id, std::chrono::milliseconds by, ContainerStatus status) {
  f.clock().advance(by);
  for (int i = 0; i < 100; ++i) {
    if (f.waitForStatus(id, status, 50ms)) return true;
    f.clock().advance(0ms);
  }
  return false;
}

int launches(LogicFixture& f) {
  std::lock_guard lock(f.kernel().mutex);
  return f.kernel().launches;
}

// The init exits by itself; returns the record with its restart planned.
ContainerRecord exitAndPlan(LogicFixture& f, const ContainerRecord& record, int code) {
  f.kernel().exitInit(record.runtimeId, code);
  REQUIRE(waitUntil(f, record.id, pendingRestart));
  return f.current(record.id);
}

}  // namespace

TEST_CASE("restart logic: on-failure:2 restarts a failing init after 100 then 200 ms, then leaves it stopped") {
  LogicFixture f;
  auto record = createWithPolicy(f, "flaky", "on-failure:2");
  for (uint32_t attempt = 1; attempt <= 2; ++attempt) {
    auto stopped = exitAndPlan(f, record, static_cast<int>(attempt));
    int64_t backoff = attempt == 1 ? 100 : 200;
    CHECK(stopped.restartCount == attempt);
    CHECK(stopped.restartBackoffMs == backoff);
    REQUIRE(stopped.finishedAt);
    CHECK(*stopped.restartDueAt == *stopped.finishedAt + backoff);
    auto exitEntry = f.log(record.id).back();
    CHECK(exitEntry.metadata.operation == "exit");
    CHECK(exitEntry.metadata.reason ==
          "init exited; restart policy on-failure:2: restart " + std::to_string(attempt) + " in " +
              std::to_string(backoff) + " ms");
    // Not before its time.
    int before = launches(f);
    f.clock().advance(std::chrono::milliseconds(backoff - 1));
    std::this_thread::sleep_for(150ms);
    CHECK(f.current(record.id).status == ContainerStatus::stopped);
    CHECK(launches(f) == before);
    REQUIRE(advanceUntil(f, record.id, 1ms, ContainerStatus::running));
    auto restart = f.log(record.id).back();
    CHECK(restart.fromStatus == ContainerStatus::stopped);
    CHECK(restart.toStatus == ContainerStatus::running);
    CHECK(restart.triggeredBy == "system");
    CHECK(restart.metadata.operation == "restart_policy");
    CHECK(restart.metadata.attempt == attempt);
    CHECK_FALSE(f.current(record.id).restartDueAt);
  }
  f.kernel().exitInit(record.runtimeId, 3);
  REQUIRE(f.waitForStatus(record.id, ContainerStatus::stopped));
  auto done = f.current(record.id);
  CHECK_FALSE(done.restartDueAt);
  CHECK(done.restartCount == 2);
  CHECK(done.exitCode == 3);
  int before = launches(f);
  f.clock().advance(60s);
  std::this_thread::sleep_for(150ms);
  CHECK(launches(f) == before);
  CHECK(f.current(record.id).status == ContainerStatus::stopped);

  // on-failure leaves a clean exit alone.
  auto clean = createWithPolicy(f, "clean", "on-failure");
  f.kernel().exitInit(clean.runtimeId, 0);
  REQUIRE(f.waitForStatus(clean.id, ContainerStatus::stopped));
  CHECK_FALSE(f.current(clean.id).restartDueAt);
}

TEST_CASE("restart logic: always doubles its backoff up to 30 s and starts over after a run of 10 s") {
  LogicFixture f;
  auto record = createWithPolicy(f, "looper", "always");
  const std::vector<int64_t> expected{100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
  for (size_t i = 0; i < expected.size(); ++i) {
    auto stopped = exitAndPlan(f, record, 0);  // always: a clean exit restarts too
    CHECK(stopped.restartBackoffMs == expected[i]);
    CHECK(stopped.restartCount == i + 1);
    REQUIRE(advanceUntil(f, record.id, std::chrono::milliseconds(expected[i]), ContainerStatus::running));
  }
  f.clock().advance(10s);  // a healthy run
  auto reset = exitAndPlan(f, record, 1);
  CHECK(reset.restartBackoffMs == 100);
  CHECK(reset.restartCount == expected.size() + 1);  // the count does not start over; a user's start does
  REQUIRE(advanceUntil(f, record.id, 100ms, ContainerStatus::running));
  auto stopped = f.manager().operate(kOwner, f.current(record.id), Operation::stop);
  REQUIRE(stopped);
  auto started = f.manager().operate(kOwner, *stopped, Operation::start);
  REQUIRE(started);
  CHECK(started->restartCount == 0);
  CHECK(started->restartBackoffMs == 0);
}

TEST_CASE("restart logic: a stop during the backoff ends the loop at once; a stop through the API never restarts") {
  LogicFixture f;
  auto record = createWithPolicy(f, "looper", "always");
  auto pending = exitAndPlan(f, record, 1);
  int before = launches(f);
  auto start = std::chrono::steady_clock::now();
  auto cancelled = f.manager().operate(kOwner, pending, Operation::stop);
  CHECK(millisSince(start) < 1000);
  REQUIRE(cancelled);
  CHECK(cancelled->status == ContainerStatus::stopped);
  CHECK_FALSE(cancelled->restartDueAt);
  CHECK(cancelled->stoppedByUser);
  CHECK_FALSE(f.current(record.id).restartDueAt);
  f.clock().advance(60s);
  std::this_thread::sleep_for(150ms);
  CHECK(launches(f) == before);
  CHECK(f.current(record.id).status == ContainerStatus::stopped);
  // Nothing pending any more: a second stop is refused as for any stopped container.
  auto again = f.manager().operate(kOwner, *cancelled, Operation::force_stop);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::state_conflict);

  auto running = f.manager().operate(kOwner, *cancelled, Operation::start);
  REQUIRE(running);
  auto stopped = f.manager().operate(kOwner, *running, Operation::stop);
  REQUIRE(stopped);
  CHECK_FALSE(stopped->restartDueAt);
  f.clock().advance(60s);
  std::this_thread::sleep_for(150ms);
  CHECK(f.current(record.id).status == ContainerStatus::stopped);

  // A force-stop cancels as well, and so does a policy changed to no.
  auto forced = f.manager().operate(kOwner, *stopped, Operation::start);
  REQUIRE(forced);
  auto pendingAgain = exitAndPlan(f, record, 1);
  auto byForce = f.manager().operate(kOwner, pendingAgain, Operation::force_stop);
  REQUIRE(byForce);
  CHECK_FALSE(byForce->restartDueAt);
  REQUIRE(f.manager().operate(kOwner, *byForce, Operation::start));
  exitAndPlan(f, record, 1);
  UpdateRequest off;
  off.restartPolicy = store::RestartPolicy{};
  auto updated = f.manager().update(kOwner, record.id, off);
  REQUIRE(updated);
  CHECK_FALSE(updated->container.restartDueAt);
  CHECK(updated->container.restartPolicy.mode == store::RestartMode::no);
  before = launches(f);
  f.clock().advance(60s);
  std::this_thread::sleep_for(150ms);
  CHECK(launches(f) == before);
}

TEST_CASE("restart logic: a pending restart survives a restart of the service and runs when due") {
  LogicFixture f;
  auto record = createWithPolicy(f, "flaky", "on-failure");
  auto pending = exitAndPlan(f, record, 7);
  f.closeManager();
  f.reopen();
  CHECK(pendingRestart(f.current(record.id)));  // not due yet: still pending after the recovery
  REQUIRE(advanceUntil(f, record.id, 100ms, ContainerStatus::running));
  auto restart = f.log(record.id).back();
  CHECK(restart.metadata.operation == "restart_policy");
  CHECK(restart.metadata.attempt == 1u);

  // Due while the service was down: it runs as soon as the service is back.
  exitAndPlan(f, record, 7);
  f.closeManager();
  f.clock().advance(5s);
  f.reopen();
  REQUIRE(advanceUntil(f, record.id, 0ms, ContainerStatus::running));
  CHECK(f.log(record.id).back().metadata.attempt == 2u);
}

TEST_CASE("restart logic: at a service start, always brings back a container a user stopped, unless-stopped does not") {
  LogicFixture f;
  auto always = createWithPolicy(f, "always", "always");
  auto unlessStopped = createWithPolicy(f, "unless", "unless-stopped");
  auto plain = createWithPolicy(f, "plain", "no");
  for (const auto& record : {always, unlessStopped, plain}) REQUIRE(f.manager().operate(kOwner, record, Operation::stop));
  f.closeManager();
  f.reopen();
  CHECK(f.current(always.id).status == ContainerStatus::running);
  CHECK(f.log(always.id).back().triggeredBy == "system");
  CHECK(f.current(unlessStopped.id).status == ContainerStatus::stopped);
  CHECK(f.current(plain.id).status == ContainerStatus::stopped);
  // A service restart with it running changes nothing.
  f.closeManager();
  f.reopen();
  CHECK(f.current(always.id).status == ContainerStatus::running);
}

TEST_CASE("restart logic: a restart whose start fails leaves the container failed and ends the loop") {
  LogicFixture f;
  auto record = createWithPolicy(f, "doomed", "always");
  exitAndPlan(f, record, 1);
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().failNextLaunch = Error{Errc::container_config, 0, "no such command"};
  }
  REQUIRE(advanceUntil(f, record.id, 100ms, ContainerStatus::failed));
  auto entry = f.log(record.id).back();
  CHECK(entry.metadata.operation == "restart_policy");
  CHECK(entry.toStatus == ContainerStatus::failed);
  CHECK(entry.metadata.attempt == 1u);
  CHECK_FALSE(f.current(record.id).restartDueAt);
}

TEST_CASE("quota logic: 8 concurrent creates at limits.containers 3: exactly 3 pass; a delete makes room") {
  LogicFixture f;
  store::ProjectRecord project{"aaaaaaaaaaaaaaaaaaaaaaaa", "team", kOwner, 1, {}};
  project.limits.containers = std::optional<uint64_t>(3);
  REQUIRE(f.store().createProject(project));
  std::vector<std::thread> creators;
  std::atomic<int> made{0};
  std::atomic<int> refused{0};
  std::vector<std::string> messages(8);
  for (int i = 0; i < 8; ++i) {
    creators.emplace_back([&, i] {
      CreateRequest request;
      request.name = "c" + std::to_string(i);
      request.projectId = project.id;
      request.autostart = false;
      auto created = f.manager().create(kOwner, request);
      if (created) {
        ++made;
      } else if (created.error().code == Errc::resource_exhausted) {
        ++refused;
        messages[i] = created.error().message;
      }
    });
  }
  for (auto& creator : creators) creator.join();
  CHECK(made == 3);
  CHECK(refused == 5);
  for (const auto& message : messages)
    if (!message.empty()) CHECK(message.find("limits.containers") != std::string::npos);
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK(f.kernel().groups.size() == 3);  // the refused ones left nothing on the host
  }
  auto page = f.manager().list(ContainerQuery{{1, 100}, std::nullopt, std::vector<std::string>{project.id}});
  REQUIRE(page);
  REQUIRE(page->containers.size() == 3);
  REQUIRE(f.manager().remove(kOwner, page->containers[0].id, false, false));
  CreateRequest another;
  another.name = "after-delete";
  another.projectId = project.id;
  another.autostart = false;
  CHECK(f.manager().create(kOwner, another));
  auto quota = f.manager().projectQuota(*f.store().getProject(project.id));
  REQUIRE(quota);
  CHECK(quota->limits.containers == 3u);
  CHECK(quota->usage.containers == 3);
}

TEST_CASE("quota logic: limits.memory summed on create and on a change of resources; config defaults and overrides") {
  LogicFixture f;
  f.config().projectLimits.memoryMb = 256;
  f.reopen();
  auto sized = [&](const std::string& name, std::optional<uint64_t> memoryMb) {
    CreateRequest request;
    request.name = name;
    request.resources.memoryMb = memoryMb;
    return f.create(request);
  };
  auto first = sized("a", 128);
  REQUIRE(first);
  REQUIRE(sized("b", 128));
  auto third = sized("c", 1);
  REQUIRE_FALSE(third);
  CHECK(third.error().code == Errc::resource_exhausted);
  CHECK(third.error().message.find("limits.memory") != std::string::npos);
  auto unbounded = sized("d", std::nullopt);
  REQUIRE_FALSE(unbounded);
  CHECK(unbounded.error().message.find("resources.memory_mb") != std::string::npos);

  UpdateRequest grow;
  grow.resources = ResourcesChange{};
  grow.resources->memoryMb = std::optional<uint64_t>(129);
  auto grown = f.manager().update(kOwner, first->record.id, grow);
  REQUIRE_FALSE(grown);
  CHECK(grown.error().code == Errc::resource_exhausted);
  CHECK(f.current(first->record.id).resources.memoryMb == 128u);
  UpdateRequest shrink;
  shrink.resources = ResourcesChange{};
  shrink.resources->memoryMb = std::optional<uint64_t>(64);
  REQUIRE(f.manager().update(kOwner, first->record.id, shrink));
  REQUIRE(sized("e", 64));

  // The project's own "no limit" overrides the default.
  store::ProjectRecord project{kOwner, "mine", kOwner, 1, {}};
  project.limits.memoryMb = std::optional<uint64_t>();
  REQUIRE(f.store().createProject(project));
  CHECK(sized("f", 4096));
}
