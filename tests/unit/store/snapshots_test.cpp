// Snapshot records: aliases unique per container, newest first, per-container ids.
#include <catch2/catch.hpp>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {

SnapshotRecord snapshotOf(const std::string& containerId, uint64_t n, const std::string& alias) {
  return SnapshotRecord{makeObjectId(0x66000000, n), containerId, alias, 1000 * n, static_cast<UnixMillis>(n)};
}

}  // namespace

TEST_CASE("snapshots: create, list newest first, get, delete; aliases unique per container") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  const std::string a = containerId(1), b = containerId(2);
  REQUIRE(store->createSnapshot(snapshotOf(a, 1, "before")));
  REQUIRE(store->createSnapshot(snapshotOf(a, 2, "after")));
  REQUIRE(store->createSnapshot(snapshotOf(b, 3, "before")));  // another container may reuse an alias
  auto clash = store->createSnapshot(snapshotOf(a, 4, "before"));
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code == Errc::already_exists);

  auto listed = store->listSnapshots(a);
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK(listed->at(0).alias == "after");
  CHECK(listed->at(1) == snapshotOf(a, 1, "before"));

  CHECK(store->getSnapshot(a, snapshotOf(a, 2, "").id).value().alias == "after");
  auto foreign = store->getSnapshot(a, snapshotOf(b, 3, "").id);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().code == Errc::not_found);

  REQUIRE(store->deleteSnapshot(a, snapshotOf(a, 2, "").id));
  CHECK(store->deleteSnapshot(a, snapshotOf(a, 2, "").id).error().code == Errc::not_found);
  REQUIRE(store->deleteSnapshotsOf(a));
  CHECK(store->listSnapshots(a).value().empty());
  CHECK(store->listSnapshots(b).value().size() == 1);
}
