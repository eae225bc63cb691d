#include "runtime/shim.hpp"

#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/process.hpp"
#include "namespaces/spawn.hpp"
#include "runtime/console_log.hpp"
#include "runtime/shim_exec.hpp"

extern char** environ;

namespace berth::runtime {

using nlohmann::json;

namespace {

// After init exits, its descendants are being killed with the pid namespace;
// their last output arrives within this, or is left behind.
constexpr auto kOutputDrainLimit = std::chrono::milliseconds(1000);
// Execs are killed with the pid namespace; one not reaped within this is recorded as lost.
constexpr auto kExecsEndLimit = std::chrono::milliseconds(5000);

// BPF instructions as [code, jt, jf, k].
json filterToJson(const std::vector<sock_filter>& filter) {
  json program = json::array();
  for (const sock_filter& insn : filter) program.push_back({insn.code, insn.jt, insn.jf, insn.k});
  return program;
}

std::vector<sock_filter> filterFromJson(const json& program) {
  std::vector<sock_filter> filter;
  filter.reserve(program.size());
  for (const json& insn : program)
    filter.push_back(sock_filter{insn.at(0).get<std::uint16_t>(), insn.at(1).get<std::uint8_t>(),
                                 insn.at(2).get<std::uint8_t>(), insn.at(3).get<std::uint32_t>()});
  return filter;
}

json portsToJson(const std::vector<net::PortForward>& ports) {
  json list = json::array();
  for (const net::PortForward& port : ports)
    list.push_back({port.hostIp.value, port.hostPort, port.targetIp.value, port.targetPort});
  return list;
}

std::vector<net::PortForward> portsFromJson(const json& list) {
  std::vector<net::PortForward> ports;
  for (const json& port : list)
    ports.push_back(net::PortForward{net::Ipv4{port.at(0).get<uint32_t>()}, port.at(1).get<uint16_t>(),
                                     net::Ipv4{port.at(2).get<uint32_t>()}, port.at(3).get<uint16_t>()});
  return ports;
}

json cgroupMountsToJson(const std::vector<ns::CgroupMount>& mounts) {
  json list = json::array();
  for (const ns::CgroupMount& mount : mounts)
    list.push_back({{"name", mount.name},
                    {"fstype", mount.fstype},
                    {"controllers", mount.controllers},
                    {"aliases", mount.aliases},
                    {"host_dir", mount.hostDir}});
  return list;
}

std::vector<ns::CgroupMount> cgroupMountsFromJson(const json& list) {
  std::vector<ns::CgroupMount> mounts;
  for (const json& mount : list)
    mounts.push_back(ns::CgroupMount{mount.at("name").get<std::string>(), mount.at("fstype").get<std::string>(),
                                     mount.at("controllers").get<std::string>(),
                                     mount.at("aliases").get<std::vector<std::string>>(),
                                     mount.value("host_dir", std::string())});
  return mounts;
}

json userToJson(const std::optional<ns::ProcessUser>& user) {
  if (!user) return nullptr;
  return json{{"uid", user->uid}, {"gid", user->gid}, {"groups", user->groups}};
}

std::optional<ns::ProcessUser> userFromJson(const json& j) {
  if (j.is_null()) return std::nullopt;
  return ns::ProcessUser{j.at("uid").get<uid_t>(), j.at("gid").get<gid_t>(), j.at("groups").get<std::vector<gid_t>>()};
}

json userNamespaceToJson(const std::optional<ns::UserNamespaceMap>& map) {
  if (!map) return nullptr;
  return json{{"host_uid", map->hostUid}, {"host_gid", map->hostGid}, {"size", map->size}};
}

std::optional<ns::UserNamespaceMap> userNamespaceFromJson(const json& j) {
  if (j.is_null()) return std::nullopt;
  return ns::UserNamespaceMap{j.at("host_uid").get<uid_t>(), j.at("host_gid").get<gid_t>(),
                              j.at("size").get<uint32_t>()};
}

json specToJson(const ShimSpec& spec) {
  return json{{"container_id", spec.containerId},
              {"runtime_id", spec.runtimeId},
              {"image_dir", spec.imageDir},
              {"upper_dir", spec.upperDir},
              {"work_dir", spec.workDir},
              {"merged_dir", spec.mergedDir},
              {"argv", spec.argv},
              {"env", spec.env},
              {"working_dir", spec.workingDir},
              {"hostname", spec.hostname},
              {"log_path", spec.logPath},
              {"log_max_bytes", spec.logMaxBytes},
              {"cgroup_join", spec.cgroupJoinFiles},
              {"seccomp_filter", filterToJson(spec.seccompFilter)},
              {"join_netns", spec.netnsFd >= 0},
              {"hosts_file", spec.hostsFile},
              {"hostname_file", spec.hostnameFile},
              {"ports", portsToJson(spec.ports)},
              {"exec_dir", spec.execDir},
              {"cgroup_mounts", cgroupMountsToJson(spec.cgroupMounts)},
              {"user", userToJson(spec.user)},
              {"umask", spec.umask ? json(*spec.umask) : json()},
              {"user_namespace", userNamespaceToJson(spec.userNamespace)}};
}

Result<ShimSpec> specFromJson(const std::string& text) {
  try {
    json j = json::parse(text);
    ShimSpec spec;
    spec.containerId = j.at("container_id").get<std::string>();
    spec.runtimeId = j.at("runtime_id").get<std::string>();
    spec.imageDir = j.at("image_dir").get<std::string>();
    spec.upperDir = j.at("upper_dir").get<std::string>();
    spec.workDir = j.at("work_dir").get<std::string>();
    spec.mergedDir = j.at("merged_dir").get<std::string>();
    spec.argv = j.at("argv").get<std::vector<std::string>>();
    spec.env = j.at("env").get<std::vector<std::string>>();
    spec.workingDir = j.at("working_dir").get<std::string>();
    spec.hostname = j.at("hostname").get<std::string>();
    spec.logPath = j.at("log_path").get<std::string>();
    spec.logMaxBytes = j.at("log_max_bytes").get<uint64_t>();
    spec.cgroupJoinFiles = j.at("cgroup_join").get<std::vector<std::string>>();
    spec.seccompFilter = filterFromJson(j.at("seccomp_filter"));
    if (j.at("join_netns").get<bool>()) spec.netnsFd = kShimNetnsFd;
    spec.hostsFile = j.at("hosts_file").get<std::string>();
    spec.hostnameFile = j.at("hostname_file").get<std::string>();
    spec.ports = portsFromJson(j.at("ports"));
    spec.execDir = j.at("exec_dir").get<std::string>();
    spec.cgroupMounts = cgroupMountsFromJson(j.at("cgroup_mounts"));
    spec.user = userFromJson(j.at("user"));
    if (!j.at("umask").is_null()) spec.umask = j.at("umask").get<mode_t>();
    spec.userNamespace = userNamespaceFromJson(j.at("user_namespace"));
    return spec;
  } catch (const json::exception& e) {
    return fail(Errc::internal, std::string("bad shim spec: ") + e.what());
  }
}

template <typename T, typename Parse>
Result<std::optional<T>> readOptionalJson(const std::string& path, Parse parse) {
  if (!pathExists(path)) return std::optional<T>{};
  BERTH_TRY(std::string text, readFile(path));
  try {
    return std::optional<T>{parse(json::parse(text))};
  } catch (const json::exception& e) {
    return fail(Errc::internal, path + ": " + e.what());
  }
}

Result<void> writeAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("write report");
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

Detail detailFromName(const std::string& name) {
  for (Detail detail : {Detail::port_conflict})
    if (detailName(detail) == name) return detail;
  return Detail::none;
}

Errc errcFromName(const std::string& name) {
  for (Errc code : {Errc::invalid_argument, Errc::not_found, Errc::already_exists, Errc::container_config,
                    Errc::host_refused, Errc::deadline_exceeded, Errc::resource_exhausted})
    if (errcName(code) == name) return code;
  return Errc::internal;
}

// Reads the shim's one-line report until EOF or the deadline.
Result<std::string> readReport(int fd, std::chrono::milliseconds deadline) {
  std::string text;
  int64_t end = monotonicMillis() + deadline.count();
  for (;;) {
    int64_t left = end - monotonicMillis();
    if (left <= 0) return fail(Errc::deadline_exceeded, "shim did not report within the deadline");
    pollfd pfd{fd, POLLIN, 0};
    int n = ::poll(&pfd, 1, static_cast<int>(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("poll shim report");
    }
    if (n == 0) continue;
    char buf[1024];
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR) continue;
      return sysFail("read shim report");
    }
    if (got == 0) return text;
    text.append(buf, static_cast<size_t>(got));
  }
}

}  // namespace

Result<std::optional<ShimState>> readShimState(const InstancePaths& paths) {
  return readOptionalJson<ShimState>(paths.state(), [](const json& j) {
    return ShimState{j.at("shim_pid").get<pid_t>(), j.at("init_pid").get<pid_t>(),
                     j.at("started_at").get<UnixMillis>()};
  });
}

Result<std::optional<ExitRecord>> readExitRecord(const InstancePaths& paths) {
  return readOptionalJson<ExitRecord>(paths.exit(), [](const json& j) {
    return ExitRecord{j.at("exit_code").get<int>(), j.at("signal").get<int>(), j.at("finished_at").get<UnixMillis>()};
  });
}

Result<LaunchedShim> launchShim(const std::string& shimBinary, const InstancePaths& paths, const ShimSpec& spec,
                                std::chrono::milliseconds deadline) {
  BERTH_TRYV(makeDirs(paths.dir, 0700));
  for (const std::string& stale : {paths.exit(), paths.state()})
    if (::unlink(stale.c_str()) != 0 && errno != ENOENT) return sysFail("unlink " + stale);
  BERTH_TRYV(writeFileFast(paths.spec(), specToJson(spec).dump(), 0600));

  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC) != 0) return sysFail("pipe2");
  UniqueFd reportRead(pipeFds[0]);
  UniqueFd reportWrite(pipeFds[1]);

  posix_spawn_file_actions_t actions;
  if (int err = ::posix_spawn_file_actions_init(&actions); err != 0)
    return sysFail("posix_spawn_file_actions_init", err);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, reportWrite.get(), 3);
  if (spec.netnsFd >= 0) ::posix_spawn_file_actions_adddup2(&actions, spec.netnsFd, kShimNetnsFd);
  posix_spawnattr_t attr;
  ::posix_spawnattr_init(&attr);
  // The shim starts with default signal handling whatever berthd blocks or ignores.
  sigset_t all;
  sigfillset(&all);
  sigset_t none;
  sigemptyset(&none);
  ::posix_spawnattr_setsigdefault(&attr, &all);
  ::posix_spawnattr_setsigmask(&attr, &none);
  ::posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSID);

  std::string instanceArg = paths.dir;
  std::vector<char*> argv{const_cast<char*>(shimBinary.c_str()), const_cast<char*>("--instance"), instanceArg.data(),
                          const_cast<char*>("--report-fd"),      const_cast<char*>("3"),          nullptr};
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, shimBinary.c_str(), &actions, &attr, argv.data(), environ);
  ::posix_spawn_file_actions_destroy(&actions);
  ::posix_spawnattr_destroy(&attr);
  if (err != 0) return sysFail(Errc::host_refused, "spawn shim " + shimBinary, err);
  reportWrite.reset();

  auto pidfd = openPidfd(pid);
  if (!pidfd) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return tl::unexpected(pidfd.error());
  }
  ChildProcess shim(pid, std::move(*pidfd));

  BERTH_TRY(std::string report, readReport(reportRead.get(), deadline));
  try {
    if (report.empty()) {
      auto status = shim.wait(std::chrono::milliseconds(1000));
      std::string how = status && *status ? " (exit code " + std::to_string((*status)->exitCode) + ")" : "";
      return fail(Errc::host_refused, "shim exited without a report" + how);
    }
    json j = json::parse(report);
    if (j.contains("error")) {
      const json& e = j.at("error");
      Error error{errcFromName(e.at("code").get<std::string>()), e.at("errno").get<int>(),
                  e.at("message").get<std::string>(), detailFromName(e.value("detail", std::string()))};
      (void)shim.wait(std::chrono::milliseconds(1000));
      return tl::unexpected(error);
    }
    LaunchedShim launched;
    launched.state = ShimState{pid, j.at("pid").get<pid_t>(), j.at("started_at").get<UnixMillis>()};
    launched.shimPidfd = shim.release();
    return launched;
  } catch (const json::exception& e) {
    return fail(Errc::internal, std::string("bad shim report: ") + e.what());
  }
}

namespace {

// The linker's bounds of the shim's own code.
extern "C" const char __executable_start[];
extern "C" const char etext[];

// One shim runs per container for the container's whole life, but almost all
// of its code (spec parsing, clone, mounts) ran once, before the wait.
// Unmapping the code pages (they fault back in from the page cache if ever
// needed) and returning the freed heap keeps what it holds while it waits to a few pages.
void shedStartupPages() {
  const auto pageSize = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(__executable_start) & ~(pageSize - 1);
  const auto end = reinterpret_cast<std::uintptr_t>(etext) & ~(pageSize - 1);
  // Only an optimization: a refusal changes nothing but the shim's RSS.
  (void)::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
  ::malloc_trim(0);
}

// The shim's life once init runs: the container's output into its log and
// the execs, until init is gone and with it every process of the container.
// An exec's process dies with the pid namespace, but init's exit completes
// only once the execs' zombies are reaped, so they are served throughout.
Result<void> superviseInit(UniqueFd& output, ConsoleLogWriter& log, const ChildProcess& init, ExecService& execs) {
  Result<void> pumped;
  std::optional<int64_t> initExitedAt;
  char buf[65536];
  for (;;) {
    const int64_t now = monotonicMillis();
    if (initExitedAt) {
      const bool outputDone = !output || now >= *initExitedAt + kOutputDrainLimit.count();
      if (outputDone && (execs.idle() || now >= *initExitedAt + kExecsEndLimit.count())) break;
    }
    std::optional<int64_t> due = execs.nextDeadline();
    if (initExitedAt) {
      int64_t end = *initExitedAt + (output ? kOutputDrainLimit : kExecsEndLimit).count();
      due = due ? std::min(*due, end) : end;
    }
    int timeout = due ? static_cast<int>(std::max<int64_t>(0, *due - now)) : -1;
    pollfd fds[3] = {{execs.fd(), POLLIN, 0}, {output.get(), POLLIN, 0}, {initExitedAt ? -1 : init.pidfd(), POLLIN, 0}};
    int n = ::poll(fds, 3, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("poll container output");
    }
    if (fds[2].revents && !initExitedAt) {
      initExitedAt = monotonicMillis();
      execs.stopAccepting();
    }
    if (fds[1].revents) {
      ssize_t got = ::read(output.get(), buf, sizeof buf);
      if (got < 0 && errno != EINTR && errno != EAGAIN) {
        pumped = sysFail("read container output");
        output.reset();
      } else if (got == 0) {
        output.reset();  // EOF: every writer is gone
      } else if (got > 0) {
        // A full disk must not stop the container: the output is dropped, the pipe keeps flowing.
        (void)log.append(buf, static_cast<size_t>(got));
      }
    }
    execs.handle();
  }
  if (!execs.idle()) execs.abandonRunning();
  return pumped;
}

int reportError(int reportFd, const Error& error) {
  json j{{"error",
          {{"code", std::string(errcName(error.code))},
           {"errno", error.sysErrno},
           {"message", error.message},
           {"detail", std::string(detailName(error.detail))}}}};
  (void)writeAll(reportFd, j.dump() + "\n");
  return 1;
}

}  // namespace

int runShim(const std::string& instanceDir, int reportFd) {
  // Only the report pipe, the standard streams and a network namespace to
  // hand on are ours to keep (spec.json says whether there is one).
  static_assert(kShimNetnsFd == 4);
  ::close_range(static_cast<unsigned>(std::max(reportFd, kShimNetnsFd)) + 1, ~0U, 0);
  if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
    return reportError(reportFd, sysFail("prctl(PR_SET_CHILD_SUBREAPER)").value());
  // berthd and the shell it ran from may come and go; the shim outlives them.
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);

  InstancePaths paths{instanceDir};
  auto specText = readFile(paths.spec());
  if (!specText) return reportError(reportFd, specText.error());
  auto spec = specFromJson(*specText);
  if (!spec) return reportError(reportFd, spec.error());
  UniqueFd netns(spec->netnsFd);      // closed once init holds it, so the namespace ends with the container
  if (!netns) ::close(kShimNetnsFd);  // handed none: whatever fd 4 is, it is not ours

  auto log = ConsoleLogWriter::open(spec->logPath, spec->logMaxBytes);
  if (!log) return reportError(reportFd, log.error().wrap("container log"));
  int outputFds[2];
  if (::pipe2(outputFds, O_CLOEXEC) != 0) return reportError(reportFd, sysFail("pipe2 for container output").value());
  UniqueFd outputRead(outputFds[0]);
  UniqueFd outputWrite(outputFds[1]);

  ns::InitSpec init;
  init.rootfs = {spec->imageDir, spec->upperDir, spec->workDir, spec->mergedDir};
  init.argv = spec->argv;
  init.env = spec->env;
  init.workingDir = spec->workingDir;
  init.hostname = spec->hostname;
  init.stdoutFd = outputWrite.get();
  init.stderrFd = outputWrite.get();
  auto placement = openCgroupPlacement(spec->cgroupJoinFiles);
  if (!placement) return reportError(reportFd, placement.error().wrap("cgroup"));
  init.cgroupFd = placement->v2Dir.get();
  init.cgroupJoinFiles = placement->otherJoinFiles;
  init.cgroupMounts = spec->cgroupMounts;
  init.seccompFilter = spec->seccompFilter;
  init.netnsFd = netns.get();
  if (!spec->hostsFile.empty()) init.files.push_back({spec->hostsFile, "/etc/hosts"});
  if (!spec->hostnameFile.empty()) init.files.push_back({spec->hostnameFile, "/etc/hostname"});
  init.user = spec->user;
  init.umask = spec->umask;
  init.userNamespace = spec->userNamespace;

  // Listening before init runs: a port the host took since the create fails the start, not a client later.
  auto proxy = net::PortProxy::listen(spec->ports);
  if (!proxy) return reportError(reportFd, proxy.error().wrap("published ports"));

  auto child = ns::spawnInit(init);
  if (!child) return reportError(reportFd, child.error());
  outputWrite.reset();  // EOF on the pipe then means every container process is gone
  netns.reset();
  if (!spec->ports.empty()) {
    if (auto serving = proxy->start(); !serving) {
      (void)::kill(child->pid(), SIGKILL);
      return reportError(reportFd, serving.error().wrap("published ports"));
    }
  }

  // The init holds its groups now; execs are placed in them through the same fds.
  ExecContext execContext{child->pidfd(),        child->pid(),
                          std::move(*placement), spec->env,
                          spec->workingDir,      spec->seccompFilter,
                          spec->execDir,         spec->user,
                          spec->umask,           spec->userNamespace.has_value()};
  auto execs = ExecService::open(instanceDir, std::move(execContext));
  if (!execs) return reportError(reportFd, execs.error().wrap("exec service"));

  ShimState state{::getpid(), child->pid(), nowMillis()};
  json stateJson{{"shim_pid", state.shimPid}, {"init_pid", state.initPid}, {"started_at", state.startedAt}};
  if (auto written = writeFileAtomic(paths.state(), stateJson.dump(), 0600, Durability::processCrash); !written)
    return reportError(reportFd, written.error());
  (void)writeAll(reportFd, json{{"pid", state.initPid}, {"started_at", state.startedAt}}.dump() + "\n");
  ::close(reportFd);
  shedStartupPages();

  auto pumped = superviseInit(outputRead, *log, *child, **execs);
  auto status = child->wait();
  proxy->stop();  // no listener outlives the container
  ExitRecord record;
  record.finishedAt = nowMillis();
  if (!pumped) {
    // Output lost is no reason to lose the exit: note it in the log, go on.
    std::string note = "berth-shim: " + pumped.error().describe() + "\n";
    (void)log->append(note.data(), note.size());
  }
  if (status && *status) {
    record.exitCode = (*status)->exitCode;
    record.signal = (*status)->signal;
  } else {
    record.exitCode = 255;  // wait failed: the exit is known, its code is not
  }
  json exitJson{{"exit_code", record.exitCode}, {"signal", record.signal}, {"finished_at", record.finishedAt}};
  return writeFileAtomic(paths.exit(), exitJson.dump(), 0600, Durability::processCrash) ? 0 : 2;
}

}  // namespace berth::runtime
