// The upgrade of a store of schema 1, on a data dir the previous release's
// berthd wrote (fixtures/schema1, made by fixtures/make_schema1.sh): every
// container, status-log entry and event comes through, in every order.
#include <lmdb.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "common/files.hpp"
#include "store/keys.hpp"
#include "store_dump.hpp"
#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {

const std::string kFixture = std::string(BERTH_SOURCE_DIR) + "/tests/unit/store/fixtures/schema1";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A copy of the fixture's environment in dir (the fixture itself stays as it is).
std::string copyFixture(const testing::TempDir& dir) {
  std::string path = dir.sub("db");
  REQUIRE(makeDirs(path, 0700));
  std::ofstream(path + "/data.mdb", std::ios::binary) << slurp(kFixture + "/data.mdb");
  return path;
}

// Raw LMDB on a closed store: the named databases there are, and meta's schema_version.
struct RawLook {
  std::set<std::string> databases;
  std::string version;
};

RawLook look(const std::string& path) {
  RawLook seen;
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 32) == 0);
  REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOTLS | MDB_RDONLY, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, MDB_RDONLY, &txn) == 0);
  MDB_dbi main = 0;
  REQUIRE(mdb_dbi_open(txn, nullptr, 0, &main) == 0);
  MDB_cursor* cursor = nullptr;
  REQUIRE(mdb_cursor_open(txn, main, &cursor) == 0);
  MDB_val key{}, value{};
  while (mdb_cursor_get(cursor, &key, &value, MDB_NEXT) == 0)
    seen.databases.insert(std::string(static_cast<const char*>(key.mv_data), key.mv_size));
  mdb_cursor_close(cursor);
  MDB_dbi meta = 0;
  REQUIRE(mdb_dbi_open(txn, "meta", 0, &meta) == 0);
  MDB_val versionKey{14, const_cast<char*>("schema_version")};
  REQUIRE(mdb_get(txn, meta, &versionKey, &value) == 0);
  seen.version.assign(static_cast<const char*>(value.mv_data), value.mv_size);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  return seen;
}

const std::set<std::string> kSchemaOneLogs = {"logs",        "logs_by_id", "logs_by_time", "logs_by_to",
                                              "logs_by_from", "log_counts", "log_ids"};

}  // namespace

TEST_CASE("migration: a data dir of the previous release is upgraded with every container, entry and event") {
  testing::TempDir dir;
  std::string path = copyFixture(dir);
  auto old = look(path);
  REQUIRE(old.version == "1");
  for (const auto& name : kSchemaOneLogs) CHECK(old.databases.count(name) == 1);
  CHECK(old.databases.count("log_entries") == 0);

  std::string expected = slurp(kFixture + "/expected.txt");
  REQUIRE(expected.find("container ") != std::string::npos);
  REQUIRE(expected.find("\nentry ") != std::string::npos);
  REQUIRE(expected.find("\nevent ") != std::string::npos);
  {
    auto store = openStore(path, {});
    auto dumped = dump::everything(*store);
    REQUIRE(dumped);
    CHECK(*dumped == expected);
  }
  auto upgraded = look(path);
  CHECK(upgraded.version == std::to_string(kSchemaVersion));
  for (const auto& name : kSchemaOneLogs) CHECK(upgraded.databases.count(name) == 0);
  CHECK(upgraded.databases.count("log_entries") == 1);
  CHECK(upgraded.databases.count("log_index") == 1);

  // Opened again there is nothing to upgrade, and the store goes on: a new
  // entry comes after every old one, its event with it.
  auto store = openStore(path, {});
  auto dumped = dump::everything(*store);
  REQUIRE(dumped);
  CHECK(*dumped == expected);
  auto containers = store->allContainers();
  REQUIRE(containers);
  auto stopped = std::find_if(containers->begin(), containers->end(),
                              [](const ContainerRecord& c) { return c.status == ContainerStatus::stopped; });
  REQUIRE(stopped != containers->end());
  auto lastBefore = store->lastEventId();
  REQUIRE(lastBefore);
  REQUIRE(*lastBefore);
  auto oldLog = store->statusLogs(stopped->id, {{1, 100}, LogSortBy::created_at, SortOrder::asc});
  REQUIRE(oldLog);
  ContainerRecord record = *stopped;
  record.status = ContainerStatus::running;
  std::vector<EventRecord> written;
  auto entry = store->commitTransition(
      record, makeEntry(record, ContainerStatus::stopped, ContainerStatus::running, nowMillis()),
      {EventRecord{.type = "container_started"}}, &written);
  REQUIRE(entry);
  CHECK(entry->id > **lastBefore);
  REQUIRE(written.size() == 1);
  CHECK(written[0].id == entry->id);
  auto newLog = store->statusLogs(stopped->id, {{1, 100}, LogSortBy::created_at, SortOrder::asc});
  REQUIRE(newLog);
  CHECK(newLog->pagination.total == oldLog->pagination.total + 1);
  CHECK(newLog->logs.back() == *entry);
}

TEST_CASE("migration: an upgrade that meets an inconsistent store changes nothing") {
  testing::TempDir dir;
  std::string path = copyFixture(dir);
  // Make schema 1's count of one container's entries wrong.
  std::string cid;
  {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 32) == 0);
    REQUIRE(mdb_env_open(env, path.c_str(), MDB_NOTLS, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi counts = 0;
    REQUIRE(mdb_dbi_open(txn, "log_counts", 0, &counts) == 0);
    MDB_cursor* cursor = nullptr;
    REQUIRE(mdb_cursor_open(txn, counts, &cursor) == 0);
    MDB_val key{}, value{};
    REQUIRE(mdb_cursor_get(cursor, &key, &value, MDB_FIRST) == 0);
    cid.assign(static_cast<const char*>(key.mv_data), key.mv_size);
    mdb_cursor_close(cursor);
    std::string wrong = keys::be64(1000);
    MDB_val k{cid.size(), cid.data()};
    MDB_val v{wrong.size(), wrong.data()};
    REQUIRE(mdb_put(txn, counts, &k, &v, 0) == 0);
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
  auto opened = Store::open(path, {});
  REQUIRE_FALSE(opened);
  CHECK(opened.error().code == Errc::internal);
  CHECK(opened.error().message.find("schema version 1") != std::string::npos);
  CHECK(opened.error().message.find(keys::binToId(cid)) != std::string::npos);
  auto after = look(path);
  CHECK(after.version == "1");
  for (const auto& name : kSchemaOneLogs) CHECK(after.databases.count(name) == 1);
  CHECK(after.databases.count("log_entries") == 0);
}
