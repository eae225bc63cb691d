// The event log: ids shared with the status log, events written in the
// transaction of their change, replay after an id, pruning and reset,
// concurrent writers under a paging reader, reopen (also of a store written
// before the event log existed).
#include <catch2/catch.hpp>

#include <lmdb.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "store/codec.hpp"
#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {

EventRecord makeEvent(std::string type, UnixMillis time = 0, std::string data = R"({"status":"running"})") {
  EventRecord event;
  event.type = std::move(type);
  event.time = time;
  event.data = std::move(data);
  return event;
}

std::vector<EventRecord> allEvents(const Store& store) {
  auto page = store.eventsAfter("", size_t{1} << 20);
  if (!page) FAIL("eventsAfter: " << page.error().describe());
  CHECK_FALSE(page->reset);
  return page->events;
}

std::vector<std::string> eventIds(const std::vector<EventRecord>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  return ids;
}

std::optional<std::string> lastId(const Store& store) {
  auto last = store.lastEventId();
  if (!last) FAIL("lastEventId: " << last.error().describe());
  return *last;
}

// Writes `count` events through updateContainer (fresh ids), times from `firstTime` in steps of 10.
std::vector<EventRecord> writeEvents(Store& store, const ContainerRecord& record, int count, UnixMillis firstTime) {
  std::vector<EventRecord> events;
  for (int i = 0; i < count; ++i) events.push_back(makeEvent("container_updated", firstTime + 10 * i));
  std::vector<EventRecord> written;
  auto updated = store.updateContainer(record, events, &written);
  if (!updated) FAIL("updateContainer: " << updated.error().describe());
  REQUIRE(written.size() == events.size());
  return written;
}

}  // namespace

TEST_CASE("events: codec round trip keeps the data text as it is") {
  EventRecord event{"0123456789abcdef01234567", "container_died", makeObjectId(1, 2), "p1", -5,
                    R"({"exit_code": 3, "name": "wëb"})"};
  auto bytes = codec::encode(event);
  REQUIRE(bytes);
  auto back = codec::decodeEvent(*bytes);
  REQUIRE(back);
  CHECK(*back == event);
  CHECK(codec::decodeEvent("{}").error().code == Errc::internal);
  CHECK(codec::decodeEvent("not json").error().code == Errc::internal);
}

TEST_CASE("events: the first event takes its entry's id, the others fresh ids after it") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  CHECK_FALSE(lastId(*store));

  auto record = makeContainer(containerId(1), "p1", "web", ContainerStatus::creating);
  auto initial = makeEntry(record, ContainerStatus::creating, ContainerStatus::creating, 1736937000000, "create");
  std::vector<EventRecord> written;
  UnixMillis before = nowMillis();
  auto created = store->createContainer(record, initial, {makeEvent("container_created")}, &written);
  REQUIRE(created);
  REQUIRE(created->has_value());
  REQUIRE(written.size() == 1);
  CHECK(written[0].id == (*created)->id);
  CHECK(written[0].containerId == record.id);  // filled in from the record
  CHECK(written[0].projectId == "p1");
  CHECK(written[0].time == (*created)->createdAt);  // 0: the time of the write
  CHECK(written[0].time >= before);
  CHECK(written[0].type == "container_created");
  CHECK(written[0].data == R"({"status":"running"})");

  // A restart: one entry, two events; the explicit time is kept.
  record.status = ContainerStatus::running;
  auto entry = makeEntry(record, ContainerStatus::creating, ContainerStatus::running, 1736937001000, "restart");
  std::vector<EventRecord> restart;
  auto committed = store->commitTransition(
      record, entry, {makeEvent("container_stopped", 42), makeEvent("container_started"), makeEvent("container_x")},
      &restart);
  REQUIRE(committed);
  REQUIRE(restart.size() == 3);
  CHECK(restart[0].id == committed->id);
  CHECK(restart[0].time == 42);
  CHECK(restart[1].id > committed->id);
  CHECK(restart[2].id > restart[1].id);
  CHECK(restart[0].id > written[0].id);

  // No entry: every event gets a fresh id, after everything before.
  record.name = "web2";
  std::vector<EventRecord> updated;
  REQUIRE(store->updateContainer(record, {makeEvent("container_updated"), makeEvent("container_updated")}, &updated));
  REQUIRE(updated.size() == 2);
  CHECK(updated[0].id > restart[2].id);
  CHECK(updated[1].id > updated[0].id);

  // A create without an entry: fresh ids too; another container, the same sequence.
  auto other = makeContainer(containerId(2), "p2", "db");
  std::vector<EventRecord> otherWritten;
  REQUIRE(store->createContainer(other, std::nullopt, {makeEvent("container_created")}, &otherWritten));
  REQUIRE(otherWritten.size() == 1);
  CHECK(otherWritten[0].id > updated[1].id);
  CHECK(otherWritten[0].projectId == "p2");
  // ... and the next status-log entry comes after all those events.
  auto next = transition(*store, other, ContainerStatus::running, 1736937002000);
  CHECK(next.id > otherWritten[0].id);

  // The log holds exactly what the writes returned, in id order.
  std::vector<EventRecord> expected = written;
  for (const auto* batch : {&restart, &updated, &otherWritten}) expected.insert(expected.end(), batch->begin(), batch->end());
  CHECK(allEvents(*store) == expected);
  CHECK(lastId(*store) == otherWritten[0].id);

  // The old calls (no events) write no event and leave `written` alone when not given.
  transition(*store, record, ContainerStatus::stopped, 1736937003000);
  CHECK(allEvents(*store).size() == expected.size());
}

TEST_CASE("events: bad events are refused before anything is written") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));

  auto preset = makeEvent("container_updated");
  preset.id = makeObjectId(1, 1);
  auto foreign = makeEvent("container_updated");
  foreign.containerId = containerId(2);
  auto untyped = makeEvent("");

  for (const auto& bad : {preset, foreign, untyped}) {
    INFO("type '" << bad.type << "' id '" << bad.id << "' container '" << bad.containerId << "'");
    std::vector<EventRecord> written{makeEvent("untouched")};
    auto renamed = record;
    renamed.name = "renamed";
    CHECK(store->updateContainer(renamed, {makeEvent("container_updated"), bad}, &written).error().code ==
          Errc::invalid_argument);
    auto entry = makeEntry(record, record.status, ContainerStatus::running, 1);
    auto running = record;
    running.status = ContainerStatus::running;
    CHECK(store->commitTransition(running, entry, {bad}, &written).error().code == Errc::invalid_argument);
    auto fresh = makeContainer(containerId(3), "p1", "fresh");
    CHECK(store->createContainer(fresh, std::nullopt, {bad}, &written).error().code == Errc::invalid_argument);
    REQUIRE(written.size() == 1);  // left alone on failure
    CHECK(written[0].type == "untouched");
  }
  CHECK(*store->getContainer(record.id) == record);
  CHECK(store->getContainer(containerId(3)).error().code == Errc::not_found);
  CHECK(store->logEntriesAfter("", 100)->empty());
  CHECK(allEvents(*store).empty());
  CHECK_FALSE(lastId(*store));
}

TEST_CASE("events: a failing transaction writes neither the change nor its events") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto web = makeContainer(containerId(1), "p1", "web");
  std::vector<EventRecord> first;
  REQUIRE(store->createContainer(web, makeEntry(web, ContainerStatus::creating, ContainerStatus::stopped, 1),
                                 {makeEvent("container_created")}, &first));
  REQUIRE(first.size() == 1);

  SECTION("a create that meets a name conflict") {
    auto clash = makeContainer(containerId(2), "p1", "web");
    auto result = store->createContainer(clash, makeEntry(clash, ContainerStatus::creating, ContainerStatus::stopped, 1),
                                         {makeEvent("container_created")});
    CHECK(result.error().code == Errc::already_exists);
    CHECK(store->getContainer(clash.id).error().code == Errc::not_found);
  }
  SECTION("a create of an id that exists") {
    CHECK(store->createContainer(web, std::nullopt, {makeEvent("container_created")}).error().code ==
          Errc::already_exists);
  }
  SECTION("a rename onto a taken name") {
    REQUIRE(store->createContainer(makeContainer(containerId(2), "p1", "db"), std::nullopt));
    auto renamed = web;
    renamed.name = "db";
    CHECK(store->updateContainer(renamed, {makeEvent("container_updated")}).error().code == Errc::already_exists);
  }
  SECTION("a status change through a plain update") {
    auto running = web;
    running.status = ContainerStatus::running;
    CHECK(store->updateContainer(running, {makeEvent("container_updated")}).error().code == Errc::internal);
  }
  SECTION("a transition of an unknown container") {
    auto ghost = makeContainer(containerId(9), "p1", "ghost");
    CHECK(store->commitTransition(ghost, makeEntry(ghost, ContainerStatus::stopped, ContainerStatus::running, 1),
                                  {makeEvent("container_started")})
              .error()
              .code == Errc::not_found);
  }
  SECTION("an event that fails to encode after record and entry were written in the transaction") {
    auto running = web;
    running.status = ContainerStatus::running;
    auto result = store->commitTransition(running, makeEntry(web, ContainerStatus::stopped, ContainerStatus::running, 1),
                                          {makeEvent("container_started"), makeEvent("container_x", 0, "\xff\xfe")});
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::invalid_argument);
    CHECK(store->getContainer(web.id)->status == ContainerStatus::stopped);
    CHECK(store->logEntriesAfter("", 100)->size() == 1);
  }
  CHECK(allEvents(*store) == first);
  CHECK(lastId(*store) == first[0].id);
  // Nothing of the failed transaction took an id either: the next ones follow directly.
  auto more = writeEvents(*store, *store->getContainer(web.id), 1, 5);
  CHECK(more[0].id.substr(8) == "0000000000000002");  // the sequence part: 1 was the create's
}

TEST_CASE("events: eventsAfter pages in id order; limits, the newest and malformed ids") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto a = makeContainer(containerId(1), "p1", "a");
  auto b = makeContainer(containerId(2), "p2", "b");
  REQUIRE(store->createContainer(a, std::nullopt));
  REQUIRE(store->createContainer(b, std::nullopt));
  std::vector<EventRecord> written;
  for (int i = 0; i < 12; ++i) {
    auto part = writeEvents(*store, i % 2 ? a : b, i % 3 + 1, i);
    written.insert(written.end(), part.begin(), part.end());
  }
  REQUIRE(written.size() == 24);
  CHECK(allEvents(*store) == written);

  for (size_t limit : {size_t{1}, size_t{3}, size_t{7}, size_t{24}, size_t{100}}) {
    INFO("limit " << limit);
    std::vector<EventRecord> seen;
    std::string after;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = store->eventsAfter(after, limit);
      REQUIRE(page);
      CHECK_FALSE(page->reset);
      CHECK(page->events.size() <= limit);
      if (page->events.empty()) break;
      seen.insert(seen.end(), page->events.begin(), page->events.end());
      after = page->events.back().id;
    }
    CHECK(seen == written);
  }

  // From the middle: exactly the later ones, also from an id that is no event's.
  auto middle = store->eventsAfter(written[9].id, 5);
  REQUIRE(middle);
  CHECK(eventIds(middle->events) == eventIds(std::vector<EventRecord>(written.begin() + 10, written.begin() + 15)));
  auto entry = transition(*store, a, ContainerStatus::running, 1);  // an entry id, with no event
  auto afterWritten = writeEvents(*store, a, 1, 99);
  auto fromEntry = store->eventsAfter(entry.id, 10);
  REQUIRE(fromEntry);
  CHECK(fromEntry->events == afterWritten);

  CHECK(store->eventsAfter(written[3].id, 0)->events.empty());
  auto newest = store->eventsAfter(afterWritten[0].id, 10);
  REQUIRE(newest);
  CHECK(newest->events.empty());
  CHECK_FALSE(newest->reset);
  auto future = store->eventsAfter(makeObjectId(0xffffffff, 7), 10);
  REQUIRE(future);
  CHECK(future->events.empty());
  CHECK_FALSE(future->reset);
  CHECK(lastId(*store) == afterWritten[0].id);

  const std::vector<std::string> malformed{"xyz", "0123456789ABCDEF01234567", "0123456789abcdef0123456",
                                           "0123456789abcdef012345678", std::string("0123456789abcdef0123456\0", 24),
                                           " 0123456789abcdef01234567"};
  for (const auto& bad : malformed) {
    INFO("afterId '" << bad << "'");
    auto page = store->eventsAfter(bad, 10);
    REQUIRE_FALSE(page);
    CHECK(page.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("events: pruning by count in batches, reset detection and the last id") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  auto written = writeEvents(*store, record, 50, 1000);
  EventRetention retention{.maxEvents = 20, .maxAgeMs = 0};
  UnixMillis now = 1'000'000;  // every event is old: only the count keeps them

  CHECK(*store->pruneEvents(retention, now, 0) == 0);
  std::vector<size_t> removed;
  for (;;) {
    auto pruned = store->pruneEvents(retention, now, 7);
    REQUIRE(pruned);
    removed.push_back(*pruned);
    if (*pruned < 7) break;
  }
  CHECK(removed == std::vector<size_t>{7, 7, 7, 7, 2});
  CHECK(*store->pruneEvents(retention, now, 7) == 0);
  auto kept = allEvents(*store);
  CHECK(kept == std::vector<EventRecord>(written.begin() + 30, written.end()));
  CHECK(lastId(*store) == written.back().id);

  // The caller saw up to the last pruned event: nothing is lost.
  auto seenAll = store->eventsAfter(written[29].id, 5);
  REQUIRE(seenAll);
  CHECK_FALSE(seenAll->reset);
  CHECK(eventIds(seenAll->events) == eventIds(std::vector<EventRecord>(written.begin() + 30, written.begin() + 35)));
  // Older than that: events it never saw are gone; the page starts at the oldest kept.
  for (size_t at : {size_t{0}, size_t{10}, size_t{28}}) {
    INFO("after event " << at);
    auto missed = store->eventsAfter(written[at].id, 5);
    REQUIRE(missed);
    CHECK(missed->reset);
    CHECK(eventIds(missed->events) == eventIds(std::vector<EventRecord>(written.begin() + 30, written.begin() + 35)));
  }
  auto ancient = store->eventsAfter(makeObjectId(0, 1), 3);
  REQUIRE(ancient);
  CHECK(ancient->reset);
  CHECK(ancient->events.size() == 3);
  // No id asked for: from the oldest kept, and no reset.
  auto fromStart = store->eventsAfter("", 3);
  REQUIRE(fromStart);
  CHECK_FALSE(fromStart->reset);
  CHECK(fromStart->events.front() == written[30]);
  // Kept events are not a reset, newer ones neither.
  CHECK_FALSE(store->eventsAfter(written[40].id, 5)->reset);

  // Pruning everything keeps the last id, and a reset for the ones left behind.
  REQUIRE(*store->pruneEvents({.maxEvents = 0, .maxAgeMs = 0}, now, 1000) == 20);
  CHECK(allEvents(*store).empty());
  CHECK(lastId(*store) == written.back().id);
  CHECK_FALSE(store->eventsAfter(written.back().id, 5)->reset);
  CHECK(store->eventsAfter(written[45].id, 5)->reset);
  // New events come after, and a reader at the old last id gets them without a reset.
  auto more = writeEvents(*store, record, 2, 3000);
  auto resumed = store->eventsAfter(written.back().id, 5);
  REQUIRE(resumed);
  CHECK_FALSE(resumed->reset);
  CHECK(resumed->events == more);
}

TEST_CASE("events: pruning by age in batches, stopping at the first event within retention") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  auto written = writeEvents(*store, record, 20, 1000);  // times 1000, 1010, ... 1190
  EventRetention retention{.maxEvents = 0, .maxAgeMs = 100};
  UnixMillis now = 1200;  // older than 1100: the first 10; 1100 itself stays

  std::vector<size_t> removed;
  for (;;) {
    auto pruned = store->pruneEvents(retention, now, 4);
    REQUIRE(pruned);
    removed.push_back(*pruned);
    if (*pruned < 4) break;
  }
  CHECK(removed == std::vector<size_t>{4, 4, 2});
  auto kept = allEvents(*store);
  CHECK(kept == std::vector<EventRecord>(written.begin() + 10, written.end()));
  CHECK(kept.front().time == 1100);
  CHECK(store->eventsAfter(written[8].id, 1)->reset);
  CHECK_FALSE(store->eventsAfter(written[9].id, 1)->reset);

  // Oldest first: an old event behind a young one waits for it.
  auto late = writeEvents(*store, record, 1, 5);
  CHECK(*store->pruneEvents(retention, now, 100) == 0);
  CHECK(allEvents(*store).back() == late[0]);

  // Count and age together: the larger set stays (API.md §8: at least the count or the age).
  CHECK(*store->pruneEvents({.maxEvents = 8, .maxAgeMs = 100}, now, 100) == 0);  // all 11 are young
  CHECK(*store->pruneEvents({.maxEvents = 100, .maxAgeMs = 50}, now, 100) == 0);  // few enough
  CHECK(*store->pruneEvents({.maxEvents = 8, .maxAgeMs = 50}, now, 100) == 3);   // 1100-1120: old and beyond 8
  CHECK(allEvents(*store).size() == 8);
  CHECK(*store->pruneEvents({.maxEvents = 2, .maxAgeMs = 50}, now, 100) == 2);  // 1130, 1140
  CHECK(allEvents(*store).front().time == 1150);
  // An age that reaches before the epoch prunes nothing by age; a negative age is refused.
  CHECK(*store->pruneEvents({.maxEvents = 100, .maxAgeMs = std::numeric_limits<int64_t>::max()},
                            std::numeric_limits<int64_t>::min() + 5, 100) == 0);
  CHECK(store->pruneEvents({.maxEvents = 100, .maxAgeMs = -1}, now, 100).error().code == Errc::invalid_argument);
}

TEST_CASE("events: 8 writers commit transitions with events while a reader pages from the start") {
  testing::TempDir dir;
  StoreOptions tiny{.syncOnCommit = false, .initialMapBytes = 1u << 20};  // through map growth, too
  auto store = openStore(dir.sub("db"), tiny);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::vector<ContainerRecord> records;
  for (int t = 0; t < kThreads; ++t) {
    records.push_back(makeContainer(containerId(static_cast<uint64_t>(t + 1)), "p" + std::to_string(t % 3),
                                    "c" + std::to_string(t)));
    REQUIRE(store->createContainer(records.back(), std::nullopt));
  }

  std::vector<std::vector<EventRecord>> perThread(kThreads);
  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      auto record = records[static_cast<size_t>(t)];
      for (int i = 0; i < kPerThread; ++i) {
        auto to = i % 2 ? ContainerStatus::stopped : ContainerStatus::running;
        auto entry = makeEntry(record, record.status, to, i);
        record.status = to;
        std::string data = R"({"thread":)" + std::to_string(t) + R"(,"i":)" + std::to_string(i) + R"(,"pad":")" +
                           std::string(120, 'x') + "\"}";
        std::vector<EventRecord> events{makeEvent("container_stopped", 0, data), makeEvent("container_started", 0, data)};
        std::vector<EventRecord> written;
        auto result = store->commitTransition(record, entry, events, &written);
        if (!result || written.size() != 2 || written[0].id != result->id || !(written[1].id > written[0].id)) {
          ++failures;
          return;
        }
        auto& mine = perThread[static_cast<size_t>(t)];
        mine.insert(mine.end(), written.begin(), written.end());
      }
    });
  }

  std::vector<EventRecord> seen;
  std::atomic<int> readerFailures{0};
  std::thread reader([&] {
    std::string after;
    for (;;) {
      bool finished = !writing.load();  // read before the page: a finished run's page sees every commit
      auto page = store->eventsAfter(after, 37);
      if (!page || page->reset) {
        ++readerFailures;
        return;
      }
      for (auto& event : page->events) {
        if (!(event.id > after)) {
          ++readerFailures;
          return;
        }
        after = event.id;
        seen.push_back(std::move(event));
      }
      if (page->events.empty() && finished) return;
    }
  });
  for (auto& w : writers) w.join();
  writing = false;
  reader.join();
  REQUIRE(failures == 0);
  REQUIRE(readerFailures == 0);
  struct stat st {};
  REQUIRE(::stat((dir.sub("db") + "/data.mdb").c_str(), &st) == 0);
  CHECK(st.st_size > (off_t{1} << 20));  // the map grew: some write bodies ran twice

  std::vector<EventRecord> expected;
  for (const auto& mine : perThread) {
    REQUIRE(mine.size() == 2 * kPerThread);
    expected.insert(expected.end(), mine.begin(), mine.end());
  }
  std::sort(expected.begin(), expected.end(), [](const auto& x, const auto& y) { return x.id < y.id; });
  REQUIRE(seen.size() == expected.size());
  CHECK(seen == expected);  // gap-free: every event written, once, in id order
  CHECK(allEvents(*store) == expected);
  CHECK(lastId(*store) == expected.back().id);
  // The events' first halves are exactly the status-log entries, in the same order.
  auto entries = store->logEntriesAfter("", 1u << 20);
  REQUIRE(entries);
  REQUIRE(entries->size() == kThreads * kPerThread);
  for (size_t i = 0; i < entries->size(); ++i) {
    REQUIRE(expected[2 * i].id == (*entries)[i].id);
    CHECK(expected[2 * i].containerId == (*entries)[i].containerId);
    CHECK(expected[2 * i].time == (*entries)[i].createdAt);
  }
}

TEST_CASE("events: the log, its ids and the pruning mark survive a reopen") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  std::vector<EventRecord> written;
  REQUIRE(store->createContainer(record, makeEntry(record, ContainerStatus::creating, ContainerStatus::stopped, 1),
                                 {makeEvent("container_created")}, &written));
  auto more = writeEvents(*store, record, 9, 100);
  written.insert(written.end(), more.begin(), more.end());
  REQUIRE(*store->pruneEvents({.maxEvents = 6, .maxAgeMs = 0}, std::numeric_limits<UnixMillis>::max(), 100) == 4);
  store.reset();

  store = openStore(dir.sub("db"));
  CHECK(allEvents(*store) == std::vector<EventRecord>(written.begin() + 4, written.end()));
  CHECK(lastId(*store) == written.back().id);
  CHECK(store->eventsAfter(written[2].id, 10)->reset);
  CHECK_FALSE(store->eventsAfter(written[3].id, 10)->reset);
  record = *store->getContainer(record.id);
  std::vector<EventRecord> after;
  record.status = ContainerStatus::running;
  auto entry = store->commitTransition(record, makeEntry(record, ContainerStatus::stopped, ContainerStatus::running, 2),
                                       {makeEvent("container_started")}, &after);
  REQUIRE(entry);
  REQUIRE(after.size() == 1);
  CHECK(after[0].id == entry->id);
  CHECK(after[0].id > written.back().id);
}

TEST_CASE("events: a store written before the event log opens and keeps working") {
  testing::TempDir dir;
  std::string path = dir.sub("db");
  auto store = openStore(path);
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, makeEntry(record, ContainerStatus::creating, ContainerStatus::stopped, 1)));
  auto old = transition(*store, record, ContainerStatus::running, 2);
  store.reset();

  // Make it a store of the time before events: no events database.
  {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 32) == 0);
    REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOTLS, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi = 0;
    REQUIRE(mdb_dbi_open(txn, "events", 0, &dbi) == 0);
    REQUIRE(mdb_drop(txn, dbi, 1) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
    CHECK(mdb_dbi_open(txn, "events", 0, &dbi) == MDB_NOTFOUND);
    mdb_txn_abort(txn);
    mdb_env_close(env);
  }

  store = openStore(path);
  CHECK(**store->getMeta("schema_version") == std::to_string(kSchemaVersion));
  CHECK(allEvents(*store).empty());
  CHECK_FALSE(lastId(*store));
  CHECK(store->logEntriesAfter("", 10)->size() == 2);
  std::vector<EventRecord> written;
  record.status = ContainerStatus::stopped;
  REQUIRE(store->commitTransition(record, makeEntry(record, ContainerStatus::running, ContainerStatus::stopped, 3),
                                  {makeEvent("container_stopped")}, &written));
  REQUIRE(written.size() == 1);
  CHECK(written[0].id > old.id);  // the sequence goes on from the status log's
  CHECK(allEvents(*store) == written);
}
