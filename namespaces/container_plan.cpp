// The plan of an init a ContainerSpec describes (an OCI bundle): its
// mounts, devices and paths as given, then the process's user, capability
// sets and rlimits, the report that it is set up, the start gate and exec.
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>

#include "common/files.hpp"
#include "namespaces/init_plan.hpp"

namespace berth::ns {

namespace {

// The devices every container gets (runtime-spec, "Default Devices"), bound from the host's.
constexpr const char* kDefaultDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};
constexpr std::pair<const char*, const char*> kDevLinks[] = {
    {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
    {"stderr", "/proc/self/fd/2"}, {"core", "/proc/kcore"},      {"ptmx", "pts/ptmx"}};

Result<void> checkInsidePath(std::string_view what, const std::string& path) {
  if (path.empty() || path.front() != '/')
    return fail(Errc::invalid_argument, std::string(what) + " \"" + path + "\" must be an absolute path");
  for (size_t start = 0; start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (std::string_view(path).substr(start, end - start) == "..")
      return fail(Errc::invalid_argument, std::string(what) + " \"" + path + "\" must not contain ..");
    start = end + 1;
  }
  return {};
}

std::string withoutTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

bool isBind(const MountSpec& mount) { return mount.type == "bind" || (mount.flags & MS_BIND) != 0; }

int deviceType(char type) {
  switch (type) {
    case 'b':
      return S_IFBLK;
    case 'p':
      return S_IFIFO;
    default:
      return S_IFCHR;
  }
}

}  // namespace

Result<void> InitPlan::addContainerMounts(const ContainerSpec& spec) {
  const std::string root = withoutTrailingSlash(spec.rootfs);
  auto makePathStep = [this](const std::string& path, std::string description) {
    addMakePath(path, std::move(description));
  };
  addMount("set / propagation", nullptr, "/", nullptr,
           spec.rootPropagation ? spec.rootPropagation : MS_REC | MS_PRIVATE);
  // A mount point of its own, so pivot_root can take it.
  addMount("bind the root filesystem", keep(root), keep(root), nullptr, MS_BIND | MS_REC);
  for (const MountSpec& mount : spec.mounts) {
    const std::string target = root + withoutTrailingSlash(mount.destination);
    const char* targetPath = keep(target);
    if (isBind(mount)) {
      struct stat st {};
      const bool file = ::stat(mount.source.c_str(), &st) == 0 && !S_ISDIR(st.st_mode);
      if (file) {
        makePathStep(target.substr(0, target.rfind('/')),
                     "mkdir " + mount.destination.substr(0, mount.destination.rfind('/')));
        add(StepKind::makeFile, "create " + mount.destination).target = targetPath;
      } else {
        makePathStep(target, "mkdir " + mount.destination);
      }
      addMount("bind " + mount.source + " on " + mount.destination, keep(mount.source), targetPath, nullptr,
               MS_BIND | (mount.flags & MS_REC));
      // A bind takes its flags (ro, nosuid, ...) only from a remount of its own.
      const unsigned long remount = mount.flags & ~(MS_BIND | MS_REC | MS_REMOUNT);
      if (remount != 0)
        addMount("remount " + mount.destination, nullptr, targetPath, nullptr, MS_BIND | MS_REMOUNT | remount);
    } else if (mount.type == "cgroup" && !spec.cgroupMounts.empty()) {
      // The host's hierarchies, each from inside the cgroup namespace (unshared above).
      makePathStep(target, "mkdir " + mount.destination);
      BERTH_TRYV(addCgroupfs(target, spec.cgroupMounts, mount.flags));
    } else {
      makePathStep(target, "mkdir " + mount.destination);
      // No hierarchies given: the container sees the cgroup2 tree.
      const bool cgroup = mount.type == "cgroup" || mount.type == "cgroup2";
      addMount("mount " + mount.type + " on " + mount.destination, keep(cgroup ? "cgroup2" : mount.source), targetPath,
               keep(cgroup ? "cgroup2" : mount.type), mount.flags, mount.data.empty() ? nullptr : keep(mount.data),
               cgroup);
    }
    if (mount.propagation != 0)
      addMount("propagation of " + mount.destination, nullptr, targetPath, nullptr, mount.propagation);
  }
  makePathStep(root + "/dev", "mkdir /dev");
  // The terminal's slave is bound here once the init has it; made now, while the root may still be written.
  if (spec.consoleSocketFd >= 0) add(StepKind::makeFile, "create /dev/console").target = keep(root + "/dev/console");
  for (const char* name : kDefaultDevices) {
    const std::string inContainer = std::string("/dev/") + name;
    const char* target = keep(root + inContainer);
    add(StepKind::makeFile, "create " + inContainer).target = target;
    addMount("bind " + inContainer, keep(inContainer), target, nullptr, MS_BIND);
  }
  for (const DeviceSpec& device : spec.devices) {
    const std::string target = root + device.path;
    makePathStep(target.substr(0, target.rfind('/')), "mkdir " + device.path.substr(0, device.path.rfind('/')));
    Step& node = add(StepKind::makeNode, "mknod " + device.path);
    node.target = keep(target);
    node.flags = static_cast<unsigned long>(deviceType(device.type)) | (device.fileMode & 07777);
    node.device = makedev(device.major, device.minor);
    node.soft = device.uid;
    node.hard = device.gid;
  }
  for (const auto& [name, pointsTo] : kDevLinks) {
    const std::string link = std::string("/dev/") + name;
    const bool given = std::any_of(spec.devices.begin(), spec.devices.end(),
                                   [&](const DeviceSpec& device) { return device.path == link; });
    if (given) continue;
    Step& step = add(StepKind::symlink, "symlink " + link);
    step.source = pointsTo;
    step.target = keep(root + link);
    step.optional = true;
  }
  add(StepKind::pivotRoot, "pivot_root into " + root).target = keep(root);
  for (const std::string& path : spec.maskedPaths) add(StepKind::maskPath, "mask " + path).target = keep(path);
  for (const std::string& path : spec.readonlyPaths) {
    addMount("bind " + path, keep(path), keep(path), nullptr, MS_BIND | MS_REC, nullptr, true);
    addMount("remount " + path + " read-only", nullptr, keep(path), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr,
             true);
  }
  for (const auto& [key, value] : spec.sysctl) {
    std::string file = "/proc/sys/" + key;
    std::replace(file.begin() + 10, file.end(), '.', '/');
    Step& step = add(StepKind::writeFile, "sysctl " + key);
    step.target = keep(file);
    step.data = keep(value);
  }
  return {};
}

void InitPlan::addConsoleOrStdio(int consoleSocketFd, const char* console) {
  // The slave becomes 0-2 there (and is bound on `console`, if given).
  if (consoleSocketFd >= 0) {
    Step& step = add(StepKind::consoleSetup, "set up the console");
    step.fd = consoleSocketFd;
    step.target = console;
  }
  // 0-2 stay where they are (the caller's, or the console's slave); every other fd is closed at exec.
  for (int i = 0; i < 3; ++i) stdio_[i] = i;
  add(StepKind::stdio, "set up stdio");
  add(StepKind::newSession, "setsid");
  if (consoleSocketFd >= 0) add(StepKind::controllingTerminal, "set the controlling terminal");
}

Result<void> InitPlan::addProcessIdentity(const ContainerProcess& process) {
  for (const RlimitSpec& limit : process.rlimits) {
    if (limit.soft > limit.hard) return fail(Errc::invalid_argument, "rlimit soft limit above its hard limit");
    Step& step = add(StepKind::setRlimit, "setrlimit " + std::to_string(limit.resource));
    step.flags = static_cast<unsigned long>(limit.resource);
    step.soft = limit.soft;
    step.hard = limit.hard;
  }
  if (process.umask) add(StepKind::setUmask, "umask").flags = *process.umask;
  security_.lastCap = lastCapability();
  security_.seccompFilter = process.seccompFilter;
  capabilitySets_ = process.capabilities;
  groups_ = process.additionalGids;
  add(StepKind::boundingSet, "limit the bounding set");
  // Through the change of user the permitted set stays; the sets are set after it.
  add(StepKind::keepCaps, "keep capabilities").flags = 1;
  Step& user = add(StepKind::setUser, "set user " + std::to_string(process.uid) + ":" + std::to_string(process.gid));
  user.soft = process.uid;
  user.hard = process.gid;
  add(StepKind::keepCaps, "stop keeping capabilities").flags = 0;
  add(StepKind::capabilitySets, "set the capability sets");
  const std::string cwd = process.cwd.empty() ? "/" : process.cwd;
  add(StepKind::workingDir, "working dir \"" + cwd + "\"").target = keep(cwd);
  return {};
}

Result<void> InitPlan::addContainerProcess(const ContainerSpec& spec) {
  const ContainerProcess& process = spec.process;
  addConsoleOrStdio(spec.consoleSocketFd, "/dev/console");
  BERTH_TRYV(addProcessIdentity(process));
  add(StepKind::reportReady, "report ready");
  if (!spec.startFifo.empty()) {
    // Through our own fd: the fifo's host path is out of reach after pivot_root.
    int fifo = ::open(spec.startFifo.c_str(), O_PATH | O_CLOEXEC);
    if (fifo < 0) return sysFail(Errc::host_refused, "open " + spec.startFifo);
    heldFds_.emplace_back(fifo);
    add(StepKind::awaitStart, "wait for start").target = keep("/proc/self/fd/" + std::to_string(fifo));
  }
  if (process.noNewPrivileges) add(StepKind::noNewPrivs, "set no_new_privs");
  if (!process.seccompFilter.empty()) add(StepKind::seccomp, "load seccomp filter");
  addExec(process.args, process.env);
  return {};
}

Result<InitPlan> InitPlan::buildContainer(const ContainerSpec& spec) {
  if (spec.process.args.empty() || spec.process.args[0].empty())
    return fail(Errc::invalid_argument, "process.args is empty");
  BERTH_TRYV(checkInsidePath("root.path", spec.rootfs));
  if (withoutTrailingSlash(spec.rootfs) == "/") return fail(Errc::invalid_argument, "root.path must not be /");
  if (spec.hostname.size() > HOST_NAME_MAX)
    return fail(Errc::invalid_argument, "hostname longer than " + std::to_string(HOST_NAME_MAX) + " characters");
  for (const MountSpec& mount : spec.mounts) BERTH_TRYV(checkInsidePath("mount destination", mount.destination));
  for (const DeviceSpec& device : spec.devices) BERTH_TRYV(checkInsidePath("device path", device.path));

  InitPlan plan;
  plan.cloneCgroupFd_ = spec.cgroupFd;
  for (const std::string& procs : spec.cgroupJoinFiles)
    plan.add(StepKind::joinCgroup, "join cgroup " + procs).target = plan.keep(procs);
  bool newMount = false;
  bool newUts = false;
  for (const NamespaceSpec& ns : spec.namespaces) {
    if (ns.path.empty()) {
      // The cgroup namespace comes after the cgroups are joined, the pid namespace with clone.
      if (ns.type == CLONE_NEWCGROUP) continue;
      plan.cloneNamespaces_ |= ns.type;
      newMount |= ns.type == CLONE_NEWNS;
      newUts |= ns.type == CLONE_NEWUTS;
      continue;
    }
    if (ns.type == CLONE_NEWPID) continue;  // joined by the caller: a pid namespace is entered by children only
    int fd = ::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sysFail(Errc::invalid_argument, "namespace path " + ns.path);
    plan.heldFds_.emplace_back(fd);
    Step& join = plan.add(StepKind::joinNamespaces, "join namespace " + ns.path);
    join.fd = fd;
    join.flags = static_cast<unsigned long>(ns.type);
  }
  if (!newMount) return fail(Errc::invalid_argument, "a container needs a mount namespace of its own");
  for (const NamespaceSpec& ns : spec.namespaces)
    if (ns.type == CLONE_NEWCGROUP && ns.path.empty()) plan.add(StepKind::unshareCgroupNs, "unshare cgroup namespace");
  BERTH_TRYV(plan.addContainerMounts(spec));
  if (newUts && !spec.hostname.empty())
    plan.add(StepKind::hostname, "sethostname " + spec.hostname).data = plan.keep(spec.hostname);
  if (spec.rootReadonly) plan.addMount("remount / read-only", nullptr, "/", nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY);
  BERTH_TRYV(plan.addContainerProcess(spec));
  return plan;
}

}  // namespace berth::ns
