#pragma once
// Thin wrappers over the btrfs ioctls the pool uses, each failure with errno
// and context. <linux/btrfs.h> stays inside btrfs_ops.cpp.
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.hpp"

namespace berth::storage::btrfs {

// True when fd lies on a btrfs filesystem.
Result<bool> isBtrfs(int fd);
// A new empty subvolume `name` in the directory parentFd.
Result<void> createSubvolume(int parentFd, const std::string& name);
// A snapshot of the subvolume sourceFd (its root directory) as `name` in parentFd.
Result<void> snapshotSubvolume(int sourceFd, int parentFd, const std::string& name, bool readOnly);
// Deletes the subvolume `name` in parentFd (not empty: fine, as root).
Result<void> destroySubvolume(int parentFd, const std::string& name);
// The subvolume (tree) id of the subvolume holding fd.
Result<uint64_t> subvolumeId(int fd);
// Limits the referenced bytes of the qgroup of fd's subvolume; nullopt clears the limit.
Result<void> setReferencedLimit(int subvolumeFd, std::optional<uint64_t> bytes);

struct QgroupNumbers {
  uint64_t referenced = 0;
  uint64_t exclusive = 0;
  std::optional<uint64_t> referencedLimit;
};
// The committed numbers of qgroup 0/<subvolumeId> from the quota tree; not_found
// when there is no such qgroup.
Result<QgroupNumbers> readQgroup(int fsFd, uint64_t subvolumeId);
// Turns full qgroup accounting on (a no-op when on) and waits for a rescan to end.
Result<void> enableQuota(int fsFd);
// Flushes dirty data and commits (BTRFS_IOC_SYNC), which also wakes the
// cleaner thread that frees deleted subvolumes' space.
Result<void> syncAndWakeCleaner(int fsFd);
// The device path of the single device under the filesystem of fd ("/dev/loop3").
Result<std::string> singleDevicePath(int fsFd);

}  // namespace berth::storage::btrfs
