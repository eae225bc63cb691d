#include "storage/btrfs_ops.hpp"

#include <endian.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>

#include <cstring>

namespace berth::storage::btrfs {

namespace {

Result<void> checkName(const std::string& name, size_t max) {
  if (name.empty() || name.size() > max || name.find('/') != std::string::npos)
    return fail(Errc::invalid_argument, "subvolume name '" + name + "' is not a plain name of 1-" + std::to_string(max) + " bytes");
  return {};
}

// One item of the quota tree with exactly the key (0, type, qgroupid); false when absent.
Result<bool> searchQuotaItem(int fsFd, uint8_t type, uint64_t qgroupId, void* out, size_t outSize) {
  btrfs_ioctl_search_args args{};
  args.key.tree_id = BTRFS_QUOTA_TREE_OBJECTID;
  args.key.min_objectid = 0;
  args.key.max_objectid = 0;
  args.key.min_type = type;
  args.key.max_type = type;
  args.key.min_offset = qgroupId;
  args.key.max_offset = qgroupId;
  args.key.min_transid = 0;
  args.key.max_transid = UINT64_MAX;
  args.key.nr_items = 1;
  if (::ioctl(fsFd, BTRFS_IOC_TREE_SEARCH, &args) != 0) return sysFail("BTRFS_IOC_TREE_SEARCH (quota tree)");
  if (args.key.nr_items == 0) return false;
  btrfs_ioctl_search_header header;
  std::memcpy(&header, args.buf, sizeof header);
  if (header.type != type || header.offset != qgroupId || header.len < outSize)
    return fail(Errc::internal, "quota tree search returned an unexpected item (type " + std::to_string(header.type) +
                                    ", len " + std::to_string(header.len) + ")");
  std::memcpy(out, args.buf + sizeof header, outSize);
  return true;
}

}  // namespace

Result<bool> isBtrfs(int fd) {
  struct statfs info{};
  if (::fstatfs(fd, &info) != 0) return sysFail("fstatfs");
  return static_cast<unsigned long>(info.f_type) == BTRFS_SUPER_MAGIC;
}

Result<void> createSubvolume(int parentFd, const std::string& name) {
  BERTH_TRYV(checkName(name, BTRFS_PATH_NAME_MAX));
  btrfs_ioctl_vol_args args{};
  std::memcpy(args.name, name.data(), name.size());
  if (::ioctl(parentFd, BTRFS_IOC_SUBVOL_CREATE, &args) != 0) return sysFail("BTRFS_IOC_SUBVOL_CREATE " + name);
  return {};
}

Result<void> snapshotSubvolume(int sourceFd, int parentFd, const std::string& name, bool readOnly) {
  BERTH_TRYV(checkName(name, BTRFS_SUBVOL_NAME_MAX));
  btrfs_ioctl_vol_args_v2 args{};
  args.fd = sourceFd;
  args.flags = readOnly ? BTRFS_SUBVOL_RDONLY : 0;
  std::memcpy(args.name, name.data(), name.size());
  if (::ioctl(parentFd, BTRFS_IOC_SNAP_CREATE_V2, &args) != 0) return sysFail("BTRFS_IOC_SNAP_CREATE_V2 " + name);
  return {};
}

Result<void> destroySubvolume(int parentFd, const std::string& name) {
  BERTH_TRYV(checkName(name, BTRFS_PATH_NAME_MAX));
  btrfs_ioctl_vol_args args{};
  std::memcpy(args.name, name.data(), name.size());
  if (::ioctl(parentFd, BTRFS_IOC_SNAP_DESTROY, &args) != 0) return sysFail("BTRFS_IOC_SNAP_DESTROY " + name);
  return {};
}

Result<uint64_t> subvolumeId(int fd) {
  btrfs_ioctl_ino_lookup_args args{};
  args.treeid = 0;  // 0: the tree of fd itself
  args.objectid = BTRFS_FIRST_FREE_OBJECTID;
  if (::ioctl(fd, BTRFS_IOC_INO_LOOKUP, &args) != 0) return sysFail("BTRFS_IOC_INO_LOOKUP");
  return args.treeid;
}

Result<void> setReferencedLimit(int subvolumeFd, std::optional<uint64_t> bytes) {
  btrfs_ioctl_qgroup_limit_args args{};
  args.qgroupid = 0;  // 0: the qgroup of fd's subvolume
  args.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER;
  // All ones clears the limit (the kernel's CLEAR_VALUE).
  args.lim.max_rfer = bytes ? *bytes : UINT64_MAX;
  if (::ioctl(subvolumeFd, BTRFS_IOC_QGROUP_LIMIT, &args) != 0) return sysFail("BTRFS_IOC_QGROUP_LIMIT");
  return {};
}

Result<QgroupNumbers> readQgroup(int fsFd, uint64_t subvolumeId) {
  // Level 0 qgroup ids are the subvolume ids themselves.
  btrfs_qgroup_info_item info{};
  BERTH_TRY(bool found, searchQuotaItem(fsFd, BTRFS_QGROUP_INFO_KEY, subvolumeId, &info, sizeof info));
  if (!found) return fail(Errc::not_found, "no qgroup 0/" + std::to_string(subvolumeId));
  QgroupNumbers numbers;
  numbers.referenced = le64toh(info.rfer);
  numbers.exclusive = le64toh(info.excl);
  btrfs_qgroup_limit_item limit{};
  BERTH_TRY(bool limited, searchQuotaItem(fsFd, BTRFS_QGROUP_LIMIT_KEY, subvolumeId, &limit, sizeof limit));
  if (limited && (le64toh(limit.flags) & BTRFS_QGROUP_LIMIT_MAX_RFER)) numbers.referencedLimit = le64toh(limit.max_rfer);
  return numbers;
}

Result<void> enableQuota(int fsFd) {
  btrfs_ioctl_quota_ctl_args args{};
  args.cmd = BTRFS_QUOTA_CTL_ENABLE;
  if (::ioctl(fsFd, BTRFS_IOC_QUOTA_CTL, &args) != 0) return sysFail("BTRFS_IOC_QUOTA_CTL enable");
  // Enabling on a filesystem with data starts a rescan; numbers are wrong until it ends.
  if (::ioctl(fsFd, BTRFS_IOC_QUOTA_RESCAN_WAIT) != 0) return sysFail("BTRFS_IOC_QUOTA_RESCAN_WAIT");
  return {};
}

Result<void> syncAndWakeCleaner(int fsFd) {
  if (::ioctl(fsFd, BTRFS_IOC_SYNC) != 0) return sysFail("BTRFS_IOC_SYNC");
  return {};
}

Result<std::string> singleDevicePath(int fsFd) {
  btrfs_ioctl_fs_info_args fsInfo{};
  if (::ioctl(fsFd, BTRFS_IOC_FS_INFO, &fsInfo) != 0) return sysFail("BTRFS_IOC_FS_INFO");
  if (fsInfo.num_devices != 1)
    return fail(Errc::state_conflict, "the filesystem has " + std::to_string(fsInfo.num_devices) + " devices, not one");
  // Device ids need not be dense (a replaced device leaves a gap): try each up to max_id.
  for (uint64_t devid = 1; devid <= fsInfo.max_id; ++devid) {
    btrfs_ioctl_dev_info_args dev{};
    dev.devid = devid;
    if (::ioctl(fsFd, BTRFS_IOC_DEV_INFO, &dev) != 0) {
      if (errno == ENODEV) continue;
      return sysFail("BTRFS_IOC_DEV_INFO " + std::to_string(devid));
    }
    return std::string(reinterpret_cast<const char*>(dev.path), strnlen(reinterpret_cast<const char*>(dev.path), sizeof dev.path));
  }
  return fail(Errc::internal, "btrfs reports one device but none answers BTRFS_IOC_DEV_INFO");
}

}  // namespace berth::storage::btrfs
