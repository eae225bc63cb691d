#include "namespaces/init_plan.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>

#include <string_view>

#include "common/files.hpp"

namespace berth::ns {

namespace {

constexpr std::string_view kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// Host device nodes bind-mounted into the container's /dev.
constexpr const char* kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

// Kernel information a container must not read (kernel memory, keys, timers
// of other processes, hardware): /dev/null over files, an empty read-only
// tmpfs over directories. The same set as the mainstream runtimes.
constexpr const char* kMaskedFiles[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
                                        "/proc/latency_stats"};
constexpr const char* kMaskedDirs[] = {"/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware",
                                       "/sys/devices/virtual/powercap"};
// Kernel knobs visible but not writable.
constexpr const char* kReadOnlyPaths[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};

Result<void> checkOverlayPath(std::string_view what, const std::string& path) {
  if (path.empty() || path.front() != '/')
    return fail(Errc::invalid_argument, std::string(what) + " must be an absolute path");
  if (path.find_first_of(",:\\") != std::string::npos)
    return fail(Errc::invalid_argument, std::string(what) + " \"" + path + "\" contains ',', ':' or '\\'");
  return {};
}

std::string withoutTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// One path component: a name under a directory, never a way out of it.
bool isPlainName(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

}  // namespace

Result<std::string> overlayOptions(const RootfsSpec& rootfs) {
  BERTH_TRYV(checkOverlayPath("image dir", rootfs.imageDir));
  BERTH_TRYV(checkOverlayPath("upper dir", rootfs.upperDir));
  BERTH_TRYV(checkOverlayPath("work dir", rootfs.workDir));
  return "lowerdir=" + rootfs.imageDir + ",upperdir=" + rootfs.upperDir + ",workdir=" + rootfs.workDir;
}

std::vector<std::string> pathCandidates(const std::string& argv0, const std::vector<std::string>& env) {
  if (argv0.find('/') != std::string::npos) return {argv0};
  std::string_view path = kDefaultPath;
  for (const std::string& entry : env) {
    if (entry.starts_with("PATH=")) path = std::string_view(entry).substr(5);
  }
  std::vector<std::string> candidates;
  for (;;) {
    size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    // An empty entry means the current directory, as in execvp.
    candidates.push_back((dir.empty() ? std::string(".") : std::string(dir)) + "/" + argv0);
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return candidates;
}

bool isContainerExecError(int err) { return err == ENOENT || err == EACCES || err == ENOEXEC || err == ENOTDIR; }

const char* InitPlan::keep(std::string text) { return strings_.emplace_back(std::move(text)).c_str(); }

Step& InitPlan::add(StepKind kind, std::string description) {
  return steps_.emplace_back(Step{.kind = kind, .description = std::move(description)});
}

void InitPlan::addMount(std::string description, const char* source, const char* target, const char* fstype,
                        unsigned long flags, const char* data, bool optional) {
  Step& step = add(StepKind::mount, std::move(description));
  step.source = source;
  step.target = target;
  step.fstype = fstype;
  step.flags = flags;
  step.data = data;
  step.optional = optional;
}

void InitPlan::addDevices(const std::string& merged) {
  const std::string dev = merged + "/dev";
  add(StepKind::makeDir, "mkdir /dev").target = keep(dev);
  // nodev: a node made here (CAP_MKNOD is in the default set) opens nothing;
  // the devices below are bind mounts of their own, unaffected.
  addMount("mount tmpfs on /dev", "tmpfs", keep(dev), "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME,
           "mode=755,size=65536k");
  for (const char* name : kDevices) {
    const std::string inContainer = std::string("/dev/") + name;
    const char* target = keep(dev + "/" + name);
    add(StepKind::makeFile, "create " + inContainer).target = target;
    addMount("bind " + inContainer, keep(inContainer), target, nullptr, MS_BIND);
  }
  add(StepKind::makeDir, "mkdir /dev/pts").target = keep(dev + "/pts");
  addMount("mount devpts on /dev/pts", "devpts", keep(dev + "/pts"), "devpts", MS_NOSUID | MS_NOEXEC,
           "newinstance,ptmxmode=0666,mode=0620");
  add(StepKind::makeDir, "mkdir /dev/shm").target = keep(dev + "/shm");
  addMount("mount tmpfs on /dev/shm", "shm", keep(dev + "/shm"), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
           "mode=1777,size=65536k");
  const std::pair<const char*, const char*> links[] = {{"ptmx", "pts/ptmx"},
                                                       {"fd", "/proc/self/fd"},
                                                       {"stdin", "/proc/self/fd/0"},
                                                       {"stdout", "/proc/self/fd/1"},
                                                       {"stderr", "/proc/self/fd/2"}};
  for (const auto& [name, pointsTo] : links) {
    Step& step = add(StepKind::symlink, std::string("symlink /dev/") + name);
    step.source = pointsTo;
    step.target = keep(dev + "/" + name);
  }
}

void InitPlan::addMaskedAndReadOnlyPaths() {
  for (const char* path : kMaskedFiles)
    addMount(std::string("mask ") + path, "/dev/null", path, nullptr, MS_BIND, nullptr, true);
  for (const char* path : kMaskedDirs)
    addMount(std::string("mask ") + path, "tmpfs", path, "tmpfs", MS_RDONLY, nullptr, true);
  for (const char* path : kReadOnlyPaths) {
    addMount(std::string("bind ") + path, path, path, nullptr, MS_BIND | MS_REC, nullptr, true);
    // A bind remount sets all per-mount flags: keep proc's nosuid, nodev, noexec.
    addMount(std::string("remount ") + path + " read-only", path, path, nullptr,
             MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr, true);
  }
}

void InitPlan::addMakePath(const std::string& path, std::string description) {
  std::vector<char>& copy = buffers_.emplace_back(path.begin(), path.end());
  copy.push_back('\0');
  add(StepKind::makePath, std::move(description)).path = copy.data();
}

Result<void> InitPlan::addCgroupfs(const std::string& at, const std::vector<CgroupMount>& hierarchies,
                                   unsigned long flags) {
  if (hierarchies.empty()) return {};
  const char* root = keep(at);
  if (hierarchies.size() == 1 && hierarchies[0].name.empty()) {
    addMount("mount cgroup2 on " + at, "cgroup2", root, "cgroup2", flags);
    return {};
  }
  // Docker's layout on v1 hosts: a tmpfs holding one mount per hierarchy.
  addMount("mount tmpfs on " + at, "tmpfs", root, "tmpfs", flags & ~MS_RDONLY, "mode=755,size=64k");
  for (const CgroupMount& hierarchy : hierarchies) {
    if (!isPlainName(hierarchy.name))
      return fail(Errc::invalid_argument, "cgroup hierarchy name \"" + hierarchy.name + "\" is not a plain name");
    if (hierarchy.fstype != "cgroup" && hierarchy.fstype != "cgroup2")
      return fail(Errc::invalid_argument,
                  "cgroup hierarchy " + hierarchy.name + " has fstype \"" + hierarchy.fstype + "\"");
    const std::string path = at + "/" + hierarchy.name;
    const char* target = keep(path);
    add(StepKind::makeDir, "mkdir " + path).target = target;
    if (userNamespaceChildSocket_ >= 0) {
      Step& attach = add(StepKind::attachMount, "attach the container's cgroup " + hierarchy.name + " on " + path);
      attach.fd = userNamespaceChildSocket_;
      attach.target = target;
    } else {
      // A v1 hierarchy is found by exactly its controllers; from inside the
      // cgroup namespace its root is the container's group.
      addMount("mount " + hierarchy.fstype + " " + hierarchy.name + " on " + path, keep(hierarchy.fstype), target,
               keep(hierarchy.fstype), flags, hierarchy.controllers.empty() ? nullptr : keep(hierarchy.controllers));
    }
    for (const std::string& alias : hierarchy.aliases) {
      if (!isPlainName(alias))
        return fail(Errc::invalid_argument, "cgroup alias \"" + alias + "\" is not a plain name");
      Step& link = add(StepKind::symlink, "symlink " + at + "/" + alias);
      link.source = keep(hierarchy.name);
      link.target = keep(at + "/" + alias);
    }
  }
  if (flags & MS_RDONLY) addMount("remount " + at + " read-only", nullptr, root, nullptr, MS_BIND | MS_REMOUNT | flags);
  return {};
}

void InitPlan::addExec(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  for (const std::string& arg : argv) argv_.push_back(strings_.emplace_back(arg).data());
  argv_.push_back(nullptr);
  for (const std::string& entry : env) envp_.push_back(strings_.emplace_back(entry).data());
  envp_.push_back(nullptr);
  for (std::string& candidate : pathCandidates(argv[0], env)) execCandidates_.push_back(keep(std::move(candidate)));
  add(StepKind::exec, "exec \"" + argv[0] + "\"");
}

Result<InitPlan> InitPlan::build(const InitSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return fail(Errc::invalid_argument, "spawn: empty command");
  BERTH_TRY(std::string overlay, overlayOptions(spec.rootfs));
  BERTH_TRYV(checkOverlayPath("merged dir", spec.rootfs.mergedDir));
  if (withoutTrailingSlash(spec.rootfs.mergedDir) == "/")
    return fail(Errc::invalid_argument, "merged dir must not be /");
  // In a user namespace the init may not reach the host's path: it works in
  // the root it attached over its cwd (the parent's chdir into the merged dir).
  const std::string merged = spec.userNamespace ? "." : withoutTrailingSlash(spec.rootfs.mergedDir);
  if (spec.userNamespace && spec.netnsFd >= 0)
    return fail(Errc::invalid_argument, "an init in a user namespace has a network namespace of its own");
  if (spec.hostname.size() > HOST_NAME_MAX)
    return fail(Errc::invalid_argument, "hostname longer than " + std::to_string(HOST_NAME_MAX) + " characters");

  InitPlan plan;
  plan.cloneNamespaces_ = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC;
  plan.cloneCgroupFd_ = spec.cgroupFd;
  if (spec.netnsFd >= 0) {
    plan.add(StepKind::joinNetns, "join network namespace").fd = spec.netnsFd;
  } else {
    plan.cloneNamespaces_ |= CLONE_NEWNET;
  }
  if (spec.userNamespace) {
    plan.cloneNamespaces_ |= CLONE_NEWUSER;
    // Opened here, by the host's root: the init in its namespace may write
    // "0" to a file opened so (the kernel checks the opener's credentials)
    // but could not open it itself. A pid written by us instead would take
    // the threadgroup lock and wait out a grace period.
    for (const std::string& file : spec.cgroupJoinFiles) {
      UniqueFd opened(::open(file.c_str(), O_WRONLY | O_CLOEXEC));
      if (!opened) return sysFail(Errc::host_refused, "open " + file);
      Step& join = plan.add(StepKind::joinCgroup, "join cgroup " + file);
      join.fd = plan.heldFds_.emplace_back(std::move(opened)).get();
    }
    BERTH_TRYV(plan.addUserNamespaceRoot());
  } else {
    for (const std::string& procs : spec.cgroupJoinFiles)
      plan.add(StepKind::joinCgroup, "join cgroup " + procs).target = plan.keep(procs);
    // Everything below happens in the new mount namespace; with "/" private, none of it propagates back to the host.
    plan.addMount("make / private", nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
    plan.add(StepKind::unshareCgroupNs, "unshare cgroup namespace");
    // nodev: with CAP_MKNOD a container could otherwise make and open a host disk's node.
    plan.addMount("mount overlay on " + merged, "overlay", plan.keep(merged), "overlay", MS_NODEV, plan.keep(overlay));
  }
  plan.add(StepKind::makeDir, "mkdir /proc").target = plan.keep(merged + "/proc");
  plan.addMount("mount proc on /proc", "proc", plan.keep(merged + "/proc"), "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV);
  plan.addDevices(merged);
  plan.add(StepKind::makeDir, "mkdir /sys").target = plan.keep(merged + "/sys");
  plan.addMount("mount sysfs on /sys", "sysfs", plan.keep(merged + "/sys"), "sysfs",
                MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  for (const FileBind& file : spec.files) {
    if (file.target.empty() || file.target.front() != '/' || file.target.find("..") != std::string::npos)
      return fail(Errc::invalid_argument, "file target \"" + file.target + "\" must be an absolute path without ..");
    const std::string target = merged + file.target;
    plan.add(StepKind::makeDir, "mkdir " + file.target.substr(0, file.target.rfind('/'))).target =
        plan.keep(target.substr(0, target.rfind('/')));
    plan.add(StepKind::makeFile, "create " + file.target).target = plan.keep(target);
    if (spec.userNamespace) {
      // The source's dirs may not be searched by the namespace's root: the parent sends the file's mount.
      Step& attach = plan.add(StepKind::attachMount, "bind " + file.target);
      attach.fd = plan.userNamespaceChildSocket_;
      attach.target = plan.keep(target);
    } else {
      plan.addMount("bind " + file.target, plan.keep(file.source), plan.keep(target), nullptr, MS_BIND);
    }
  }
  plan.add(StepKind::pivotRoot, "pivot_root into " + merged).target = plan.keep(merged);
  if (!spec.hostname.empty())
    plan.add(StepKind::hostname, "sethostname " + spec.hostname).data = plan.keep(spec.hostname);
  // After pivot_root: a symlink in the image resolves inside the container.
  // Nothing in /sys/fs/cgroup is the container's to change: its limits are the host's decision.
  BERTH_TRYV(plan.addCgroupfs("/sys/fs/cgroup", spec.cgroupMounts, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
  plan.add(StepKind::makeDir, "mkdir /run").target = "/run";
  plan.addMount("mount tmpfs on /run", "tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                "mode=755,size=65536k");
  for (const MountSpec& mount : spec.mounts) {
    if (mount.type.empty() || mount.type == "bind" || (mount.flags & (MS_BIND | MS_MOVE | MS_REMOUNT)) != 0)
      return fail(Errc::invalid_argument, "mount on \"" + mount.destination + "\": only filesystems, no binds");
    if (mount.destination.size() < 2 || mount.destination.front() != '/' ||
        mount.destination.find("..") != std::string::npos)
      return fail(Errc::invalid_argument,
                  "mount destination \"" + mount.destination + "\" must be an absolute path without ..");
    const char* target = plan.keep(withoutTrailingSlash(mount.destination));
    plan.addMakePath(target, "mkdir " + mount.destination);
    plan.addMount("mount " + mount.type + " on " + mount.destination,
                  plan.keep(mount.source.empty() ? mount.type : mount.source), target, plan.keep(mount.type),
                  mount.flags, mount.data.empty() ? nullptr : plan.keep(mount.data));
  }
  plan.addMaskedAndReadOnlyPaths();
  plan.add(StepKind::loopbackUp, "bring up lo");

  const int given[3] = {spec.stdinFd, spec.stdoutFd, spec.stderrFd};
  BERTH_TRYV(plan.addStdio(given));
  const std::string workingDir = spec.workingDir.empty() ? "/" : spec.workingDir;
  plan.add(StepKind::workingDir, "working dir \"" + workingDir + "\"").target = plan.keep(workingDir);
  plan.add(StepKind::newSession, "setsid");
  BERTH_TRYV(plan.addSecurity(spec.seccompFilter, spec.user, spec.umask));
  plan.addExec(spec.argv, spec.env);
  return plan;
}

Result<void> InitPlan::addUserNamespaceRoot() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
    return sysFail(Errc::host_refused, "socketpair for the user namespace's root");
  userNamespaceSocket_ = UniqueFd(fds[0]);
  UniqueFd& childEnd = heldFds_.emplace_back(fds[1]);
  userNamespaceChildSocket_ = childEnd.get();
  add(StepKind::awaitUserNamespace, "wait for the user namespace's id maps and root").fd = childEnd.get();
  addMount("make / private", nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
  add(StepKind::unshareCgroupNs, "unshare cgroup namespace");
  add(StepKind::attachRoot, "attach the idmapped root");
  return {};
}

Result<InitPlan> InitPlan::buildExec(const ExecSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) return fail(Errc::invalid_argument, "exec: empty command");
  if (spec.initPidfd < 0) return fail(Errc::invalid_argument, "exec: no init to join");
  InitPlan plan;
  plan.cloneCgroupFd_ = spec.cgroupFd;
  // While the paths are still the host's: the other hierarchies' groups.
  for (const std::string& procs : spec.cgroupJoinFiles)
    plan.add(StepKind::joinCgroup, "join cgroup " + procs).target = plan.keep(procs);
  // The pid namespace came with clone; the cgroup namespace last, so its root is the group joined.
  Step& join = plan.add(StepKind::joinNamespaces, "join the container's namespaces");
  join.fd = spec.initPidfd;
  join.flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP;
  // setns enters the user namespace first, so the others are joined with its capabilities.
  if (spec.joinUserNamespace) join.flags |= CLONE_NEWUSER;
  if (spec.process) {
    // An OCI exec: the process's own identity and profile.
    if (spec.consoleSocketFd >= 0) {
      plan.addConsoleOrStdio(spec.consoleSocketFd, nullptr);
    } else {
      const int given[3] = {spec.stdinFd, spec.stdoutFd, spec.stderrFd};
      BERTH_TRYV(plan.addStdio(given));
      plan.add(StepKind::newSession, "setsid");
    }
    BERTH_TRYV(plan.addProcessIdentity(*spec.process));
    if (spec.process->noNewPrivileges) plan.add(StepKind::noNewPrivs, "set no_new_privs");
    if (!spec.process->seccompFilter.empty()) plan.add(StepKind::seccomp, "load seccomp filter");
    plan.addExec(spec.argv, spec.env);
    return plan;
  }
  const int given[3] = {spec.stdinFd, spec.stdoutFd, spec.stderrFd};
  BERTH_TRYV(plan.addStdio(given));
  // A session of its own: a timeout ends the whole process group, a terminal gets its job control.
  plan.add(StepKind::newSession, "setsid");
  if (spec.controllingTerminal) plan.add(StepKind::controllingTerminal, "set the controlling terminal");
  const std::string workingDir = spec.workingDir.empty() ? "/" : spec.workingDir;
  plan.add(StepKind::workingDir, "working dir \"" + workingDir + "\"").target = plan.keep(workingDir);
  BERTH_TRYV(plan.addSecurity(spec.seccompFilter, spec.user, spec.umask));
  plan.addExec(spec.argv, spec.env);
  return plan;
}

Result<void> InitPlan::addStdio(const int (&given)[3]) {
  for (int i = 0; i < 3; ++i) {
    if (given[i] >= 0) {
      stdio_[i] = given[i];
      continue;
    }
    if (!devNull_) {
      BERTH_TRY(devNull_, openFile("/dev/null", O_RDWR));
    }
    stdio_[i] = devNull_.get();
  }
  add(StepKind::stdio, "set up stdio");
  return {};
}

Result<void> InitPlan::addSecurity(std::vector<sock_filter> compiledFilter, const std::optional<ProcessUser>& user,
                                   std::optional<mode_t> umask) {
  BERTH_TRY(security_, prepareSecurity(std::move(compiledFilter)));
  add(StepKind::capabilities, "limit capabilities");
  // After the limit, which keeps CAP_SETUID and CAP_SETGID; a uid other than
  // 0 then leaves the process no effective capability, as in the mainstream runtimes.
  if (user) {
    groups_ = user->groups;
    Step& step = add(StepKind::setUser, "set user " + std::to_string(user->uid) + ":" + std::to_string(user->gid));
    step.soft = user->uid;
    step.hard = user->gid;
  }
  if (umask) add(StepKind::setUmask, "set umask").flags = *umask;
  add(StepKind::noNewPrivs, "set no_new_privs");
  add(StepKind::seccomp, "load seccomp filter");
  return {};
}

Error InitPlan::failure(const ChildReport& report) const {
  if (report.step >= steps_.size())
    return Error{Errc::internal, report.err, "container init reported unknown step " + std::to_string(report.step)};
  const Step& step = steps_[report.step];
  const bool containerFault =
      step.kind == StepKind::workingDir || (step.kind == StepKind::exec && isContainerExecError(report.err));
  return Error{containerFault ? Errc::container_config : Errc::host_refused, report.err, step.description};
}

}  // namespace berth::ns
