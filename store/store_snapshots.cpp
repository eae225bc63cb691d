// Snapshot records: one per snapshot of a container's layer, keyed by
// container then snapshot id.
#include <algorithm>

#include "store/codec.hpp"
#include "store/keys.hpp"
#include "store/store_impl.hpp"

namespace berth::store {

namespace {

tl::unexpected<Error> snapshotNotFound(std::string_view containerId, std::string_view snapshotId) {
  return fail(Errc::not_found, Detail::snapshot_not_found, "snapshot " + std::string(snapshotId) + " of container " + std::string(containerId) +
                                   " not found");
}

// The snapshots of one container, oldest first.
Result<std::vector<SnapshotRecord>> snapshotsIn(Txn& txn, const Db& db, const std::string& containerBin) {
  std::vector<SnapshotRecord> found;
  BERTH_TRY(auto cursor, Cursor::open(txn, db));
  BERTH_TRY(bool more, cursor.seek(containerBin));
  while (more && cursor.key().starts_with(containerBin)) {
    BERTH_TRY(auto snapshot, codec::decodeSnapshot(cursor.value()));
    found.push_back(std::move(snapshot));
    BERTH_TRY(more, cursor.next());
  }
  return found;
}

}  // namespace

Result<void> Store::createSnapshot(const SnapshotRecord& snapshot) {
  auto containerBin = keys::idToBin(snapshot.containerId);
  auto snapshotBin = keys::idToBin(snapshot.id);
  if (!containerBin || !snapshotBin) return fail(Errc::invalid_argument, "snapshot ids must be 24 lowercase hex");
  BERTH_TRY(std::string bytes, codec::encode(snapshot));
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto existing, snapshotsIn(txn, m.db.snapshots, *containerBin));
    for (const SnapshotRecord& other : existing)
      if (other.alias == snapshot.alias)
        return fail(Errc::already_exists, "container " + snapshot.containerId + " has a snapshot named '" +
                                              snapshot.alias + "' already");
    return txn.put(m.db.snapshots, *containerBin + *snapshotBin, bytes);
  });
}

Result<std::vector<SnapshotRecord>> Store::listSnapshots(const std::string& containerId) const {
  auto containerBin = keys::idToBin(containerId);
  if (!containerBin) return std::vector<SnapshotRecord>{};
  const Impl& m = *impl_;
  BERTH_TRY(auto snapshots,
            m.read([&](Txn& txn) { return snapshotsIn(txn, m.db.snapshots, *containerBin); }));
  // Ids are not ordered by time (their tail is random): the time is.
  std::stable_sort(snapshots.begin(), snapshots.end(),
                   [](const SnapshotRecord& a, const SnapshotRecord& b) { return a.createdAt > b.createdAt; });
  return snapshots;
}

Result<SnapshotRecord> Store::getSnapshot(const std::string& containerId, const std::string& snapshotId) const {
  auto containerBin = keys::idToBin(containerId);
  auto snapshotBin = keys::idToBin(snapshotId);
  if (!containerBin || !snapshotBin) return snapshotNotFound(containerId, snapshotId);
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<SnapshotRecord> {
    BERTH_TRY(auto bytes, txn.get(m.db.snapshots, *containerBin + *snapshotBin));
    if (!bytes) return snapshotNotFound(containerId, snapshotId);
    return codec::decodeSnapshot(*bytes);
  });
}

Result<void> Store::deleteSnapshot(const std::string& containerId, const std::string& snapshotId) {
  auto containerBin = keys::idToBin(containerId);
  auto snapshotBin = keys::idToBin(snapshotId);
  if (!containerBin || !snapshotBin) return snapshotNotFound(containerId, snapshotId);
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(bool removed, txn.del(m.db.snapshots, *containerBin + *snapshotBin));
    if (!removed) return snapshotNotFound(containerId, snapshotId);
    return {};
  });
}

Result<void> Store::deleteSnapshotsOf(const std::string& containerId) {
  auto containerBin = keys::idToBin(containerId);
  if (!containerBin) return {};
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<void> {
    BERTH_TRY(auto snapshots, snapshotsIn(txn, m.db.snapshots, *containerBin));
    for (const SnapshotRecord& snapshot : snapshots)
      BERTH_TRYV(txn.del(m.db.snapshots, *containerBin + *keys::idToBin(snapshot.id)));
    return {};
  });
}

}  // namespace berth::store
