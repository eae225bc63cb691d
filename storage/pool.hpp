#pragma once
// The pool of containers' writable layers: one btrfs filesystem in a sparse
// image file on a loop device, each layer a subvolume whose qgroup limit is the
// container's disk quota; snapshots and copies are btrfs snapshots.
//
// On disk, under PoolOptions::dir:
//   pool.img                         the image (sparse; made by mkfs.btrfs when absent)
//   pool/                            its mount point
//   pool/layers/<id>/{upper,work}    a layer: one subvolume, overlayfs's upper and work dirs
//   pool/snapshots/<id>/<snapshot>   read-only snapshots of layer <id> (each a subvolume)
// layers/ and snapshots/ are plain directories: a snapshot of a subvolume never
// includes nested subvolumes, so nothing may nest inside a layer.
//
// Not thread-safe for one id: the caller serializes operations per container.
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::storage {

struct PoolOptions {
  std::string dir;                    // absolute, e.g. <data-dir>/storage
  uint64_t sizeBytes = 64ull << 30;   // the sparse image's size when it is created
  std::string mkfsPath = "/usr/sbin/mkfs.btrfs";
};

// Layer and snapshot ids: 1-128 of [A-Za-z0-9_.-], not starting with '.'
// (names with a leading dot are the pool's own temporaries).
bool isValidPoolId(const std::string& id);

class Pool {
 public:
  // Ready to use. If the mount point already holds this image's btrfs (a
  // service restart) it is used as it is; otherwise (a host boot, or the first
  // start) the image, made first when absent, is attached to a loop device
  // that detaches itself on the last unmount, mounted, and quotas are enabled.
  // Leftovers of an operation a crash interrupted are removed.
  static Result<Pool> open(const PoolOptions& options);

  Pool(Pool&&) noexcept = default;
  Pool& operator=(Pool&&) noexcept = default;
  // Leaves the filesystem mounted: the next open (after a service restart) finds it.
  ~Pool() = default;

  // Unmounts, which frees the loop device. No overlay may still use a layer.
  Result<void> close();
  const std::string& mountPoint() const { return mountPoint_; }
  const std::string& imagePath() const { return imagePath_; }

  Result<void> createLayer(const std::string& id);   // already_exists when present
  // Absent: fine. btrfs does not refuse to delete a subvolume an overlay still
  // uses (6.18: the overlay goes on writing into the orphan): the caller makes
  // sure the container's overlay is gone first.
  Result<void> destroyLayer(const std::string& id);
  bool hasLayer(const std::string& id) const;
  std::string upperDir(const std::string& id) const;
  std::string workDir(const std::string& id) const;
  // The limit on the layer's referenced bytes; nullopt removes it. Takes effect
  // at once, also while the container writes.
  Result<void> setLimit(const std::string& id, std::optional<uint64_t> bytes);
  // The limit now set, nullopt when none.
  Result<std::optional<uint64_t>> limit(const std::string& id) const;
  // Bytes the layer references now, exact: flushes the pool's dirty data and
  // commits first (qgroup numbers change only at a commit), so it costs a sync.
  Result<uint64_t> usage(const std::string& id);

  // Flushes and commits the whole pool, and wakes btrfs's cleaner: the space of
  // destroyed layers and snapshots comes back soon after (without it, at the
  // next periodic commit, up to 30 s later).
  Result<void> sync();

  // A read-only snapshot of the layer; returns its referenced bytes. It is its
  // own qgroup: not counted in the layer's usage or limit.
  Result<uint64_t> snapshot(const std::string& id, const std::string& snapshotId);
  // The layer becomes exactly the snapshot, keeping its limit. Atomic against a
  // crash: the new subvolume is swapped in with RENAME_EXCHANGE.
  Result<void> restore(const std::string& id, const std::string& snapshotId);
  Result<void> deleteSnapshot(const std::string& id, const std::string& snapshotId);  // not_found when absent
  Result<void> deleteSnapshots(const std::string& id);  // all of one layer; none: fine
  bool hasSnapshot(const std::string& id, const std::string& snapshotId) const;
  // A writable copy of a layer as a new layer, with no limit.
  Result<void> copyLayer(const std::string& fromId, const std::string& toId);

 private:
  Pool(std::string mountPoint, std::string imagePath, UniqueFd root, UniqueFd layers, UniqueFd snapshots);
  Result<void> requireOpen() const;
  Result<UniqueFd> openLayer(const std::string& id) const;  // not_found when absent
  Result<void> removeLeftovers();

  std::string mountPoint_;
  std::string imagePath_;
  UniqueFd root_;       // the mount's root, for filesystem-wide ioctls
  UniqueFd layers_;     // pool/layers
  UniqueFd snapshots_;  // pool/snapshots
};

}  // namespace berth::storage
