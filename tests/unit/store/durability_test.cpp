// Group commit and deferred writes: concurrent writers share transactions
// (and syncs) without mixing their outcomes; a deferred write is visible at
// once, flushed in the background, and survives a kill -9 of its process.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {

// Waits (up to 5 s, a loaded host) until the store has done `flushes` background flushes.
bool awaitFlushes(const Store& store, uint64_t flushes) {
  for (int i = 0; i < 500 && store.writeStats().flushes < flushes; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return store.writeStats().flushes >= flushes;
}

}  // namespace

TEST_CASE("group commit: synced writers at once share transactions; a failing write fails alone") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"), {});  // synced, as the service runs
  constexpr int kThreads = 16;
  constexpr int kPerThread = 20;
  std::vector<ContainerRecord> records;
  for (int t = 0; t < kThreads; ++t) {
    records.push_back(makeContainer(containerId(static_cast<uint64_t>(t + 1)), "p1", "c" + std::to_string(t)));
    REQUIRE(store->createContainer(records.back(), std::nullopt));
  }
  auto before = store->writeStats();

  std::vector<std::vector<StatusLogEntry>> perThread(kThreads);
  std::atomic<int> unexpected{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      auto record = records[static_cast<size_t>(t)];
      for (int i = 0; i < kPerThread; ++i) {
        // Every fourth call of every thread is refused inside its transaction:
        // a create of a container that exists.
        if (i % 4 == 3) {
          auto again = store->createContainer(record, makeEntry(record, ContainerStatus::creating, record.status, i),
                                              {EventRecord{.type = "container_created"}});
          if (again || again.error().code != Errc::already_exists) ++unexpected;
          ++refused;
          continue;
        }
        auto entry = makeEntry(record, record.status, i % 2 ? ContainerStatus::stopped : ContainerStatus::running, i);
        record.status = entry.toStatus;
        auto written = store->commitTransition(record, entry, {EventRecord{.type = "container_changed"}});
        if (!written) {
          ++unexpected;
          return;
        }
        perThread[static_cast<size_t>(t)].push_back(*written);
      }
    });
  }
  for (auto& w : writers) w.join();
  REQUIRE(unexpected == 0);
  auto after = store->writeStats();
  uint64_t committed = after.writes - before.writes;
  uint64_t transactions = after.transactions - before.transactions;
  CHECK(committed == uint64_t{kThreads} * kPerThread - static_cast<uint64_t>(refused.load()));
  // 16 writers waiting on ~1 ms syncs: most commits find others queued.
  CHECK(transactions < committed);
  CHECK(after.deferredTransactions == before.deferredTransactions);
  INFO(committed << " writes in " << transactions << " transactions");

  // Every committed write is there exactly once, each container's log is its
  // own, ids grow in commit order, and each event carries its entry's id.
  auto all = store->logEntriesAfter("", 1u << 20);
  REQUIRE(all);
  CHECK(all->size() == committed);
  for (size_t i = 1; i < all->size(); ++i) CHECK((*all)[i].id > (*all)[i - 1].id);
  auto events = store->eventsAfter("", 1u << 20);
  REQUIRE(events);
  std::set<std::string> entryIds;
  for (const auto& e : *all) entryIds.insert(e.id);
  CHECK(events->events.size() == committed);  // none of the refused creates' events
  for (const auto& event : events->events) {
    CHECK(event.type == "container_changed");
    CHECK(entryIds.count(event.id) == 1);
  }
  for (int t = 0; t < kThreads; ++t) {
    auto logs = store->statusLogs(records[static_cast<size_t>(t)].id, {{1, 100}, LogSortBy::created_at, SortOrder::asc});
    REQUIRE(logs);
    CHECK(logs->logs == perThread[static_cast<size_t>(t)]);
    CHECK(store->getContainer(records[static_cast<size_t>(t)].id)->status ==
          perThread[static_cast<size_t>(t)].back().toStatus);
  }
}

TEST_CASE("deferred writes: visible at once, flushed in the background, covered by a synced commit") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"), {.deferredSyncDelay = std::chrono::milliseconds(20)});
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  auto before = store->writeStats();

  record.status = ContainerStatus::running;
  auto entry = makeEntry(record, ContainerStatus::stopped, ContainerStatus::running, 1);
  auto written = store->commitTransition(record, entry, {}, nullptr, Sync::deferred);
  REQUIRE(written);
  CHECK(store->getContainer(record.id)->status == ContainerStatus::running);
  auto stats = store->writeStats();
  CHECK(stats.deferredTransactions == before.deferredTransactions + 1);
  CHECK(awaitFlushes(*store, before.flushes + 1));

  // Deferred ones in a row share one flush.
  auto flushed = store->writeStats().flushes;
  for (int i = 0; i < 5; ++i) {
    record.status = i % 2 ? ContainerStatus::running : ContainerStatus::paused;
    REQUIRE(store->commitTransition(record, makeEntry(record, i % 2 ? ContainerStatus::paused : ContainerStatus::running,
                                                      record.status, 2 + i),
                                    {}, nullptr, Sync::deferred));
  }
  CHECK(awaitFlushes(*store, flushed + 1));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(store->writeStats().flushes <= flushed + 2);  // at most one more when a commit came during the flush

  // A synced commit right after a deferred one flushes both: the syncer has nothing left.
  auto slow = openStore(dir.sub("db2"), {.deferredSyncDelay = std::chrono::seconds(30)});
  auto other = makeContainer(containerId(2), "p1", "db");
  REQUIRE(slow->createContainer(other, std::nullopt));
  other.status = ContainerStatus::running;
  REQUIRE(slow->commitTransition(other, makeEntry(other, ContainerStatus::stopped, ContainerStatus::running, 1), {},
                                 nullptr, Sync::deferred));
  other.name = "renamed";
  REQUIRE(slow->updateContainer(other));
  auto slowStats = slow->writeStats();
  CHECK(slowStats.deferredTransactions == 1);
  CHECK(slowStats.flushes == 0);
  // Closing flushes what is pending without waiting out the delay.
  auto closing = std::chrono::steady_clock::now();
  slow.reset();
  CHECK(std::chrono::steady_clock::now() - closing < std::chrono::seconds(10));
  auto reopened = openStore(dir.sub("db2"), {});
  CHECK(reopened->getContainer(other.id)->name == "renamed");
}

TEST_CASE("deferred writes: a kill -9 of the writing process right after the answer loses nothing") {
  testing::TempDir dir;
  std::string path = dir.sub("db");
  {
    auto store = openStore(path, {});
    REQUIRE(store->createContainer(makeContainer(containerId(1), "p1", "web"), std::nullopt));
  }
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // No Catch2 here: the child reports by what it leaves in the store.
    ::close(ready[0]);
    auto opened = Store::open(path, {.deferredSyncDelay = std::chrono::seconds(60)});
    if (!opened) ::_exit(2);
    auto record = makeContainer(containerId(1), "p1", "web");
    ContainerStatus from = ContainerStatus::stopped;
    for (int i = 0; i < 10; ++i) {
      record.status = i % 2 ? ContainerStatus::paused : ContainerStatus::running;
      if (!(*opened)->commitTransition(record, makeEntry(record, from, record.status, i), {EventRecord{.type = "t"}},
                                       nullptr, Sync::deferred))
        ::_exit(3);
      from = record.status;
    }
    if ((*opened)->writeStats().flushes != 0) ::_exit(4);  // nothing reached the disk through a flush
    char done = 1;
    if (::write(ready[1], &done, 1) != 1) ::_exit(5);
    for (;;) ::pause();  // killed here, the syncer still waiting
  }
  ::close(ready[1]);
  char done = 0;
  ssize_t got = ::read(ready[0], &done, 1);
  ::close(ready[0]);
  REQUIRE(::kill(child, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  INFO("child exit status " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  REQUIRE(got == 1);
  REQUIRE(WIFSIGNALED(status));

  auto store = openStore(path, {});
  CHECK(store->getContainer(containerId(1))->status == ContainerStatus::paused);
  auto logs = store->statusLogs(containerId(1), {{1, 100}, LogSortBy::created_at, SortOrder::asc});
  REQUIRE(logs);
  CHECK(logs->pagination.total == 10);
  auto events = store->eventsAfter("", 100);
  REQUIRE(events);
  CHECK(events->events.size() == 10);
}
