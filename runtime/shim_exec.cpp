#include "runtime/shim_exec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "namespaces/spawn.hpp"

namespace berth::runtime {

using nlohmann::json;

namespace {

// Output still in the pipes when an exec's process has exited (a descendant
// may hold them open): read for at most this long, then answer.
constexpr int64_t kOutputDrainMs = 250;
// A request line: the command and environment (API bodies are at most 1 MiB).
constexpr size_t kMaxRequestBytes = (size_t{1} << 20) + 4096;

Result<UniqueFd> makeListener(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return fail(Errc::host_refused, "control socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listener) return sysFail("socket for the control socket");
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sysFail("unlink " + path);
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return sysFail("bind " + path);
  if (::chmod(path.c_str(), 0600) != 0) return sysFail("chmod " + path);
  if (::listen(listener.get(), 64) != 0) return sysFail("listen on " + path);
  return listener;
}

// Record file names (<object id>.json) in the dir, oldest first: object ids sort by creation time.
Result<std::deque<std::string>> recordIds(const std::string& execDir) {
  std::deque<std::string> ids;
  DIR* dir = ::opendir(execDir.c_str());
  if (!dir) return sysFail("opendir " + execDir);
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() == 29 && name.ends_with(".json")) ids.push_back(name.substr(0, 24));
  }
  ::closedir(dir);
  std::sort(ids.begin(), ids.end());
  return ids;
}

Result<void> setNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return sysFail("fcntl O_NONBLOCK");
  return {};
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> makeOutputPipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail("pipe2 for exec output");
  Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  BERTH_TRYV(setNonBlocking(pipe.read.get()));
  return pipe;
}

struct Terminal {
  UniqueFd master;
  UniqueFd slave;
};

// A pseudo-terminal of the container's own devpts instance: its ptmx opened
// through the init's root, resolved as if that were "/" (a symlink the
// container planted cannot lead out), the slave taken from the master.
Result<Terminal> openTerminal(pid_t initPid, TerminalSize size) {
  const std::string root = "/proc/" + std::to_string(initPid) + "/root";
  UniqueFd rootFd(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!rootFd) return sysFail("open the container's root");
  open_how how{};
  how.flags = O_RDWR | O_NOCTTY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  Terminal terminal;
  terminal.master.reset(static_cast<int>(::syscall(SYS_openat2, rootFd.get(), "dev/pts/ptmx", &how, sizeof how)));
  if (!terminal.master) return sysFail("open the container's /dev/pts/ptmx");
  int unlock = 0;
  if (::ioctl(terminal.master.get(), TIOCSPTLCK, &unlock) != 0) return sysFail("unlock the pseudo-terminal");
  winsize window{size.rows, size.cols, 0, 0};
  if (::ioctl(terminal.master.get(), TIOCSWINSZ, &window) != 0) return sysFail("size the pseudo-terminal");
  terminal.slave.reset(::ioctl(terminal.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!terminal.slave) return sysFail("open the pseudo-terminal's slave");
  return terminal;
}

std::vector<std::string> mergedEnv(const std::vector<std::string>& base, const std::map<std::string, std::string>& over) {
  std::vector<std::string> env;
  for (const std::string& entry : base) {
    std::string key = entry.substr(0, entry.find('='));
    if (!over.contains(key)) env.push_back(entry);
  }
  for (const auto& [key, value] : over) env.push_back(key + "=" + value);
  return env;
}

std::string errorLine(const Error& error) {
  return json{{"error", {{"code", std::string(errcName(error.code))},
                         {"errno", error.sysErrno},
                         {"message", error.message}}}}
      .dump();
}

}  // namespace

struct ExecService::Connection {
  UniqueFd socket;
  std::string buffer;
};

struct ExecService::Running {
  ExecRecord record;
  ChildProcess child;
  int pidfd = -1;  // child's, while it is unreaped
  UniqueFd stdoutPipe;
  UniqueFd stderrPipe;
  UniqueFd client;  // the connection to tell when it ends
  int64_t startedMonotonic = 0;
  std::optional<int64_t> killAt;
  std::optional<int64_t> drainUntil;  // set once the process is reaped
  std::optional<ExitStatus> exit;
};

ExecService::ExecService(ExecContext context, std::string socketPath, UniqueFd epoll, UniqueFd listener,
                         std::deque<std::string> kept)
    : context_(std::move(context)),
      socketPath_(std::move(socketPath)),
      epoll_(std::move(epoll)),
      listener_(std::move(listener)),
      kept_(std::move(kept)) {}

ExecService::~ExecService() = default;

Result<CgroupPlacement> openCgroupPlacement(const std::vector<std::string>& joinFiles) {
  CgroupPlacement placement;
  for (const std::string& file : joinFiles) {
    const std::string dir = file.substr(0, file.rfind('/'));
    UniqueFd dirFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dirFd) return sysFail("open " + dir);
    struct statfs fs {};
    if (::fstatfs(dirFd.get(), &fs) != 0) return sysFail("statfs " + dir);
    if (fs.f_type == CGROUP2_SUPER_MAGIC && !placement.v2Dir) placement.v2Dir = std::move(dirFd);
    else placement.otherJoinFiles.push_back(file);
  }
  return placement;
}

Result<std::unique_ptr<ExecService>> ExecService::open(const std::string& instanceDir, ExecContext context) {
  BERTH_TRYV(makeDirs(context.execDir, 0700));
  BERTH_TRY(auto kept, recordIds(context.execDir));
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return sysFail("epoll_create1");
  std::string socketPath = controlSocketPath(instanceDir);
  BERTH_TRY(UniqueFd listener, makeListener(socketPath));
  std::unique_ptr<ExecService> service(new ExecService(std::move(context), std::move(socketPath), std::move(epoll),
                                                       std::move(listener), std::move(kept)));
  service->watch(service->listener_.get());
  return service;
}

void ExecService::watch(int fd) {
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  // Only for fds of our own making: the one failure would be ENOMEM, and the
  // source then never wakes us; its deadline (or the init's exit) still ends it.
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event);
}

void ExecService::unwatch(int fd) {
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  byFd_.erase(fd);
}

std::optional<int64_t> ExecService::nextDeadline() const {
  std::optional<int64_t> next;
  for (const auto& [id, exec] : running_) {
    for (const auto& due : {exec->killAt, exec->drainUntil})
      if (due && (!next || *due < *next)) next = due;
  }
  return next;
}

void ExecService::handle() {
  epoll_event events[32];
  int n = ::epoll_wait(epoll_.get(), events, 32, 0);
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (listener_ && fd == listener_.get()) {
      accept();
    } else if (connections_.contains(fd)) {
      readRequest(fd);
    } else if (auto found = byFd_.find(fd); found != byFd_.end()) {
      Running& exec = *found->second;
      if (fd == exec.pidfd) reap(exec);
      else readOutput(exec, fd);
      finishIfDone(exec);
    }
  }
  const int64_t now = monotonicMillis();
  std::vector<Running*> due;
  for (auto& [id, exec] : running_) {
    if (exec->killAt && *exec->killAt <= now) {
      exec->killAt.reset();
      // The whole session: what the command started goes with it.
      (void)::kill(-exec->record.pid, SIGKILL);
      if (exec->child.valid()) (void)exec->child.signal(SIGKILL);
    }
    if (exec->drainUntil && *exec->drainUntil <= now) due.push_back(exec.get());
  }
  for (Running* exec : due) finish(*exec);
}

void ExecService::accept() {
  for (;;) {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!client) return;  // EAGAIN: none left; anything else: that one client is gone
    const int fd = client.get();
    connections_[fd] = std::make_unique<Connection>(Connection{std::move(client), {}});
    watch(fd);
  }
}

void ExecService::readRequest(int fd) {
  Connection& connection = *connections_.at(fd);
  char buf[65536];
  ssize_t got = ::recv(fd, buf, sizeof buf, 0);
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (got <= 0 || connection.buffer.size() + static_cast<size_t>(got) > kMaxRequestBytes) {
    unwatch(fd);
    connections_.erase(fd);
    return;
  }
  connection.buffer.append(buf, static_cast<size_t>(got));
  size_t end = connection.buffer.find('\n');
  if (end == std::string::npos) return;
  unwatch(fd);
  UniqueFd client = std::move(connection.socket);
  json parsed = json::parse(connection.buffer.substr(0, end), nullptr, false);
  connections_.erase(fd);
  // The answer is written blocking: berthd reads it at once.
  int flags = ::fcntl(client.get(), F_GETFL);
  if (flags >= 0) (void)::fcntl(client.get(), F_SETFL, flags & ~O_NONBLOCK);
  auto request = parsed.is_discarded() ? fail(Errc::internal, "exec request is not JSON") : execRequestFromJson(parsed);
  auto started = request ? start(*request, client) : tl::unexpected(request.error());
  if (!started) (void)sendLine(client.get(), errorLine(started.error()));
}

Result<void> ExecService::start(const IdentifiedExecRequest& identified, UniqueFd& client) {
  const ExecRequest& request = identified.request;
  const int clientFd = client.get();
  if (!listener_) return fail(Errc::state_conflict, "the container is stopping");
  if (running_.size() >= kMaxRunningExecs)
    return fail(Errc::unavailable, std::to_string(kMaxRunningExecs) + " execs already run in this container");

  ns::ExecSpec spec;
  spec.initPidfd = context_.initPidfd;
  spec.cgroupFd = context_.cgroup.v2Dir.get();
  spec.cgroupJoinFiles = context_.cgroup.otherJoinFiles;
  spec.argv = request.command;
  spec.env = mergedEnv(context_.env, request.env);
  spec.workingDir = request.workingDir.value_or(context_.workingDir);
  spec.seccompFilter = context_.seccompFilter;
  spec.user = context_.user;
  spec.umask = context_.umask;
  spec.joinUserNamespace = context_.userNamespace;
  Terminal terminal;
  Pipe stdoutPipe;
  Pipe stderrPipe;
  if (request.terminal) {
    BERTH_TRY(terminal, openTerminal(context_.initPid, *request.terminal));
    spec.stdinFd = spec.stdoutFd = spec.stderrFd = terminal.slave.get();
    spec.controllingTerminal = true;
  } else {
    BERTH_TRY(stdoutPipe, makeOutputPipe());
    BERTH_TRY(stderrPipe, makeOutputPipe());
    spec.stdoutFd = stdoutPipe.write.get();
    spec.stderrFd = stderrPipe.write.get();
  }

  auto running = std::make_unique<Running>();
  ExecRecord& record = running->record;
  record.id = identified.id;
  record.command = request.command;
  record.terminal = request.terminal.has_value();
  record.startedAt = nowMillis();
  running->startedMonotonic = monotonicMillis();
  BERTH_TRY(ns::ExecStart outcome, ns::spawnExec(spec));
  stdoutPipe.write.reset();
  stderrPipe.write.reset();

  if (auto* notRun = std::get_if<ns::CommandNotRun>(&outcome)) {
    // As the shells answer: 127 for a command that is not there, 126 for one that cannot run.
    record.exitCode = notRun->err == ENOENT || notRun->err == ENOTDIR ? 127 : 126;
    record.stderrText = "berth: " + notRun->description + ": " + std::strerror(notRun->err) + "\n";
    if (terminal.slave) (void)::write(terminal.slave.get(), record.stderrText.data(), record.stderrText.size());
    record.running = false;
    record.finishedAt = nowMillis();
    record.durationMs = monotonicMillis() - running->startedMonotonic;
    writeRecord(record);
    (void)sendLine(clientFd, json{{"started", record.id}}.dump(), terminal.master.get());
    (void)sendLine(clientFd, json{{"finished", record.id}}.dump());
    kept_.push_back(record.id);
    prune();
    return {};
  }

  running->child = std::move(std::get<ChildProcess>(outcome));
  record.pid = running->child.pid();
  running->pidfd = running->child.pidfd();
  running->stdoutPipe = std::move(stdoutPipe.read);
  running->stderrPipe = std::move(stderrPipe.read);
  if (request.timeout.count() > 0) running->killAt = running->startedMonotonic + request.timeout.count() * 1000;
  terminal.slave.reset();  // the master sees the hangup once the container's side has closed it
  writeRecord(record);
  // berthd may be gone meanwhile: the exec runs on, its record says how it ended.
  (void)sendLine(clientFd, json{{"started", record.id}}.dump(), terminal.master.get());
  running->client = std::move(client);

  Running* exec = running.get();
  running_[record.id] = std::move(running);
  for (int fd : {exec->pidfd, exec->stdoutPipe.get(), exec->stderrPipe.get()}) {
    if (fd < 0) continue;
    byFd_[fd] = exec;
    watch(fd);
  }
  return {};
}

void ExecService::readOutput(Running& exec, int fd) {
  UniqueFd& pipe = fd == exec.stdoutPipe.get() ? exec.stdoutPipe : exec.stderrPipe;
  std::string& text = fd == exec.stdoutPipe.get() ? exec.record.stdoutText : exec.record.stderrText;
  char buf[65536];
  for (;;) {
    ssize_t got = ::read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0 && errno == EAGAIN) return;
    if (got <= 0) {
      unwatch(fd);
      pipe.reset();
      return;
    }
    size_t room = kExecOutputCap - std::min(kExecOutputCap, text.size());
    size_t take = std::min(room, static_cast<size_t>(got));
    text.append(buf, take);
    // Read on past the cap: a writer blocked on a full pipe would never exit.
    if (take < static_cast<size_t>(got)) exec.record.truncated = true;
  }
}

void ExecService::reap(Running& exec) {
  auto status = exec.child.tryWait();
  // Not exited: a stale event for an fd number a newer exec took in the same batch.
  if (status && !*status) return;
  unwatch(exec.pidfd);
  exec.pidfd = -1;
  exec.exit = status ? **status : ExitStatus{255, 0, false};
  exec.killAt.reset();
  exec.drainUntil = monotonicMillis() + kOutputDrainMs;
}

void ExecService::finishIfDone(Running& exec) {
  if (exec.exit && !exec.stdoutPipe && !exec.stderrPipe) finish(exec);
}

void ExecService::finish(Running& exec) {
  for (int fd : {exec.pidfd, exec.stdoutPipe.get(), exec.stderrPipe.get()})
    if (fd >= 0) unwatch(fd);
  ExecRecord& record = exec.record;
  record.running = false;
  record.finishedAt = nowMillis();
  record.durationMs = monotonicMillis() - exec.startedMonotonic;
  const ExitStatus status = exec.exit.value_or(ExitStatus{255, 0, false});
  record.exitCode = status.exitCode;
  if (status.signal) record.exitSignal = signalName(status.signal);
  writeRecord(record);
  if (exec.client) (void)sendLine(exec.client.get(), json{{"finished", record.id}}.dump());
  kept_.push_back(record.id);
  running_.erase(record.id);  // exec is gone from here on
  prune();
}

void ExecService::writeRecord(const ExecRecord& record) {
  // Output is whatever the command wrote: not necessarily UTF-8.
  std::string text = execRecordToJson(record).dump(-1, ' ', false, json::error_handler_t::replace);
  // A record that cannot be written (a full disk) only loses the record: the exec itself goes on.
  (void)writeFileAtomic(execRecordPath(context_.execDir, record.id), text, 0600, Durability::processCrash);
}

void ExecService::prune() {
  while (kept_.size() > kKeptExecRecords) {
    (void)::unlink(execRecordPath(context_.execDir, kept_.front()).c_str());
    kept_.pop_front();
  }
}

void ExecService::stopAccepting() {
  if (!listener_) return;
  unwatch(listener_.get());
  listener_.reset();
  (void)::unlink(socketPath_.c_str());
  for (auto& [fd, connection] : connections_) {
    (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    (void)sendLine(fd, errorLine(Error{Errc::state_conflict, 0, "the container is stopping", Detail::none}));
  }
  connections_.clear();
}

void ExecService::abandonRunning() {
  std::vector<Running*> left;
  for (auto& [id, exec] : running_) left.push_back(exec.get());
  for (Running* exec : left) {
    if (exec->child.valid()) {
      if (exec->pidfd >= 0) unwatch(exec->pidfd);
      exec->pidfd = -1;
      (void)::kill(-exec->record.pid, SIGKILL);
      if (auto status = exec->child.wait(std::chrono::milliseconds(100)); status && *status) exec->exit = **status;
    }
    finish(*exec);
  }
}

}  // namespace berth::runtime
