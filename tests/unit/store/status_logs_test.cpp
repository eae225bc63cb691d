// Status logs: entry ids, paging of API.md §5 against a brute-force sort,
// separation of containers, deleted containers and the global replay.
#include <catch2/catch.hpp>

#include <limits>
#include <random>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {

constexpr ContainerStatus kStatuses[] = {ContainerStatus::creating, ContainerStatus::running, ContainerStatus::paused,
                                         ContainerStatus::stopped,  ContainerStatus::failed,  ContainerStatus::copying,
                                         ContainerStatus::expired};

// Writes `count` entries with random statuses and transition times from a
// small set (many ties, one negative), returning what the store wrote.
std::vector<StatusLogEntry> fillRandom(Store& store, ContainerRecord& record, int count, unsigned seed) {
  std::mt19937 rng(seed);
  const UnixMillis times[] = {-5, 0, 1736937000000, 1736937000000, 1736937000001, 1736937005000, 1736938000000};
  std::vector<StatusLogEntry> written;
  for (int i = 0; i < count; ++i) {
    auto from = kStatuses[rng() % std::size(kStatuses)];
    auto to = kStatuses[rng() % std::size(kStatuses)];
    auto entry = makeEntry(record, from, to, times[rng() % std::size(times)]);
    record.status = to;
    auto result = store.commitTransition(record, entry);
    REQUIRE(result);
    written.push_back(*result);
  }
  return written;
}

void checkAgainstBruteForce(Store& store, const std::string& containerId, const std::vector<StatusLogEntry>& written) {
  for (auto by : kAllSortKeys) {
    for (auto order : kBothOrders) {
      auto expected = bruteSorted(written, by, order);
      for (uint64_t limit : {uint64_t{1}, uint64_t{3}, uint64_t{10}, uint64_t{written.size()}, uint64_t{100}}) {
        uint64_t pages = (written.size() + limit - 1) / limit;
        for (uint64_t page = 1; page <= pages + 1; ++page) {
          INFO("sort_by " << sortName(by) << (order == SortOrder::asc ? " asc" : " desc") << " limit " << limit
                          << " page " << page);
          auto got = store.statusLogs(containerId, {{page, limit}, by, order});
          REQUIRE(got);
          CHECK(got->pagination.total == written.size());
          CHECK(got->pagination.totalPages == pages);
          CHECK(got->pagination.page == page);
          CHECK(got->pagination.limit == limit);
          std::vector<StatusLogEntry> slice;
          for (uint64_t k = (page - 1) * limit; k < std::min<uint64_t>(expected.size(), page * limit); ++k)
            slice.push_back(expected[k]);
          REQUIRE(idsOf(got->logs) == idsOf(slice));
          CHECK(got->logs == slice);
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("status logs: entry ids strictly increase in a tight loop within one second") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  UnixMillis before = nowMillis();
  std::string previous;
  std::vector<StatusLogEntry> written;
  for (int i = 0; i < 3000; ++i) {
    auto entry = transition(*store, record, i % 2 ? ContainerStatus::running : ContainerStatus::stopped, 1736937000000);
    REQUIRE(isObjectId(entry.id));
    REQUIRE(entry.id > previous);
    previous = entry.id;
    written.push_back(entry);
  }
  UnixMillis after = nowMillis();
  // Many entries share a second: the sequence, not the clock, orders them.
  CHECK(written.front().id.substr(0, 8) == written[1].id.substr(0, 8));
  for (const auto& entry : written) {
    CHECK(entry.createdAt >= before);
    CHECK(entry.createdAt <= after);
    auto seconds = static_cast<UnixMillis>(std::stoul(entry.id.substr(0, 8), nullptr, 16));
    CHECK(seconds >= before / 1000);
    CHECK(seconds <= after / 1000);
  }

  // And keep increasing after a reopen (the last id is persisted).
  store.reset();
  store = openStore(dir.sub("db"));
  auto next = transition(*store, record, ContainerStatus::running, 1736937000000);
  CHECK(next.id > previous);
}

TEST_CASE("status logs: every sort key and order, every page, compared with a brute-force sort") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  auto written = fillRandom(*store, record, 53, 7);
  checkAgainstBruteForce(*store, record.id, written);
}

TEST_CASE("status logs: ties on the sort key are broken by entry id in the same direction") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web", ContainerStatus::running);
  REQUIRE(store->createContainer(record, std::nullopt));
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(transition(*store, record, ContainerStatus::running, 1000).id);
  // Same transition time and same statuses for all: order is id order.
  for (auto by : kAllSortKeys) {
    auto asc = store->statusLogs(record.id, {{1, 100}, by, SortOrder::asc});
    REQUIRE(asc);
    CHECK(idsOf(asc->logs) == ids);
    auto desc = store->statusLogs(record.id, {{2, 5}, by, SortOrder::desc});
    REQUIRE(desc);
    CHECK(idsOf(desc->logs) == std::vector<std::string>{ids[6], ids[5], ids[4], ids[3], ids[2]});
  }
}

TEST_CASE("status logs: totals, empty logs and pages past the end") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));

  auto empty = store->statusLogs(record.id, {});
  REQUIRE(empty);
  CHECK(empty->logs.empty());
  CHECK(empty->pagination.total == 0);
  CHECK(empty->pagination.totalPages == 0);
  CHECK(empty->pagination.page == 1);
  CHECK(empty->pagination.limit == 10);

  for (int i = 0; i < 25; ++i) transition(*store, record, ContainerStatus::running, 1000 + i);
  auto last = store->statusLogs(record.id, {{3, 10}, LogSortBy::transition_time, SortOrder::desc});
  REQUIRE(last);
  CHECK(last->logs.size() == 5);
  CHECK(last->pagination.totalPages == 3);
  CHECK(last->logs.back().transitionTime == 1000);  // oldest last in desc order

  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (PageRequest far : {PageRequest{4, 10}, PageRequest{kMax, 100}, PageRequest{kMax, kMax},
                          PageRequest{uint64_t{1} << 33, uint64_t{1} << 33}, PageRequest{2, kMax}}) {
    for (auto by : kAllSortKeys) {
      auto page = store->statusLogs(record.id, {far, by, SortOrder::asc});
      REQUIRE(page);
      CHECK(page->logs.empty());
      CHECK(page->pagination.total == 25);
    }
  }
  auto everything = store->statusLogs(record.id, {{1, kMax}, LogSortBy::created_at, SortOrder::asc});
  REQUIRE(everything);
  CHECK(everything->logs.size() == 25);
  CHECK(everything->pagination.totalPages == 1);

  CHECK(store->statusLogs(record.id, {{0, 10}, LogSortBy::created_at, SortOrder::asc}).error().code ==
        Errc::invalid_argument);
  CHECK(store->statusLogs(record.id, {{1, 0}, LogSortBy::created_at, SortOrder::asc}).error().code ==
        Errc::invalid_argument);
  CHECK(store->statusLogs(containerId(99), {}).error().code == Errc::not_found);
  CHECK(store->statusLogs("bogus", {}).error().code == Errc::not_found);
}

TEST_CASE("status logs: neighbouring containers' logs do not mix") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  // Ids chosen so one container's key range ends where the next begins
  // (…ff|ff then …00), and one whose id is all 0xff (no key above its range).
  auto a = makeContainer(makeObjectId(0x11111111, 0xffffffffffffffff), "p1", "a");
  auto b = makeContainer(makeObjectId(0x11111112, 0), "p1", "b");
  auto c = makeContainer("ffffffffffffffffffffffff", "p1", "c");
  auto lone = makeContainer(makeObjectId(0x11111111, 0xfffffffffffffffe), "p1", "lone");  // no entries
  for (auto* r : {&a, &b, &c, &lone}) REQUIRE(store->createContainer(*r, std::nullopt));

  std::mt19937 rng(11);
  std::map<std::string, std::vector<StatusLogEntry>> written;
  for (int i = 0; i < 90; ++i) {
    ContainerRecord* target = (i % 3 == 0) ? &a : (i % 3 == 1) ? &b : &c;
    auto to = kStatuses[rng() % std::size(kStatuses)];
    written[target->id].push_back(transition(*store, *target, to, 1736937000000 + static_cast<int>(rng() % 5)));
  }
  for (auto* r : {&a, &b, &c}) {
    INFO("container " << r->id);
    REQUIRE(written[r->id].size() == 30);
    checkAgainstBruteForce(*store, r->id, written[r->id]);
  }
  for (auto by : kAllSortKeys)
    for (auto order : kBothOrders) {
      auto none = store->statusLogs(lone.id, {{1, 100}, by, order});
      REQUIRE(none);
      CHECK(none->logs.empty());
      CHECK(none->pagination.total == 0);
    }
}

TEST_CASE("status logs: a deleted container's log stays readable") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  auto initial = makeEntry(record, ContainerStatus::creating, ContainerStatus::stopped, 1, "create");
  REQUIRE(store->createContainer(record, initial));
  transition(*store, record, ContainerStatus::running, 2);
  transition(*store, record, ContainerStatus::stopped, 3);
  auto deleted = transition(*store, record, ContainerStatus::deleted, 4);

  auto got = store->getContainer(record.id);
  REQUIRE(got);
  CHECK(got->status == ContainerStatus::deleted);
  auto logs = store->statusLogs(record.id, {{1, 10}, LogSortBy::transition_time, SortOrder::desc});
  REQUIRE(logs);
  CHECK(logs->pagination.total == 4);
  REQUIRE(logs->logs.size() == 4);
  CHECK(logs->logs.front() == deleted);
  CHECK(logs->logs.back().metadata.operation == "create");

  // A new container may take the name; the old log is unaffected.
  auto successor = makeContainer(containerId(2), "p1", "web");
  REQUIRE(store->createContainer(successor, makeEntry(successor, ContainerStatus::creating, ContainerStatus::stopped, 5)));
  logs = store->statusLogs(record.id, {});
  REQUIRE(logs);
  CHECK(logs->pagination.total == 4);
}

TEST_CASE("status logs: the replay lists every container's entries in id order") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto a = makeContainer(containerId(2), "p1", "a");
  auto b = makeContainer(containerId(1), "p1", "b");
  REQUIRE(store->createContainer(a, std::nullopt));
  REQUIRE(store->createContainer(b, std::nullopt));
  std::vector<StatusLogEntry> written;
  for (int i = 0; i < 20; ++i) written.push_back(transition(*store, i % 2 ? a : b, ContainerStatus::running, 100 - i));

  auto all = store->logEntriesAfter("", 1000);
  REQUIRE(all);
  CHECK(*all == written);
  auto tail = store->logEntriesAfter(written[4].id, 3);
  REQUIRE(tail);
  CHECK(*tail == std::vector<StatusLogEntry>(written.begin() + 5, written.begin() + 8));
  auto afterLast = store->logEntriesAfter(written.back().id, 10);
  REQUIRE(afterLast);
  CHECK(afterLast->empty());
  // An id that was never written (between two real ones) works as a bound too.
  auto between = store->logEntriesAfter(makeObjectId(0, 0), 2);
  REQUIRE(between);
  CHECK(idsOf(*between) == std::vector<std::string>{written[0].id, written[1].id});
  CHECK(store->logEntriesAfter("nope", 10).error().code == Errc::invalid_argument);
  auto none = store->logEntriesAfter("", 0);
  REQUIRE(none);
  CHECK(none->empty());
}
