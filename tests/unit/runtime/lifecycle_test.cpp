// The lifecycle table and its one commit point, against a real store in a temp dir.
#include <catch2/catch.hpp>

#include <algorithm>
#include <utility>
#include <vector>

#include "runtime/lifecycle.hpp"
#include "store/store.hpp"
#include "support/test_support.hpp"
#include "unit/store/store_fixture.hpp"

using namespace berth;
using namespace berth::runtime;

namespace {

constexpr ContainerStatus kAll[] = {ContainerStatus::creating, ContainerStatus::running, ContainerStatus::paused,
                                    ContainerStatus::stopped,  ContainerStatus::failed,  ContainerStatus::copying,
                                    ContainerStatus::expired,  ContainerStatus::deleted};
constexpr Operation kOps[] = {Operation::start, Operation::stop,  Operation::force_stop,
                              Operation::restart, Operation::pause, Operation::resume};

ContainerRecord newRecord() { return store::testfix::makeContainer(store::testfix::containerId(1), "p1", "web"); }

}  // namespace

TEST_CASE("operations are allowed exactly from the statuses of API.md section 4") {
  struct Expected {
    Operation op;
    std::vector<ContainerStatus> from;
    ContainerStatus to;
  };
  const std::vector<Expected> table{
      {Operation::start, {ContainerStatus::stopped, ContainerStatus::failed}, ContainerStatus::running},
      {Operation::stop, {ContainerStatus::running, ContainerStatus::paused}, ContainerStatus::stopped},
      {Operation::force_stop, {ContainerStatus::running, ContainerStatus::paused}, ContainerStatus::stopped},
      {Operation::restart, {ContainerStatus::running, ContainerStatus::stopped}, ContainerStatus::stopped},
      {Operation::pause, {ContainerStatus::running}, ContainerStatus::paused},
      {Operation::resume, {ContainerStatus::paused}, ContainerStatus::running},
  };
  for (const auto& row : table) {
    for (ContainerStatus status : kAll) {
      bool expected = std::find(row.from.begin(), row.from.end(), status) != row.from.end();
      INFO(operationName(row.op) << " from " << store::statusName(status));
      CHECK(acceptsFrom(triggerOf(row.op), status) == expected);
    }
    CHECK(isListed(triggerOf(row.op), row.from.front(), row.to));
  }
  // A restart of a stopped container is a start; a start may also end failed.
  CHECK(isListed(Trigger::restart, ContainerStatus::stopped, ContainerStatus::running));
  CHECK(isListed(Trigger::start, ContainerStatus::stopped, ContainerStatus::failed));
  for (Operation op : kOps)
    for (ContainerStatus status :
         {ContainerStatus::expired, ContainerStatus::deleted, ContainerStatus::creating, ContainerStatus::copying})
      CHECK_FALSE(acceptsFrom(triggerOf(op), status));
}

TEST_CASE("every trigger has rows, and nothing leaves deleted") {
  for (const auto& rule : kTransitions) {
    CHECK(rule.from != ContainerStatus::deleted);
    CHECK((rule.from != rule.to || rule.to == ContainerStatus::failed));  // only a failed start stays where it was
    CHECK(triggerName(rule.trigger) != "unknown");
  }
  CHECK(triggerName(Trigger::force_stop) == "force-stop");
  CHECK(triggerName(Trigger::host_boot) == "host_restart");
  CHECK(triggerName(Trigger::remove) == "delete");
}

TEST_CASE("operation names round-trip with the wire names") {
  for (Operation op : kOps) CHECK(parseOperation(operationName(op)) == op);
  CHECK(operationName(Operation::force_stop) == "force-stop");
  CHECK_FALSE(parseOperation("force_stop"));
  CHECK_FALSE(parseOperation("explode"));
  CHECK_FALSE(parseOperation(""));
}

TEST_CASE("the lifecycle commits what its table lists, refuses the rest, and tells its listeners") {
  testing::TempDir dir;
  auto store = store::testfix::openStore(dir.sub("db"));
  Lifecycle lifecycle(*store, systemClock());
  std::vector<std::pair<ContainerStatus, ContainerStatus>> seen;
  std::vector<std::string> operations;
  lifecycle.subscribe([&](const CommittedChange& t) {
    seen.emplace_back(t.before.status, t.after.status);
    REQUIRE(t.entry);
    operations.push_back(t.entry->metadata.operation);
    CHECK(t.entry->fromStatus == t.before.status);
    CHECK(t.entry->toStatus == t.after.status);
  });

  TransitionNote note;
  note.actor = "owner";
  auto created = lifecycle.create(newRecord(), Trigger::create, note);
  REQUIRE(created);

  ContainerRecord running = *created;
  running.status = ContainerStatus::running;
  running.pid = 42;
  auto started = lifecycle.commit(*created, running, Trigger::start, note);
  REQUIRE(started);
  CHECK(store->getContainer(created->id)->pid == 42);

  SECTION("a transition the table does not list is refused and changes nothing") {
    for (auto [trigger, to] : {std::pair{Trigger::pause, ContainerStatus::stopped},      // pause ends paused
                               std::pair{Trigger::start, ContainerStatus::running},      // not from running
                               std::pair{Trigger::remove, ContainerStatus::deleted},     // delete a running one
                               std::pair{Trigger::exit, ContainerStatus::expired}}) {
      ContainerRecord after = *started;
      after.status = to;
      auto refused = lifecycle.commit(*started, after, trigger, note);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code == Errc::internal);
    }
    CHECK(store->getContainer(created->id)->status == ContainerStatus::running);
    auto log = store->statusLogs(created->id, {});
    REQUIRE(log);
    CHECK(log->pagination.total == 2);
    CHECK(seen.size() == 2);
  }
  SECTION("a creation may only come from creating to what the table says") {
    ContainerRecord other = newRecord();
    other.id = store::testfix::containerId(2);
    other.name = "other";
    other.status = ContainerStatus::running;
    auto refused = lifecycle.create(other, Trigger::create, note);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::internal);
    CHECK_FALSE(store->getContainer(other.id));
  }
  SECTION("a status change through a plain update is refused by the store") {
    ContainerRecord sneaky = *started;
    sneaky.status = ContainerStatus::stopped;
    CHECK_FALSE(store->updateContainer(sneaky));
    CHECK(store->getContainer(created->id)->status == ContainerStatus::running);
  }
  SECTION("listeners see every commit with the record before and after, the entry named by its trigger") {
    ContainerRecord stopped = *started;
    stopped.status = ContainerStatus::stopped;
    REQUIRE(lifecycle.commit(*started, stopped, Trigger::force_stop, note));
    CHECK(seen == std::vector<std::pair<ContainerStatus, ContainerStatus>>{
                      {ContainerStatus::creating, ContainerStatus::stopped},
                      {ContainerStatus::stopped, ContainerStatus::running},
                      {ContainerStatus::running, ContainerStatus::stopped}});
    CHECK(operations == std::vector<std::string>{"create", "start", "force-stop"});
  }
}

TEST_CASE("durability process defers exactly the transitions of a running or paused container; host defers none") {
  auto mode = GENERATE(Durability::host, Durability::process);
  testing::TempDir dir;
  auto store = store::testfix::openStore(dir.sub("db"), {});  // synced: only then is a commit deferred or not
  Lifecycle lifecycle(*store, systemClock(), mode);
  TransitionNote note;
  note.actor = "owner";
  uint64_t last = store->writeStats().deferredTransactions;
  // Whether the last call was committed without a sync.
  auto deferred = [&] {
    uint64_t now = store->writeStats().deferredTransactions;
    return std::exchange(last, now) != now;
  };
  bool process = mode == Durability::process;

  auto created = lifecycle.create(newRecord(), Trigger::create, note);
  REQUIRE(created);
  CHECK_FALSE(deferred());
  auto step = [&](const ContainerRecord& before, ContainerStatus to, Trigger trigger) {
    ContainerRecord after = before;
    after.status = to;
    auto committed = lifecycle.commit(before, after, trigger, note);
    REQUIRE(committed);
    return *committed;
  };
  auto running = step(*created, ContainerStatus::running, Trigger::start);
  CHECK_FALSE(deferred());  // a start is synced: its record is what recovery finds the instance by
  auto paused = step(running, ContainerStatus::paused, Trigger::pause);
  CHECK(deferred() == process);
  auto resumed = step(paused, ContainerStatus::running, Trigger::resume);
  CHECK(deferred() == process);
  auto stopped = step(resumed, ContainerStatus::stopped, Trigger::exit);
  CHECK(deferred() == process);
  ContainerRecord renamed = stopped;
  renamed.name = "renamed";
  auto updated = lifecycle.update(stopped, renamed);
  REQUIRE(updated);
  CHECK_FALSE(deferred());  // a config change
  auto removed = step(*updated, ContainerStatus::deleted, Trigger::remove);
  CHECK_FALSE(deferred());
  CHECK(store->getContainer(removed.id)->status == ContainerStatus::deleted);
}
