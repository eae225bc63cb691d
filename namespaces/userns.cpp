#include "namespaces/userns.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/files.hpp"
#include "common/unique_fd.hpp"
#include "common/unix_socket.hpp"
#include "namespaces/init_plan.hpp"

namespace berth::ns {

namespace {

Result<void> writeIdMaps(pid_t pid, const UserNamespaceMap& map) {
  const std::string proc = "/proc/" + std::to_string(pid);
  const std::string uids = "0 " + std::to_string(map.hostUid) + " " + std::to_string(map.size) + "\n";
  const std::string gids = "0 " + std::to_string(map.hostGid) + " " + std::to_string(map.size) + "\n";
  for (const auto& [file, line] : {std::pair{proc + "/uid_map", uids}, std::pair{proc + "/gid_map", gids}}) {
    UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return sysFail(Errc::host_refused, "open " + file);
    // One write: the kernel takes a map whole or not at all.
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return sysFail(Errc::host_refused, "write " + file);
  }
  return {};
}

// A clone of `dir`'s mount tree, attached nowhere, its ids seen through `userns`.
Result<UniqueFd> idmappedTree(const std::string& dir, int userns) {
  UniqueFd tree(::open_tree(AT_FDCWD, dir.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE));
  if (!tree) return sysFail(Errc::host_refused, "open_tree " + dir);
  mount_attr attr{};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0)
    return sysFail(Errc::host_refused, "idmapped mount of " + dir + " (mount_setattr MOUNT_ATTR_IDMAP, Linux 5.12+)");
  return tree;
}

// A bind of `path` (a file or a dir, not what is mounted below it), attached nowhere, with `attributes` set.
Result<UniqueFd> boundTree(const std::string& path, uint64_t attributes) {
  UniqueFd tree(::open_tree(AT_FDCWD, path.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC));
  if (!tree) return sysFail(Errc::host_refused, "open_tree " + path);
  if (attributes != 0) {
    mount_attr attr{};
    attr.attr_set = attributes;
    if (::mount_setattr(tree.get(), "", AT_EMPTY_PATH, &attr, sizeof attr) != 0)
      return sysFail(Errc::host_refused, "mount_setattr " + path);
  }
  return tree;
}

Result<void> sendMount(int socket, int mount, const std::string& what) {
  const char byte = 0;
  if (sendWithFd(socket, &byte, 1, mount) != 1) return sysFail(Errc::host_refused, "send the container " + what);
  return {};
}

// overlayfs over the idmapped image, as a mount fd attached nowhere.
Result<UniqueFd> overlayOver(int lowerTree, const std::string& upperDir, const std::string& workDir) {
  UniqueFd context(::fsopen("overlay", FSOPEN_CLOEXEC));
  if (!context) return sysFail(Errc::host_refused, "fsopen overlay");
  const std::string lower = "/proc/self/fd/" + std::to_string(lowerTree);
  auto set = [&](const char* key, const std::string& value) -> Result<void> {
    if (::fsconfig(context.get(), FSCONFIG_SET_STRING, key, value.c_str(), 0) != 0)
      return sysFail(Errc::host_refused, std::string("overlay ") + key + "=" + value);
    return {};
  };
  BERTH_TRYV(set("lowerdir", lower));
  if (!upperDir.empty()) {
    BERTH_TRYV(set("upperdir", upperDir));
    BERTH_TRYV(set("workdir", workDir));
  }
  if (::fsconfig(context.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0)
    return sysFail(Errc::host_refused, "overlay over an idmapped layer (Linux 5.19+)");
  // nodev, as the host-root overlay: a node made inside opens nothing.
  UniqueFd mount(::fsmount(context.get(), FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV));
  if (!mount) return sysFail(Errc::host_refused, "fsmount overlay");
  return mount;
}

// A user namespace with `map`, held by an fd: its first process is gone once this returns.
Result<UniqueFd> scratchUserNamespace(const UserNamespaceMap& map) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail(Errc::host_refused, "pipe2");
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  clone_args args{};
  args.flags = CLONE_NEWUSER;
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    // Waits for the parent's end to close; only system calls here.
    ::close(writeEnd.get());
    char byte;
    (void)::read(readEnd.get(), &byte, 1);
    ::_exit(0);
  }
  if (pid < 0) return sysFail(Errc::host_refused, "clone a user namespace (CLONE_NEWUSER)");
  auto held = [&]() -> Result<UniqueFd> {
    BERTH_TRYV(writeIdMaps(static_cast<pid_t>(pid), map));
    const std::string path = "/proc/" + std::to_string(pid) + "/ns/user";
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sysFail(Errc::host_refused, "open " + path);
    return fd;
  }();
  writeEnd.reset();
  while (::waitpid(static_cast<pid_t>(pid), nullptr, 0) < 0 && errno == EINTR) {
  }
  return held;
}

}  // namespace

Result<void> prepareUserNamespaceInit(pid_t child, const InitSpec& spec, int socket) {
  BERTH_TRYV(writeIdMaps(child, *spec.userNamespace));
  const std::string nsPath = "/proc/" + std::to_string(child) + "/ns/user";
  UniqueFd userns(::open(nsPath.c_str(), O_RDONLY | O_CLOEXEC));
  if (!userns) return sysFail(Errc::host_refused, "open " + nsPath);
  BERTH_TRY(UniqueFd image, idmappedTree(spec.rootfs.imageDir, userns.get()));
  BERTH_TRY(UniqueFd root, overlayOver(image.get(), spec.rootfs.upperDir, spec.rootfs.workDir));
  BERTH_TRYV(sendMount(socket, root.get(), "its root"));
  // In the order of the init's attachMount steps (InitPlan::build).
  for (const FileBind& file : spec.files) {
    BERTH_TRY(UniqueFd bound, boundTree(file.source, 0));
    BERTH_TRYV(sendMount(socket, bound.get(), file.target));
  }
  if (!(spec.cgroupMounts.size() == 1 && spec.cgroupMounts[0].name.empty())) {
    for (const CgroupMount& hierarchy : spec.cgroupMounts) {
      if (hierarchy.hostDir.empty())
        return fail(Errc::internal, "cgroup " + hierarchy.name + " has no group dir of the container's");
      BERTH_TRY(UniqueFd bound, boundTree(hierarchy.hostDir, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                                 MOUNT_ATTR_NOEXEC));
      BERTH_TRYV(sendMount(socket, bound.get(), "/sys/fs/cgroup/" + hierarchy.name));
    }
  }
  return {};
}

Result<void> probeUserNamespaceRoot(const std::string& imageDir, const std::string& scratchParent) {
  BERTH_TRY(UniqueFd userns, scratchUserNamespace(UserNamespaceMap{.hostUid = 65536, .hostGid = 65536, .size = 65536}));
  const std::string scratch = scratchParent + "/.userns-probe-" + std::to_string(::getpid());
  BERTH_TRYV(removeTree(scratch));
  BERTH_TRYV(makeDirs(scratch + "/upper", 0700));
  BERTH_TRYV(makeDirs(scratch + "/work", 0700));
  auto probed = [&]() -> Result<void> {
    BERTH_TRY(UniqueFd image, idmappedTree(imageDir, userns.get()));
    BERTH_TRY(UniqueFd root, overlayOver(image.get(), scratch + "/upper", scratch + "/work"));
    return {};
  }();
  BERTH_TRYV(removeTree(scratch));
  return probed;
}

}  // namespace berth::ns
