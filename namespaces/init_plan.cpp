#include "namespaces/init_plan.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <sys/mount.h>

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
  if (path.empty() || path.front() != '/') return fail(Errc::invalid_argument, std::string(what) + " must be an absolute path");
  if (path.find_first_of(",:\\") != std::string::npos)
    return fail(Errc::invalid_argument, std::string(what) + " \"" + path + "\" contains ',', ':' or '\\'");
  return {};
}

std::string withoutTrailingSlash(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
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

bool isContainerExecError(int err) {
  return err == ENOENT || err == EACCES || err == ENOEXEC || err == ENOTDIR;
}

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
  const std::string merged = withoutTrailingSlash(spec.rootfs.mergedDir);
  if (merged == "/") return fail(Errc::invalid_argument, "merged dir must not be /");
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
  for (const std::string& procs : spec.cgroupJoinFiles)
    plan.add(StepKind::joinCgroup, "join cgroup " + procs).target = plan.keep(procs);
  // Everything below happens in the new mount namespace; with "/" private,
  // none of it propagates back to the host.
  plan.addMount("make / private", nullptr, "/", nullptr, MS_REC | MS_PRIVATE);
  plan.add(StepKind::unshareCgroupNs, "unshare cgroup namespace");
  // nodev: with CAP_MKNOD a container could otherwise make and open a host disk's node.
  plan.addMount("mount overlay on " + merged, "overlay", plan.keep(merged), "overlay", MS_NODEV, plan.keep(overlay));
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
    plan.add(StepKind::makeDir, "mkdir " + file.target.substr(0, file.target.rfind('/')))
        .target = plan.keep(target.substr(0, target.rfind('/')));
    plan.add(StepKind::makeFile, "create " + file.target).target = plan.keep(target);
    plan.addMount("bind " + file.target, plan.keep(file.source), plan.keep(target), nullptr, MS_BIND);
  }
  plan.add(StepKind::pivotRoot, "pivot_root into " + merged).target = plan.keep(merged);
  if (!spec.hostname.empty()) plan.add(StepKind::hostname, "sethostname " + spec.hostname).data = plan.keep(spec.hostname);
  plan.addMaskedAndReadOnlyPaths();
  plan.add(StepKind::loopbackUp, "bring up lo");

  const int given[3] = {spec.stdinFd, spec.stdoutFd, spec.stderrFd};
  BERTH_TRYV(plan.addStdio(given));
  const std::string workingDir = spec.workingDir.empty() ? "/" : spec.workingDir;
  plan.add(StepKind::workingDir, "working dir \"" + workingDir + "\"").target = plan.keep(workingDir);
  plan.add(StepKind::newSession, "setsid");
  BERTH_TRYV(plan.addSecurity(spec.seccompFilter));
  plan.addExec(spec.argv, spec.env);
  return plan;
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
  if (spec.process) {
    // An OCI exec: the process's own identity and profile.
    if (spec.consoleSocketFd >= 0) {
      plan.addConsoleOrStdio(spec.consoleSocketFd);
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
  BERTH_TRYV(plan.addSecurity(spec.seccompFilter));
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

Result<void> InitPlan::addSecurity(std::vector<sock_filter> compiledFilter) {
  BERTH_TRY(security_, prepareSecurity(std::move(compiledFilter)));
  add(StepKind::capabilities, "limit capabilities");
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
