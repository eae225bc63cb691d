// The environment: opening, schema version, map growth, LMDB errors, threads.
#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {
// LMDB's data file never exceeds the map: past 1 MiB means the map grew.
off_t dataFileBytes(const std::string& dir) {
  struct stat st {};
  if (::stat((dir + "/data.mdb").c_str(), &st) != 0) return -1;
  return st.st_size;
}
}  // namespace

TEST_CASE("environment: open creates the directory 0700 and the schema version") {
  testing::TempDir dir;
  std::string path = dir.sub("data/db");
  auto store = openStore(path);
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(**store->getMeta("schema_version") == std::to_string(kSchemaVersion));
  store.reset();
  store = openStore(path);  // a second open of the same version is fine
  CHECK(**store->getMeta("schema_version") == std::to_string(kSchemaVersion));
}

TEST_CASE("environment: no descriptor of the database leaks into exec'd children") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  int seen = 0;
  DIR* fds = ::opendir("/proc/self/fd");
  REQUIRE(fds != nullptr);
  while (dirent* item = ::readdir(fds)) {
    if (item->d_name[0] == '.') continue;
    char target[4096];
    std::string link = std::string("/proc/self/fd/") + item->d_name;
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::string(target).rfind(dir.path(), 0) != 0) continue;
    ++seen;
    int flags = ::fcntl(std::stoi(item->d_name), F_GETFD);
    INFO("fd " << item->d_name << " -> " << target);
    CHECK((flags >= 0 && (flags & FD_CLOEXEC)));
  }
  ::closedir(fds);
  CHECK(seen >= 2);  // data.mdb and lock.mdb at least
}

TEST_CASE("environment: a store of another schema version is refused with both versions named") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  std::string other = GENERATE(std::string("3"), std::string("0"), std::string("banana"));
  REQUIRE(store->putMeta("schema_version", other));
  store.reset();

  auto reopened = Store::open(dir.sub("db"), {.syncOnCommit = false});
  REQUIRE_FALSE(reopened);
  CHECK(reopened.error().code == Errc::internal);
  const auto& message = reopened.error().message;
  CHECK(message.find("schema version " + other) != std::string::npos);
  CHECK(message.find("schema version " + std::to_string(kSchemaVersion)) != std::string::npos);
  // The refusal changed nothing: the version is still the foreign one.
  CHECK_FALSE(Store::open(dir.sub("db"), {.syncOnCommit = false}));
}

TEST_CASE("environment: opening where no environment can be is an error, not a crash") {
  testing::TempDir dir;
  { std::ofstream(dir.sub("file")) << "not a directory"; }
  auto onFile = Store::open(dir.sub("file"));
  REQUIRE_FALSE(onFile);
  CHECK(onFile.error().message.find("lmdb") != std::string::npos);
  CHECK(Store::open(dir.sub("file/db")).error().message.find("creating store directory") != std::string::npos);
  CHECK(Store::open("").error().code == Errc::invalid_argument);
}

TEST_CASE("environment: LMDB errors carry the operation, the database, the key and mdb_strerror") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  // A key beyond LMDB's 511-byte limit.
  std::string longName(600, 'n');
  auto result = store->createUser({"u1", longName, "hash", UserRole::user, false, std::nullopt, "", 0});
  REQUIRE_FALSE(result);
  const auto& message = result.error().message;
  INFO(message);
  CHECK(message.find("lmdb put usernames[nnnn") != std::string::npos);
  CHECK(message.find("(600 bytes)") != std::string::npos);
  CHECK(message.find("MDB_BAD_VALSIZE") != std::string::npos);
  CHECK(result.error().code == Errc::internal);
  CHECK(store->getUser("u1").error().code == Errc::not_found);  // the users put before it was rolled back
}

TEST_CASE("environment: the map grows from 1 MiB, in a loop of small writes and for one big record") {
  testing::TempDir dir;
  StoreOptions tiny{.syncOnCommit = false, .initialMapBytes = 1u << 20};
  auto store = openStore(dir.sub("db"), tiny);
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));

  std::vector<StatusLogEntry> written;
  for (int i = 0; i < 6000; ++i) {
    auto entry = makeEntry(record, record.status, ContainerStatus::running, 1736937000000 + i);
    entry.metadata.reason = std::string(200, 'r');  // ~0.5 KiB per entry with its indexes
    auto result = store->commitTransition(record, entry);
    REQUIRE(result);
    written.push_back(*result);
  }
  // One record larger than the map was: several doublings for one transaction.
  auto big = makeContainer(containerId(2), "p1", "big");
  for (int i = 0; i < 3000; ++i) big.env["VAR_" + std::to_string(i)] = std::string(1000, 'v');
  REQUIRE(store->createContainer(big, std::nullopt));

  auto page = store->statusLogs(record.id, {{600, 10}, LogSortBy::transition_time, SortOrder::asc});
  REQUIRE(page);
  CHECK(page->pagination.total == 6000);
  CHECK(idsOf(page->logs) == idsOf(std::vector<StatusLogEntry>(written.begin() + 5990, written.end())));
  CHECK(*store->getContainer(big.id) == big);
  CHECK(dataFileBytes(dir.sub("db")) > (off_t{4} << 20));

  // Reopening with the tiny size again: LMDB maps at least what is used, and
  // the next writes grow it again.
  store.reset();
  store = openStore(dir.sub("db"), tiny);
  CHECK(*store->getContainer(big.id) == big);
  for (int i = 0; i < 500; ++i) {
    auto entry = makeEntry(record, record.status, ContainerStatus::stopped, 1736938000000 + i);
    entry.metadata.reason = std::string(200, 'r');
    REQUIRE(store->commitTransition(record, entry));
  }
  auto total = store->statusLogs(record.id, {});
  REQUIRE(total);
  CHECK(total->pagination.total == 6500);
}

TEST_CASE("environment: 8 writer threads and readers at once, through map growth") {
  testing::TempDir dir;
  StoreOptions tiny{.syncOnCommit = false, .initialMapBytes = 1u << 20};
  auto store = openStore(dir.sub("db"), tiny);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 250;
  std::vector<ContainerRecord> records;
  for (int t = 0; t < kThreads; ++t) {
    records.push_back(makeContainer(containerId(static_cast<uint64_t>(t + 1)), "p1", "c" + std::to_string(t)));
    REQUIRE(store->createContainer(records.back(), std::nullopt));
  }

  std::vector<std::vector<StatusLogEntry>> perThread(kThreads);
  std::atomic<int> failures{0};
  std::atomic<bool> writing{true};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      auto record = records[static_cast<size_t>(t)];
      for (int i = 0; i < kPerThread; ++i) {
        auto entry = makeEntry(record, record.status, i % 2 ? ContainerStatus::stopped : ContainerStatus::running, i);
        entry.metadata.reason = std::string(100, 'x');
        record.status = entry.toStatus;
        auto result = store->commitTransition(record, entry);
        if (!result) {
          ++failures;
          return;
        }
        perThread[static_cast<size_t>(t)].push_back(*result);
      }
    });
  }
  std::atomic<uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      while (writing) {
        const auto& id = records[static_cast<size_t>(r)].id;
        auto page = store->statusLogs(id, {{1, 10}, LogSortBy::to_status, SortOrder::desc});
        auto list = store->listContainers({});
        auto replay = store->logEntriesAfter("", 50);
        if (!page || !list || !replay || list->pagination.total != kThreads) ++failures;
        ++reads;
      }
    });
  }
  for (auto& w : writers) w.join();
  writing = false;
  for (auto& r : readers) r.join();
  REQUIRE(failures == 0);
  CHECK(reads > 0);
  CHECK(dataFileBytes(dir.sub("db")) > (off_t{1} << 20));

  std::set<std::string> unique;
  for (const auto& entries : perThread) {
    REQUIRE(entries.size() == kPerThread);
    for (size_t i = 0; i < entries.size(); ++i) {
      unique.insert(entries[i].id);
      if (i > 0) CHECK(entries[i].id > entries[i - 1].id);  // each thread sees its ids grow
    }
  }
  CHECK(unique.size() == kThreads * kPerThread);

  // Globally: id order is write order (createdAt never goes back along it),
  // and each container's log holds exactly its own entries.
  auto all = store->logEntriesAfter("", 1u << 20);
  REQUIRE(all);
  REQUIRE(all->size() == kThreads * kPerThread);
  for (size_t i = 1; i < all->size(); ++i) {
    REQUIRE((*all)[i].id > (*all)[i - 1].id);
    CHECK((*all)[i].createdAt >= (*all)[i - 1].createdAt);
  }
  for (int t = 0; t < kThreads; ++t) {
    auto logs = store->statusLogs(records[static_cast<size_t>(t)].id, {{1, 1000}, LogSortBy::created_at, SortOrder::asc});
    REQUIRE(logs);
    CHECK(logs->pagination.total == kPerThread);
    CHECK(logs->logs == perThread[static_cast<size_t>(t)]);
  }
}

TEST_CASE("environment: a zero initial map is raised to a minimum and grows from there") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"), {.syncOnCommit = false, .initialMapBytes = 0});
  auto record = makeContainer(containerId(1), "p1", "web");
  REQUIRE(store->createContainer(record, std::nullopt));
  for (int i = 0; i < 300; ++i) transition(*store, record, ContainerStatus::running, i);
  auto logs = store->statusLogs(record.id, {{30, 10}, LogSortBy::transition_time, SortOrder::asc});
  REQUIRE(logs);
  CHECK(logs->pagination.total == 300);
  REQUIRE(logs->logs.size() == 10);
  CHECK(logs->logs.back().transitionTime == 299);
}
