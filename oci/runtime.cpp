#include "oci/runtime.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "common/process.hpp"
#include "common/scope_guard.hpp"
#include "namespaces/container_spec.hpp"
#include "namespaces/init_plan.hpp"
#include "namespaces/oci_seccomp.hpp"
#include "namespaces/spawn.hpp"
#include "oci/spec.hpp"

extern char** environ;

namespace berth::oci {

using nlohmann::json;

namespace {

constexpr const char* kOciVersion = "1.0.2";
// The driver's root and group when linux.cgroupsPath says nothing (or only a relative name).
constexpr const char* kDefaultCgroupRoot = "berth-oci";
constexpr auto kFreezeTimeout = std::chrono::seconds(5);
constexpr auto kKillTimeout = std::chrono::seconds(10);
// How long `start` waits for the init at its gate.
constexpr int kStartGateMs = 10000;

std::string stateFile(const std::string& dir) { return dir + "/state.json"; }
std::string fifoFile(const std::string& dir) { return dir + "/start.fifo"; }

json stateToJson(const ContainerState& state) {
  return json{{"id", state.id},
              {"pid", state.pid},
              {"pid_start_time", state.pidStartTime},
              {"bundle", state.bundle},
              {"rootfs", state.rootfs},
              {"created", state.created},
              {"annotations", state.annotations},
              {"cgroup_root", state.cgroupRoot},
              {"cgroup_name", state.cgroupName}};
}

Result<ContainerState> stateFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    ContainerState state;
    state.id = j.at("id").get<std::string>();
    state.pid = j.at("pid").get<pid_t>();
    state.pidStartTime = j.at("pid_start_time").get<uint64_t>();
    state.bundle = j.at("bundle").get<std::string>();
    state.rootfs = j.at("rootfs").get<std::string>();
    state.created = j.at("created").get<UnixMillis>();
    state.annotations = j.at("annotations").get<std::map<std::string, std::string>>();
    state.cgroupRoot = j.at("cgroup_root").get<std::string>();
    state.cgroupName = j.at("cgroup_name").get<std::string>();
    return state;
  } catch (const json::exception& e) {
    return fail(Errc::internal, std::string("bad container state: ") + e.what());
  }
}

// The group of a cgroupsPath: the driver's root is all but its last part.
struct CgroupPlace {
  std::string root;
  std::string name;
};

CgroupPlace cgroupPlaceOf(const Linux& linux, const std::string& id) {
  const CgroupsPath& path = linux.cgroups;
  if (path.systemd) {
    // No systemd here: the unit's place in the cgroupfs tree, as systemd would make it.
    return CgroupPlace{path.slice.empty() ? std::string("system.slice") : path.slice, path.unitName()};
  }
  if (path.empty()) return CgroupPlace{kDefaultCgroupRoot, id};
  std::string text = path.path;
  while (!text.empty() && text.front() == '/') text.erase(0, 1);
  // A relative path, and an absolute one of one part (the driver wants a root below the hierarchy's), go under ours.
  if (!path.absolute || text.find('/') == std::string::npos) text = std::string(kDefaultCgroupRoot) + "/" + text;
  const size_t slash = text.rfind('/');
  return CgroupPlace{text.substr(0, slash), text.substr(slash + 1)};
}

Result<std::vector<sock_filter>> filterOf(const Linux& linux) {
  if (!linux.seccomp) return std::vector<sock_filter>{};
  return ns::compileSeccompProfile(*linux.seccomp);
}

ns::ContainerProcess processOf(const Process& process, std::vector<sock_filter> filter) {
  ns::ContainerProcess out;
  out.args = process.args;
  out.env = process.env;
  out.cwd = process.cwd;
  out.uid = process.user.uid;
  out.gid = process.user.gid;
  out.additionalGids.assign(process.user.additionalGids.begin(), process.user.additionalGids.end());
  if (process.user.umask) out.umask = static_cast<mode_t>(*process.user.umask);
  if (process.capabilities) {
    out.capabilities = *process.capabilities;
  } else {
    const uint64_t defaults = ns::defaultCapabilities();
    out.capabilities = {defaults, defaults, 0, defaults, 0};
  }
  for (const Rlimit& limit : process.rlimits) out.rlimits.push_back({limit.resource, limit.soft, limit.hard});
  out.noNewPrivileges = process.noNewPrivileges;
  out.seccompFilter = std::move(filter);
  return out;
}

Result<ns::ContainerSpec> containerSpecOf(const Spec& spec) {
  // Hooks run inside the container's namespaces before its process: not done yet, so refused rather than skipped.
  if (!spec.hooks.createContainer.empty()) return fail(Errc::invalid_argument, "hooks.createContainer is not supported by berth-oci");
  if (!spec.hooks.startContainer.empty()) return fail(Errc::invalid_argument, "hooks.startContainer is not supported by berth-oci");
  ns::ContainerSpec out;
  out.rootfs = spec.root.path;
  out.rootReadonly = spec.root.readonly;
  out.rootPropagation = spec.linuxSpec.rootfsPropagation;
  out.hostname = spec.hostname;
  for (const Namespace& ns : spec.linuxSpec.namespaces) {
    if (ns.type == NamespaceType::user || ns.type == NamespaceType::time)
      return fail(Errc::invalid_argument, "linux.namespaces: a " + std::string(namespaceTypeName(ns.type)) +
                                              " namespace is not supported by berth-oci yet");
    out.namespaces.push_back({cloneFlagOf(ns.type), ns.path});
  }
  for (const Mount& mount : spec.mounts) {
    if (mount.parsed.tmpcopyup) return fail(Errc::invalid_argument, "mount " + mount.destination + ": tmpcopyup is not supported");
    ns::MountSpec m;
    m.destination = mount.destination;
    m.type = mount.isBind() ? "bind" : mount.type;
    m.source = mount.source;
    m.flags = mount.parsed.flags;
    m.propagation = mount.parsed.propagation;
    m.data = mount.parsed.data;
    out.mounts.push_back(std::move(m));
  }
  for (const Device& device : spec.linuxSpec.devices) {
    ns::DeviceSpec d;
    d.path = device.path;
    d.type = device.type == 'u' ? 'c' : device.type;
    d.major = static_cast<uint32_t>(device.major);
    d.minor = static_cast<uint32_t>(device.minor);
    d.fileMode = device.fileMode.value_or(0666);
    d.uid = device.uid.value_or(0);
    d.gid = device.gid.value_or(0);
    out.devices.push_back(std::move(d));
  }
  out.maskedPaths = spec.linuxSpec.maskedPaths;
  out.readonlyPaths = spec.linuxSpec.readonlyPaths;
  out.sysctl = spec.linuxSpec.sysctl;
  BERTH_TRY(auto filter, filterOf(spec.linuxSpec));
  out.process = processOf(spec.process, std::move(filter));
  return out;
}

Result<UniqueFd> connectUnix(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return fail(Errc::invalid_argument, "console socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) return sysFail("socket");
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return sysFail(Errc::invalid_argument, "connect to the console socket " + path);
  return socket;
}

std::string stateJsonOf(const ContainerState& state, Status status) {
  json j{{"ociVersion", kOciVersion},
         {"id", state.id},
         {"status", std::string(statusName(status))},
         {"pid", status == Status::stopped ? 0 : state.pid},
         {"bundle", state.bundle},
         {"rootfs", state.rootfs},
         {"created", formatIsoMillis(state.created)},
         {"annotations", state.annotations}};
  return j.dump();
}

// Writes what the reader takes: a reader that is gone is EPIPE, and the
// SIGPIPE it raises is consumed here rather than ending the runtime (which
// would leave a half-made container behind).
void writeWithoutSigpipe(int fd, std::string_view data) {
  sigset_t pipeOnly, saved;
  ::sigemptyset(&pipeOnly);
  ::sigaddset(&pipeOnly, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipeOnly, &saved);
  const bool pendingBefore = [&] {
    sigset_t pending;
    return ::sigpending(&pending) == 0 && ::sigismember(&pending, SIGPIPE) == 1;
  }();
  while (!data.empty()) {
    ssize_t written = ::write(fd, data.data(), data.size());
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) break;
    data.remove_prefix(static_cast<size_t>(written));
  }
  if (!pendingBefore) {
    const timespec now{0, 0};
    (void)::sigtimedwait(&pipeOnly, nullptr, &now);
  }
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

// A hook: its program with the state on stdin, bounded by its timeout.
Result<void> runHook(const Hook& hook, const std::string& stateJson, std::string_view phase) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail("pipe2 for a hook");
  UniqueFd readEnd(fds[0]);
  UniqueFd writeEnd(fds[1]);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, readEnd.get(), 0);
  std::vector<std::string> args = hook.args.empty() ? std::vector<std::string>{hook.path} : hook.args;
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = hook.env;
  std::vector<char*> envp;
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, hook.path.c_str(), &actions, nullptr, argv.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return sysFail(Errc::invalid_argument, std::string(phase) + " hook " + hook.path, err);
  readEnd.reset();
  BERTH_TRY(UniqueFd pidfd, openPidfd(pid));
  ChildProcess child(pid, std::move(pidfd));
  writeWithoutSigpipe(writeEnd.get(), stateJson);  // a hook need not read it
  writeEnd.reset();
  BERTH_TRY(auto status, child.wait(std::chrono::seconds(hook.timeout.value_or(30))));
  if (!status) return fail(Errc::deadline_exceeded, std::string(phase) + " hook " + hook.path + " timed out");
  if (status->exitCode != 0)
    return fail(Errc::invalid_argument,
                std::string(phase) + " hook " + hook.path + " exited with " + std::to_string(status->exitCode));
  return {};
}

Result<void> runHooks(const std::vector<Hook>& hooks, const std::string& stateJson, std::string_view phase) {
  for (const Hook& hook : hooks) BERTH_TRYV(runHook(hook, stateJson, phase));
  return {};
}

// runc's rule: create fails when the command is not there (its init looks it
// up before the start gate), rather than start succeeding and the init dying
// at exec with nobody to tell. Looked up where the init will exec it, in its
// root (/proc/<pid>/root: its mounts made, pivot_root done), along process.env's
// PATH as exec does. A candidate relative to the working dir, or one that
// cannot be judged, is left to exec.
Result<void> checkCommandExists(pid_t init, const Process& process) {
  const std::string root = "/proc/" + std::to_string(init) + "/root";
  UniqueFd rootFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootFd) return sysFail("open " + root);
  int err = ENOENT;
  for (const std::string& candidate : ns::pathCandidates(process.args[0], process.env)) {
    if (candidate.front() != '/') return {};
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_IN_ROOT;
    UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, rootFd.get(), candidate.c_str(), &how, sizeof how)));
    if (!fd) {
      if (errno == ENOENT || errno == ENOTDIR) continue;
      return {};
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || (S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0)) return {};
    err = EACCES;  // there, but no executable file: exec goes on along PATH as well
  }
  return sysFail(Errc::invalid_argument, "exec \"" + process.args[0] + "\" in the container", err);
}

Result<cgroup::Group> groupOf(const ContainerState& state) {
  BERTH_TRY(auto driver, cgroup::Driver::detect(state.cgroupRoot));
  return driver.openGroup(state.cgroupName);
}

}  // namespace

std::string_view statusName(Status status) {
  switch (status) {
    case Status::creating: return "creating";
    case Status::created: return "created";
    case Status::running: return "running";
    case Status::paused: return "paused";
    case Status::stopped: return "stopped";
  }
  return "unknown";
}

bool isValidContainerId(const std::string& id) {
  if (id.empty() || id.size() > 1024 || id.front() == '.') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '+' ||
           c == '-' || c == '.';
  });
}

std::optional<uint64_t> processStartTime(pid_t pid) {
  auto text = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return std::nullopt;
  // The command may hold spaces and parentheses: fields count from the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::string rest = text->substr(close + 2);
  // rest begins at field 3 (state); starttime is field 22.
  size_t position = 0;
  for (int field = 3; field < 22; ++field) {
    position = rest.find(' ', position);
    if (position == std::string::npos) return std::nullopt;
    ++position;
  }
  // A zombie still has its start time: it has exited all the same.
  if (!rest.empty() && (rest[0] == 'Z' || rest[0] == 'X')) return std::nullopt;
  return std::strtoull(rest.c_str() + position, nullptr, 10);
}

Result<int> parseSignal(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int number = std::atoi(text.c_str());
    if (number < 1 || number >= NSIG) return fail(Errc::invalid_argument, "invalid signal number " + text);
    return number;
  }
  std::string name = text;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
  if (name.starts_with("SIG")) name.erase(0, 3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    if (abbrev && name == abbrev) return sig;
  }
  return fail(Errc::invalid_argument, "unknown signal \"" + text + "\"");
}

Result<ContainerState> Runtime::load(const std::string& id) const {
  if (!isValidContainerId(id)) return fail(Errc::invalid_argument, "invalid container id \"" + id + "\"");
  auto text = readFile(stateFile(dirOf(id)));
  if (!text) {
    if (text.error().sysErrno == ENOENT) return fail(Errc::not_found, "container \"" + id + "\" does not exist");
    return tl::unexpected(text.error());
  }
  return stateFromJson(*text);
}

Status Runtime::statusOf(const ContainerState& state) const {
  auto started = processStartTime(state.pid);
  if (!started || *started != state.pidStartTime) return Status::stopped;
  if (pathExists(fifoFile(dirOf(state.id)))) return Status::created;
  if (auto group = groupOf(state); group && group->frozen().value_or(false)) return Status::paused;
  return Status::running;
}

Result<void> Runtime::create(const std::string& id, const CreateOptions& options) {
  if (!isValidContainerId(id)) return fail(Errc::invalid_argument, "invalid container id \"" + id + "\"");
  if (options.bundle.empty()) return fail(Errc::invalid_argument, "--bundle is required");
  BERTH_TRY(Spec spec, loadBundleSpec(options.bundle, ParseOptions{options_.systemdCgroup}));
  BERTH_TRY(ns::ContainerSpec container, containerSpecOf(spec));

  BERTH_TRYV(makeDirs(options_.root, 0700));
  const std::string dir = dirOf(id);
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return fail(Errc::already_exists, "container \"" + id + "\" already exists");
    return sysFail("mkdir " + dir);
  }
  ScopeGuard dropDir([&] { (void)removeTree(dir); });
  // The init writes to it once it is the spec's user: writable by all, as runc's (the dir is root's alone).
  if (::mkfifo(fifoFile(dir).c_str(), 0622) != 0) return sysFail("mkfifo " + fifoFile(dir));
  if (::chmod(fifoFile(dir).c_str(), 0622) != 0) return sysFail("chmod " + fifoFile(dir));
  container.startFifo = fifoFile(dir);

  const CgroupPlace place = cgroupPlaceOf(spec.linuxSpec, id);
  BERTH_TRY(auto driver, cgroup::Driver::detect(place.root));
  BERTH_TRY(auto group, driver.createGroup(place.name));
  BERTH_TRYV(withContext(group->setLimits(limitsOf(spec.linuxSpec.resources)), "linux.resources"));
  BERTH_TRYV(withContext(group->setDevices(deviceRulesOf(spec.linuxSpec.resources)), "linux.resources.devices"));
  for (const cgroup::Hierarchy& hierarchy : driver.containerHierarchies())
    container.cgroupMounts.push_back({hierarchy.name, hierarchy.fstype, hierarchy.controllers, hierarchy.aliases});
  UniqueFd cgroupDir(::open(group->v2Path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroupDir) return sysFail("open " + group->v2Path());
  container.cgroupFd = cgroupDir.get();
  container.cgroupJoinFiles = group->v1JoinFiles();
  UniqueFd console;
  if (!options.consoleSocket.empty()) {
    BERTH_TRY(console, connectUnix(options.consoleSocket));
    container.consoleSocketFd = console.get();
  }

  BERTH_TRY(ChildProcess init, ns::createContainer(container));
  console.reset();
  BERTH_TRYV(checkCommandExists(init.pid(), spec.process));
  if (spec.process.oomScoreAdj) {
    BERTH_TRYV(writeFile("/proc/" + std::to_string(init.pid()) + "/oom_score_adj",
                         std::to_string(*spec.process.oomScoreAdj)));
  }
  ContainerState state;
  state.id = id;
  state.pid = init.pid();
  state.pidStartTime = processStartTime(init.pid()).value_or(0);
  state.bundle = options.bundle;
  state.rootfs = spec.root.path;
  state.created = nowMillis();
  state.annotations = spec.annotations;
  state.cgroupRoot = place.root;
  state.cgroupName = place.name;
  const std::string created = stateJsonOf(state, Status::created);
  BERTH_TRYV(runHooks(spec.hooks.prestart, created, "prestart"));
  BERTH_TRYV(runHooks(spec.hooks.createRuntime, created, "createRuntime"));
  BERTH_TRYV(writeFileAtomic(stateFile(dir), stateToJson(state).dump(), 0600, Durability::processCrash));
  if (!options.pidFile.empty())
    BERTH_TRYV(writeFileAtomic(options.pidFile, std::to_string(init.pid()), 0644, Durability::processCrash));
  // From here on the container is the caller's: its init lives on, the group and the state stay.
  std::move(group).commit();
  dropDir.dismiss();
  (void)init.release();
  return {};
}

Result<void> Runtime::start(const std::string& id) {
  BERTH_TRY(ContainerState state, load(id));
  Status status = statusOf(state);
  if (status == Status::stopped) return fail(Errc::state_conflict, "cannot start a container that has stopped");
  if (status != Status::created)
    return fail(Errc::state_conflict, "cannot start a container in the " + std::string(statusName(status)) + " state");
  const std::string fifo = fifoFile(dirOf(id));
  // Not blocking: an init that died at the gate must not hang us.
  UniqueFd gate(::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!gate) return sysFail("open " + fifo);
  pollfd pfd{gate.get(), POLLIN, 0};
  int n = ::poll(&pfd, 1, kStartGateMs);
  if (n < 0) return sysFail("poll " + fifo);
  char byte = 0;
  if (n == 0 || ::read(gate.get(), &byte, 1) != 1)
    return fail(Errc::state_conflict, "container \"" + id + "\" did not pass its start gate: the init is gone");
  if (::unlink(fifo.c_str()) != 0) return sysFail("unlink " + fifo);
  auto spec = loadBundleSpec(state.bundle, ParseOptions{options_.systemdCgroup});
  if (spec) (void)runHooks(spec->hooks.poststart, stateJsonOf(state, Status::running), "poststart");
  return {};
}

Result<std::string> Runtime::state(const std::string& id) {
  BERTH_TRY(ContainerState state, load(id));
  return stateJsonOf(state, statusOf(state));
}

Result<void> Runtime::kill(const std::string& id, const std::string& signalText, bool all) {
  BERTH_TRY(int sig, parseSignal(signalText));
  BERTH_TRY(ContainerState state, load(id));
  if (all) {
    auto group = groupOf(state);
    if (!group) return fail(Errc::state_conflict, "container not running");
    BERTH_TRY(auto pids, group->pids());
    for (pid_t pid : pids) (void)::kill(pid, sig);
    return {};
  }
  if (statusOf(state) == Status::stopped) return fail(Errc::state_conflict, "container not running");
  BERTH_TRY(UniqueFd pidfd, openPidfd(state.pid));
  // The start time was checked before the pidfd was opened: check the pidfd's process again.
  if (processStartTime(state.pid) != state.pidStartTime) return fail(Errc::state_conflict, "container not running");
  if (::syscall(SYS_pidfd_send_signal, pidfd.get(), sig, nullptr, 0) != 0) {
    if (errno == ESRCH) return fail(Errc::state_conflict, "container not running");
    return sysFail("signal " + std::to_string(sig) + " to " + std::to_string(state.pid));
  }
  return {};
}

Result<void> Runtime::remove(const std::string& id, bool force) {
  BERTH_TRY(ContainerState state, load(id));
  Status status = statusOf(state);
  if ((status == Status::running || status == Status::paused) && !force)
    return fail(Errc::state_conflict, "cannot delete container " + id + " that is not stopped: " +
                                          std::string(statusName(status)));
  auto group = groupOf(state);
  if (group) {
    // A created container goes like a forced one (runc's rule, which containerd relies on).
    if (status != Status::stopped) BERTH_TRYV(withContext(group->killAll(kKillTimeout), "kill the container"));
    if (group->frozen().value_or(false)) (void)group->thaw(kFreezeTimeout);
    BERTH_TRYV(withContext(group->waitEmpty(kKillTimeout), "wait for the container's processes"));
    BERTH_TRYV(withContext(group->destroy(), "remove the container's cgroup"));
  } else if (group.error().code != Errc::not_found) {
    return tl::unexpected(group.error());
  }
  auto spec = loadBundleSpec(state.bundle, ParseOptions{options_.systemdCgroup});
  if (spec) (void)runHooks(spec->hooks.poststop, stateJsonOf(state, Status::stopped), "poststop");
  return removeTree(dirOf(id));
}

Result<std::vector<pid_t>> Runtime::processes(const std::string& id) {
  BERTH_TRY(ContainerState state, load(id));
  auto group = groupOf(state);
  if (!group) return std::vector<pid_t>{};
  return group->pids();
}

Result<void> Runtime::pause(const std::string& id) {
  BERTH_TRY(ContainerState state, load(id));
  if (statusOf(state) != Status::running) return fail(Errc::state_conflict, "container not running");
  BERTH_TRY(auto group, groupOf(state));
  return group.freeze(kFreezeTimeout);
}

Result<void> Runtime::resume(const std::string& id) {
  BERTH_TRY(ContainerState state, load(id));
  if (statusOf(state) != Status::paused) return fail(Errc::state_conflict, "container not paused");
  BERTH_TRY(auto group, groupOf(state));
  return group.thaw(kFreezeTimeout);
}

Result<int> Runtime::exec(const std::string& id, const ExecOptions& options) {
  BERTH_TRY(ContainerState state, load(id));
  if (statusOf(state) != Status::running) return fail(Errc::state_conflict, "container not running");
  BERTH_TRY(std::string processText, readFile(options.processFile));
  BERTH_TRY(Spec bundle, loadBundleSpec(state.bundle, ParseOptions{options_.systemdCgroup}));
  // The process object is read as a spec's own, so its rules are the same.
  json wrapper{{"ociVersion", kOciVersion}, {"root", {{"path", state.rootfs}}}};
  try {
    wrapper["process"] = json::parse(processText);
  } catch (const json::exception& e) {
    return fail(Errc::invalid_argument, std::string("--process: ") + e.what());
  }
  BERTH_TRY(Spec parsed, withContext(parseSpec(wrapper.dump()), "--process"));
  BERTH_TRY(auto group, groupOf(state));
  BERTH_TRY(UniqueFd initPidfd, openPidfd(state.pid));
  UniqueFd cgroupDir(::open(group.v2Path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroupDir) return sysFail("open " + group.v2Path());
  BERTH_TRY(auto filter, filterOf(bundle.linuxSpec));

  ns::ExecSpec spec;
  spec.initPidfd = initPidfd.get();
  spec.cgroupFd = cgroupDir.get();
  spec.cgroupJoinFiles = group.v1JoinFiles();
  spec.process = processOf(parsed.process, std::move(filter));
  spec.argv = spec.process->args;
  spec.env = spec.process->env;
  spec.workingDir = spec.process->cwd;
  spec.stdinFd = 0;
  spec.stdoutFd = 1;
  spec.stderrFd = 2;
  UniqueFd console;
  if (!options.consoleSocket.empty()) {
    BERTH_TRY(console, connectUnix(options.consoleSocket));
    spec.consoleSocketFd = console.get();
  }
  BERTH_TRY(ns::ExecStart started, ns::spawnExec(spec));
  if (auto* notRun = std::get_if<ns::CommandNotRun>(&started))
    return tl::unexpected(Error{Errc::invalid_argument, notRun->err, notRun->description + ": executable file not found", Detail::none});
  ChildProcess& child = std::get<ChildProcess>(started);
  if (!options.pidFile.empty())
    BERTH_TRYV(writeFileAtomic(options.pidFile, std::to_string(child.pid()), 0644, Durability::processCrash));
  if (options.detach) {
    (void)child.release();  // the caller (a subreaper) reaps it
    return 0;
  }
  BERTH_TRY(auto status, child.wait());
  return status ? status->exitCode : 255;
}

Result<void> Runtime::update(const std::string& id, const std::string& resourcesJson) {
  BERTH_TRY(ContainerState state, load(id));
  json wrapper{{"ociVersion", kOciVersion}, {"process", {{"args", {"true"}}, {"cwd", "/"}}}, {"root", {{"path", "/"}}}};
  try {
    wrapper["linux"] = {{"resources", json::parse(resourcesJson)}};
  } catch (const json::exception& e) {
    return fail(Errc::invalid_argument, std::string("--resources: ") + e.what());
  }
  BERTH_TRY(Spec parsed, withContext(parseSpec(wrapper.dump()), "--resources"));
  BERTH_TRY(auto group, groupOf(state));
  return group.setLimits(limitsOf(parsed.linuxSpec.resources));
}

std::string Runtime::features() {
  json j{{"ociVersionMin", "1.0.0"},
         {"ociVersionMax", "1.1.0"},
         {"hooks", {"prestart", "createRuntime", "poststart", "poststop"}},
         {"mountOptions", {"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind", "private",
                           "rprivate", "shared", "rshared", "slave", "rslave", "relatime", "noatime", "strictatime"}},
         {"linux",
          {{"namespaces", {"cgroup", "ipc", "mount", "network", "pid", "uts"}},
           {"capabilities", json::array()},
           {"cgroup", {{"v1", true}, {"v2", true}, {"systemd", false}}},
           {"seccomp", {{"enabled", true}}}}}};
  return j.dump();
}

}  // namespace berth::oci
