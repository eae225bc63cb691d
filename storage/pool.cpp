#include "storage/pool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <vector>

#include "common/files.hpp"
#include "common/process.hpp"
#include "common/scope_guard.hpp"
#include "storage/btrfs_ops.hpp"
#include "storage/loop_device.hpp"

namespace berth::storage {

namespace {

constexpr const char* kCreatingPrefix = ".creating-";
constexpr const char* kRestoringPrefix = ".restoring-";
constexpr uint64_t kMinImageBytes = 256ull << 20;  // mkfs.btrfs needs ~114 MiB; leave room for data

Result<void> checkId(const std::string& id, const char* what) {
  if (!isValidPoolId(id)) return fail(Errc::invalid_argument, std::string(what) + " '" + id + "' is not 1-128 of [A-Za-z0-9_.-] starting with no dot");
  return {};
}

// Whether `name` exists in dirFd (as anything).
Result<bool> existsAt(int dirFd, const std::string& name) {
  struct stat st{};
  if (::fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return true;
  if (errno == ENOENT) return false;
  return sysFail("fstatat " + name);
}

Result<UniqueFd> openDirAt(int dirFd, const std::string& name, const std::string& pathForMessage) {
  int fd = ::openat(dirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sysFail("open " + pathForMessage);
  return UniqueFd(fd);
}

Result<void> makeDirAt(int dirFd, const std::string& name, mode_t mode) {
  if (::mkdirat(dirFd, name.c_str(), mode) != 0 && errno != EEXIST) return sysFail("mkdir " + name);
  return {};
}

// Names in a directory, without "." and "..".
Result<std::vector<std::string>> listDir(int dirFd, const std::string& pathForMessage) {
  int copy = ::openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (copy < 0) return sysFail("open " + pathForMessage);
  DIR* dir = ::fdopendir(copy);
  if (dir == nullptr) {
    int err = errno;
    ::close(copy);
    return sysFail("fdopendir " + pathForMessage, err);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(std::move(name));
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return sysFail("readdir " + pathForMessage, err);
  return names;
}

Result<bool> isMountRoot(const std::string& path) {
  struct statx stx{};
  if (::statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) != 0) return sysFail("statx " + path);
  if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT))
    return fail(Errc::host_refused, "statx " + path + ": the kernel does not report STATX_ATTR_MOUNT_ROOT");
  return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

Result<void> fsyncPath(const std::string& path, int flags) {
  BERTH_TRY(UniqueFd fd, openFile(path, flags | O_CLOEXEC));
  if (::fsync(fd.get()) != 0) return sysFail("fsync " + path);
  return {};
}

// mkfs.btrfs as a child: the only external program. Its stderr becomes the error.
Result<void> runMkfs(const std::string& mkfsPath, const std::string& target) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail("pipe2");
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  posix_spawn_file_actions_t actions;
  if (int err = ::posix_spawn_file_actions_init(&actions); err != 0) return sysFail("posix_spawn_file_actions_init", err);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), 2);
  // Metadata single, not DUP: a second copy on the same image file guards nothing.
  std::vector<std::string> args{mkfsPath, "-q", "-m", "single", "-d", "single", target};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  char* envp[] = {const_cast<char*>("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), nullptr};
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, mkfsPath.c_str(), &actions, nullptr, argv.data(), envp);
  ::posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return sysFail("run " + mkfsPath + " (install btrfs-progs)", err);
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int openErr = errno;
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return sysFail("pidfd_open " + mkfsPath, openErr);
  }
  ChildProcess child(pid, UniqueFd(pidfd));
  writeEnd.reset();
  BERTH_TRY(std::string errors, readFd(readEnd.get()));
  BERTH_TRY(auto status, child.wait(std::chrono::minutes(2)));
  if (!status) return fail(Errc::deadline_exceeded, mkfsPath + " " + target + " ran for more than 2 minutes");
  if (status->exitCode != 0) {
    while (!errors.empty() && errors.back() == '\n') errors.pop_back();
    return fail(Errc::host_refused, mkfsPath + " " + target + " exited with " + std::to_string(status->exitCode) + ": " + errors);
  }
  return {};
}

// A new image: sparse file, mkfs, then renamed into place, so an image at the
// path always holds a filesystem.
Result<void> makeImage(const std::string& imagePath, uint64_t sizeBytes, const std::string& mkfsPath) {
  std::string building = imagePath + ".new";
  if (::unlink(building.c_str()) != 0 && errno != ENOENT) return sysFail("unlink " + building);
  {
    int fd = ::open(building.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return sysFail("create " + building);
    UniqueFd image(fd);
    if (::ftruncate(image.get(), static_cast<off_t>(sizeBytes)) != 0) return sysFail("ftruncate " + building);
  }
  ScopeGuard removeBuilding([&] { ::unlink(building.c_str()); });
  BERTH_TRYV(runMkfs(mkfsPath, building));
  BERTH_TRYV(fsyncPath(building, O_RDONLY));
  if (::rename(building.c_str(), imagePath.c_str()) != 0) return sysFail("rename " + building + " to " + imagePath);
  removeBuilding.dismiss();
  std::string dir = imagePath.substr(0, imagePath.rfind('/'));
  return fsyncPath(dir, O_RDONLY | O_DIRECTORY);
}

// The mount at mountPoint is this image's btrfs (a service restart), or something else.
Result<UniqueFd> adoptMounted(const std::string& mountPoint, const std::string& imagePath) {
  BERTH_TRY(UniqueFd root, openFile(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  BERTH_TRY(bool btrfsHere, btrfs::isBtrfs(root.get()));
  if (!btrfsHere) return fail(Errc::state_conflict, mountPoint + " has a mount that is not btrfs");
  BERTH_TRY(std::string device, withContext(btrfs::singleDevicePath(root.get()), mountPoint));
  char resolved[PATH_MAX];
  if (::realpath(imagePath.c_str(), resolved) == nullptr) return sysFail("realpath " + imagePath);
  auto backing = loopBackingFile(device);
  if (!backing || *backing != resolved)
    return fail(Errc::state_conflict, mountPoint + " has a btrfs on " + device + ", not on a loop device of " + resolved);
  return root;
}

Result<UniqueFd> attachAndMount(const std::string& mountPoint, const std::string& imagePath) {
  BERTH_TRY(LoopAttachment loop, attachLoop(imagePath));
  // The loop fd is dropped on return: from then on only the mount holds the
  // device, and the unmount frees it (LO_FLAGS_AUTOCLEAR); on failure here it goes at once.
  if (::mount(loop.devicePath.c_str(), mountPoint.c_str(), "btrfs", MS_NOATIME, nullptr) != 0)
    return sysFail("mount " + loop.devicePath + " (" + imagePath + ") on " + mountPoint);
  auto root = openFile(mountPoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (!root) {
    ::umount2(mountPoint.c_str(), UMOUNT_NOFOLLOW);
    return tl::unexpected(root.error());
  }
  return root;
}

}  // namespace

bool isValidPoolId(const std::string& id) {
  if (id.empty() || id.size() > 128 || id[0] == '.') return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Pool::Pool(std::string mountPoint, std::string imagePath, UniqueFd root, UniqueFd layers, UniqueFd snapshots)
    : mountPoint_(std::move(mountPoint)),
      imagePath_(std::move(imagePath)),
      root_(std::move(root)),
      layers_(std::move(layers)),
      snapshots_(std::move(snapshots)) {}

Result<Pool> Pool::open(const PoolOptions& options) {
  if (options.dir.empty() || options.dir[0] != '/') return fail(Errc::invalid_argument, "pool dir '" + options.dir + "' is not absolute");
  if (options.sizeBytes < kMinImageBytes)
    return fail(Errc::invalid_argument, "pool size " + std::to_string(options.sizeBytes) + " is below 256 MiB");
  std::string dir = options.dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string mountPoint = dir + "/pool";
  std::string imagePath = dir + "/pool.img";
  BERTH_TRYV(makeDirs(dir, 0700));
  BERTH_TRYV(makeDirs(mountPoint, 0700));

  UniqueFd root;
  BERTH_TRY(bool mounted, isMountRoot(mountPoint));
  if (mounted) {
    BERTH_TRY(root, adoptMounted(mountPoint, imagePath));
  } else {
    if (!pathExists(imagePath)) BERTH_TRYV(withContext(makeImage(imagePath, options.sizeBytes, options.mkfsPath), "making the pool image"));
    BERTH_TRY(root, attachAndMount(mountPoint, imagePath));
  }
  // From here a failure leaves the filesystem mounted: the next open adopts it.
  BERTH_TRYV(withContext(btrfs::enableQuota(root.get()), mountPoint));
  // Only root looks into the pool; overlayfs reaches upper and work with the mounter's credentials.
  if (::fchmod(root.get(), 0700) != 0) return sysFail("chmod " + mountPoint);
  BERTH_TRYV(makeDirAt(root.get(), "layers", 0700));
  BERTH_TRYV(makeDirAt(root.get(), "snapshots", 0700));
  BERTH_TRY(UniqueFd layers, openDirAt(root.get(), "layers", mountPoint + "/layers"));
  BERTH_TRY(UniqueFd snapshots, openDirAt(root.get(), "snapshots", mountPoint + "/snapshots"));
  Pool pool(mountPoint, imagePath, std::move(root), std::move(layers), std::move(snapshots));
  BERTH_TRYV(pool.removeLeftovers());
  return pool;
}

Result<void> Pool::requireOpen() const {
  if (!root_) return fail(Errc::state_conflict, "the pool at " + mountPoint_ + " is closed");
  return {};
}

Result<void> Pool::removeLeftovers() {
  // A create or restore a crash interrupted: its temporary subvolume is
  // garbage either way (before the exchange the old layer is in place, after it the new one).
  BERTH_TRY(auto names, listDir(layers_.get(), mountPoint_ + "/layers"));
  for (const auto& name : names) {
    if (name.rfind(kCreatingPrefix, 0) == 0 || name.rfind(kRestoringPrefix, 0) == 0)
      BERTH_TRYV(withContext(btrfs::destroySubvolume(layers_.get(), name), "removing the leftover " + mountPoint_ + "/layers/" + name));
  }
  return {};
}

Result<void> Pool::close() {
  BERTH_TRYV(requireOpen());
  // Our own fds would keep the mount busy.
  root_.reset();
  layers_.reset();
  snapshots_.reset();
  if (::umount2(mountPoint_.c_str(), UMOUNT_NOFOLLOW) != 0) {
    auto failed = sysFail("umount " + mountPoint_ + " (a layer still in use?)");
    // Still mounted: stay usable.
    if (auto root = openFile(mountPoint_, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
      auto layers = openDirAt(root->get(), "layers", mountPoint_ + "/layers");
      auto snapshots = openDirAt(root->get(), "snapshots", mountPoint_ + "/snapshots");
      if (layers && snapshots) {
        root_ = std::move(*root);
        layers_ = std::move(*layers);
        snapshots_ = std::move(*snapshots);
      }
    }
    return failed;
  }
  return {};
}

Result<UniqueFd> Pool::openLayer(const std::string& id) const {
  BERTH_TRYV(checkId(id, "layer id"));
  BERTH_TRYV(requireOpen());
  BERTH_TRY(bool present, existsAt(layers_.get(), id));
  if (!present) return fail(Errc::not_found, "no layer " + id);
  return openDirAt(layers_.get(), id, mountPoint_ + "/layers/" + id);
}

Result<void> Pool::createLayer(const std::string& id) {
  BERTH_TRYV(checkId(id, "layer id"));
  BERTH_TRYV(requireOpen());
  BERTH_TRY(bool present, existsAt(layers_.get(), id));
  if (present) return fail(Errc::already_exists, "layer " + id + " exists");
  // Built under a temporary name and renamed in: a layer is there complete or not at all.
  std::string building = kCreatingPrefix + id;
  BERTH_TRY(bool stale, existsAt(layers_.get(), building));
  if (stale) BERTH_TRYV(btrfs::destroySubvolume(layers_.get(), building));
  BERTH_TRYV(withContext(btrfs::createSubvolume(layers_.get(), building), "creating layer " + id));
  ScopeGuard destroyBuilding([&] { (void)btrfs::destroySubvolume(layers_.get(), building); });
  BERTH_TRY(UniqueFd layer, openDirAt(layers_.get(), building, mountPoint_ + "/layers/" + building));
  if (::mkdirat(layer.get(), "upper", 0755) != 0) return sysFail("mkdir " + upperDir(building));
  if (::mkdirat(layer.get(), "work", 0700) != 0) return sysFail("mkdir " + workDir(building));
  if (::renameat2(layers_.get(), building.c_str(), layers_.get(), id.c_str(), RENAME_NOREPLACE) != 0)
    return sysFail("rename " + building + " to layer " + id);
  destroyBuilding.dismiss();
  return {};
}

Result<void> Pool::destroyLayer(const std::string& id) {
  BERTH_TRYV(checkId(id, "layer id"));
  BERTH_TRYV(requireOpen());
  BERTH_TRY(bool present, existsAt(layers_.get(), id));
  if (!present) return {};
  return withContext(btrfs::destroySubvolume(layers_.get(), id), "destroying layer " + id + " (an overlay still on it?)");
}

bool Pool::hasLayer(const std::string& id) const {
  if (!isValidPoolId(id) || !root_) return false;
  struct stat st{};
  return ::fstatat(layers_.get(), id.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
}

std::string Pool::upperDir(const std::string& id) const { return mountPoint_ + "/layers/" + id + "/upper"; }
std::string Pool::workDir(const std::string& id) const { return mountPoint_ + "/layers/" + id + "/work"; }

Result<void> Pool::setLimit(const std::string& id, std::optional<uint64_t> bytes) {
  if (bytes && *bytes == 0) return fail(Errc::invalid_argument, "a layer limit of 0 bytes");
  BERTH_TRY(UniqueFd layer, openLayer(id));
  return withContext(btrfs::setReferencedLimit(layer.get(), bytes), "limiting layer " + id);
}

Result<std::optional<uint64_t>> Pool::limit(const std::string& id) const {
  BERTH_TRY(UniqueFd layer, openLayer(id));
  BERTH_TRY(uint64_t subvolume, btrfs::subvolumeId(layer.get()));
  BERTH_TRY(auto numbers, withContext(btrfs::readQgroup(root_.get(), subvolume), "layer " + id));
  return numbers.referencedLimit;
}

Result<uint64_t> Pool::usage(const std::string& id) {
  BERTH_TRY(UniqueFd layer, openLayer(id));
  // Writeback, then a commit: only a commit brings the qgroup numbers up to date.
  BERTH_TRYV(withContext(btrfs::syncAndWakeCleaner(layer.get()), mountPoint_));
  BERTH_TRY(uint64_t subvolume, btrfs::subvolumeId(layer.get()));
  BERTH_TRY(auto numbers, withContext(btrfs::readQgroup(root_.get(), subvolume), "layer " + id));
  return numbers.referenced;
}

Result<void> Pool::sync() {
  BERTH_TRYV(requireOpen());
  return withContext(btrfs::syncAndWakeCleaner(root_.get()), mountPoint_);
}

Result<uint64_t> Pool::snapshot(const std::string& id, const std::string& snapshotId) {
  BERTH_TRYV(checkId(snapshotId, "snapshot id"));
  BERTH_TRY(UniqueFd layer, openLayer(id));
  BERTH_TRYV(makeDirAt(snapshots_.get(), id, 0700));
  std::string dirPath = mountPoint_ + "/snapshots/" + id;
  BERTH_TRY(UniqueFd dir, openDirAt(snapshots_.get(), id, dirPath));
  BERTH_TRY(bool present, existsAt(dir.get(), snapshotId));
  if (present) return fail(Errc::already_exists, "snapshot " + snapshotId + " of layer " + id + " exists");
  // The ioctl flushes the layer's dirty data and commits, so the snapshot is
  // the layer as of this call and its qgroup numbers are committed when it returns.
  BERTH_TRYV(withContext(btrfs::snapshotSubvolume(layer.get(), dir.get(), snapshotId, true), "snapshotting layer " + id));
  BERTH_TRY(UniqueFd snap, openDirAt(dir.get(), snapshotId, dirPath + "/" + snapshotId));
  BERTH_TRY(uint64_t subvolume, btrfs::subvolumeId(snap.get()));
  BERTH_TRY(auto numbers, withContext(btrfs::readQgroup(root_.get(), subvolume), "snapshot " + snapshotId));
  return numbers.referenced;
}

bool Pool::hasSnapshot(const std::string& id, const std::string& snapshotId) const {
  if (!isValidPoolId(id) || !isValidPoolId(snapshotId) || !root_) return false;
  struct stat st{};
  return ::fstatat(snapshots_.get(), (id + "/" + snapshotId).c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Result<void> Pool::restore(const std::string& id, const std::string& snapshotId) {
  BERTH_TRYV(checkId(snapshotId, "snapshot id"));
  BERTH_TRY(UniqueFd layer, openLayer(id));
  if (!hasSnapshot(id, snapshotId)) return fail(Errc::not_found, "no snapshot " + snapshotId + " of layer " + id);
  std::string snapPath = mountPoint_ + "/snapshots/" + id + "/" + snapshotId;
  BERTH_TRY(UniqueFd snap, openDirAt(snapshots_.get(), id + "/" + snapshotId, snapPath));
  BERTH_TRY(uint64_t oldSubvolume, btrfs::subvolumeId(layer.get()));
  BERTH_TRY(auto oldNumbers, withContext(btrfs::readQgroup(root_.get(), oldSubvolume), "layer " + id));
  layer.reset();

  std::string incoming = kRestoringPrefix + id;
  BERTH_TRY(bool stale, existsAt(layers_.get(), incoming));
  if (stale) BERTH_TRYV(btrfs::destroySubvolume(layers_.get(), incoming));
  BERTH_TRYV(withContext(btrfs::snapshotSubvolume(snap.get(), layers_.get(), incoming, false), "restoring layer " + id));
  ScopeGuard destroyIncoming([&] { (void)btrfs::destroySubvolume(layers_.get(), incoming); });
  {
    // A snapshot's qgroup starts with its source's limit (the layer's when the
    // snapshot was taken): set the layer's present one, or none.
    BERTH_TRY(UniqueFd fresh, openDirAt(layers_.get(), incoming, mountPoint_ + "/layers/" + incoming));
    BERTH_TRYV(withContext(btrfs::setReferencedLimit(fresh.get(), oldNumbers.referencedLimit), "restoring layer " + id));
  }
  // One rename swaps both names: at every moment (and after a crash) layers/<id> is the old or the new layer.
  if (::renameat2(layers_.get(), incoming.c_str(), layers_.get(), id.c_str(), RENAME_EXCHANGE) != 0)
    return sysFail("rename-exchange " + incoming + " with layer " + id);
  destroyIncoming.dismiss();
  // incoming now names the old layer.
  return withContext(btrfs::destroySubvolume(layers_.get(), incoming),
                     "layer " + id + " restored, removing the replaced subvolume (an overlay still on it?)");
}

Result<void> Pool::deleteSnapshot(const std::string& id, const std::string& snapshotId) {
  BERTH_TRYV(checkId(id, "layer id"));
  BERTH_TRYV(checkId(snapshotId, "snapshot id"));
  BERTH_TRYV(requireOpen());
  if (!hasSnapshot(id, snapshotId)) return fail(Errc::not_found, "no snapshot " + snapshotId + " of layer " + id);
  std::string dirPath = mountPoint_ + "/snapshots/" + id;
  BERTH_TRY(UniqueFd dir, openDirAt(snapshots_.get(), id, dirPath));
  BERTH_TRYV(withContext(btrfs::destroySubvolume(dir.get(), snapshotId), "deleting snapshot " + snapshotId + " of layer " + id));
  // The last one takes its directory along; another left in it keeps it.
  if (::unlinkat(snapshots_.get(), id.c_str(), AT_REMOVEDIR) != 0 && errno != ENOTEMPTY && errno != EEXIST)
    return sysFail("rmdir " + dirPath);
  return {};
}

Result<void> Pool::deleteSnapshots(const std::string& id) {
  BERTH_TRYV(checkId(id, "layer id"));
  BERTH_TRYV(requireOpen());
  BERTH_TRY(bool present, existsAt(snapshots_.get(), id));
  if (!present) return {};
  std::string dirPath = mountPoint_ + "/snapshots/" + id;
  BERTH_TRY(UniqueFd dir, openDirAt(snapshots_.get(), id, dirPath));
  BERTH_TRY(auto names, listDir(dir.get(), dirPath));
  for (const auto& name : names)
    BERTH_TRYV(withContext(btrfs::destroySubvolume(dir.get(), name), "deleting snapshot " + name + " of layer " + id));
  if (::unlinkat(snapshots_.get(), id.c_str(), AT_REMOVEDIR) != 0) return sysFail("rmdir " + dirPath);
  return {};
}

Result<void> Pool::copyLayer(const std::string& fromId, const std::string& toId) {
  BERTH_TRYV(checkId(toId, "layer id"));
  BERTH_TRY(UniqueFd from, openLayer(fromId));
  BERTH_TRY(bool present, existsAt(layers_.get(), toId));
  if (present) return fail(Errc::already_exists, "layer " + toId + " exists");
  // Made under a temporary name: the snapshot's qgroup starts with the source's
  // limit, which the copy must not have, not even after a crash.
  std::string building = kCreatingPrefix + toId;
  BERTH_TRY(bool stale, existsAt(layers_.get(), building));
  if (stale) BERTH_TRYV(btrfs::destroySubvolume(layers_.get(), building));
  BERTH_TRYV(withContext(btrfs::snapshotSubvolume(from.get(), layers_.get(), building, false), "copying layer " + fromId + " to " + toId));
  ScopeGuard destroyBuilding([&] { (void)btrfs::destroySubvolume(layers_.get(), building); });
  BERTH_TRY(UniqueFd copy, openDirAt(layers_.get(), building, mountPoint_ + "/layers/" + building));
  BERTH_TRYV(withContext(btrfs::setReferencedLimit(copy.get(), std::nullopt), "copying layer " + fromId + " to " + toId));
  if (::renameat2(layers_.get(), building.c_str(), layers_.get(), toId.c_str(), RENAME_NOREPLACE) != 0)
    return sysFail("rename " + building + " to layer " + toId);
  destroyBuilding.dismiss();
  return {};
}

}  // namespace berth::storage
