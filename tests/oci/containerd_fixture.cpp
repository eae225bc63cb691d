#include "oci/containerd_fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>

#include "common/files.hpp"
#include "common/unique_fd.hpp"

extern char** environ;

namespace berth::oci {

namespace {

constexpr auto kStartLimit = std::chrono::seconds(30);
constexpr auto kStopLimit = std::chrono::seconds(20);
constexpr auto kSetupCommandLimit = std::chrono::seconds(60);
// How much of containerd's log a failure shows.
constexpr size_t kLogLines = 40;
constexpr const char* kShimSocketDir = "/run/containerd/s";
// Absent plugins are ignored; these would touch host paths (opt: /opt/containerd),
// probe the host (the snapshotters other than overlayfs and native) or serve
// nothing the tests use (CRI, tracing). The v1 runtime (io.containerd.runtime.v1.linux)
// stays: 1.6's tasks service does not load without it.
constexpr const char* kDisabledPlugins[] = {
    "io.containerd.grpc.v1.cri",
    "io.containerd.internal.v1.opt",
    "io.containerd.internal.v1.tracing",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
};

std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& arg : argv) text += (text.empty() ? "" : " ") + arg;
  return text;
}

std::vector<std::string> entriesOf(const std::string& dir, bool directoriesOnly) {
  std::vector<std::string> found;
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return found;
  while (dirent* entry = ::readdir(handle)) {
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (directoriesOnly && entry->d_type != DT_DIR) continue;
    found.push_back(name);
  }
  ::closedir(handle);
  std::sort(found.begin(), found.end());
  return found;
}

// Every cgroup hierarchy's root: /sys/fs/cgroup on a v2 host, each mounted
// hierarchy below it on a v1 or hybrid one (the cpu,cpuacct links are skipped).
std::vector<std::string> cgroupHierarchies() {
  if (pathExists("/sys/fs/cgroup/cgroup.controllers")) return {"/sys/fs/cgroup"};
  std::vector<std::string> roots;
  for (const auto& name : entriesOf("/sys/fs/cgroup", true)) roots.push_back("/sys/fs/cgroup/" + name);
  return roots;
}

// Every group below dir, deepest first.
void descendantsOf(const std::string& dir, std::vector<std::string>& found) {
  for (const auto& name : entriesOf(dir, true)) {
    descendantsOf(dir + "/" + name, found);
    found.push_back(dir + "/" + name);
  }
}

std::vector<std::string> linesOf(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(line);
  return lines;
}

bool socketAccepts(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return false;
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

// The environment with `extra` (NAME=value) replacing what it names.
std::vector<std::string> environmentWith(const std::vector<std::string>& extra) {
  std::vector<std::string> environment;
  for (char** entry = environ; *entry; ++entry) {
    std::string_view pair(*entry);
    bool replaced = std::any_of(extra.begin(), extra.end(), [&](const std::string& e) {
      return pair.substr(0, pair.find('=') + 1) == std::string_view(e).substr(0, e.find('=') + 1);
    });
    if (!replaced) environment.emplace_back(pair);
  }
  environment.insert(environment.end(), extra.begin(), extra.end());
  return environment;
}

std::vector<char*> pointersTo(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// posix_spawnp with the given stdio; a ChildProcess that kills and reaps it
// unless it is waited for.
ChildProcess spawn(std::vector<std::string> argv, const std::vector<std::string>& extraEnvironment, int outFd,
                   int errFd) {
  std::vector<std::string> environment = environmentWith(extraEnvironment);
  std::vector<char*> args = pointersTo(argv);
  std::vector<char*> envp = pointersTo(environment);
  posix_spawn_file_actions_t actions;
  REQUIRE(::posix_spawn_file_actions_init(&actions) == 0);
  ::posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, outFd, STDOUT_FILENO);
  ::posix_spawn_file_actions_adddup2(&actions, errFd, STDERR_FILENO);
  pid_t child = -1;
  int spawned = ::posix_spawnp(&child, args[0], &actions, nullptr, args.data(), envp.data());
  ::posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) FAIL("cannot run " << argv[0] << " (scripts/install-deps.sh installs it): " << std::strerror(spawned));
  auto pidfd = openPidfd(child);
  REQUIRE(pidfd);
  return ChildProcess(child, std::move(*pidfd));
}


// Waits for the child until the deadline (not at all if its output did not
// end in time); past it, kills it by its pid (the pidfd) and reaps it.
void finishWithin(ChildProcess& child, bool drained, std::chrono::steady_clock::time_point deadline, CommandRun& run) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  auto status = child.wait(drained ? std::max(left, std::chrono::milliseconds(0)) : std::chrono::milliseconds(0));
  REQUIRE(status);
  if (!*status) {
    (void)child.signal(SIGKILL);
    status = child.wait();
    REQUIRE(status);
    REQUIRE(*status);
    run.timedOut = true;
  }
  run.exitCode = (*status)->exitCode;
}

struct ProcessInfo {
  pid_t pid;
  std::string what;
};

// The shims of the namespace (by their -namespace argument) and the processes
// in its cgroups (by /proc/<pid>/cgroup), in any hierarchy.
std::vector<ProcessInfo> processesOf(const std::string& ns) {
  std::vector<ProcessInfo> found;
  const std::string shimArgument = std::string("-namespace") + '\0' + ns + '\0';
  const std::string group = ":/" + ns;
  for (const auto& name : entriesOf("/proc", true)) {
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = std::stoi(name);
    if (pid == ::getpid()) continue;
    auto cmdline = readFile("/proc/" + name + "/cmdline");
    if (!cmdline) continue;
    if (cmdline->find(shimArgument) != std::string::npos) {
      found.push_back({pid, "shim " + name + ": " + commandLineOf(pid)});
      continue;
    }
    auto cgroups = readFile("/proc/" + name + "/cgroup");
    if (!cgroups) continue;
    for (const auto& line : linesOf(*cgroups)) {
      auto at = line.find(group);
      if (at == std::string::npos) continue;
      char after = at + group.size() < line.size() ? line[at + group.size()] : '\0';
      if (after == '\0' || after == '/') {
        found.push_back({pid, "process " + name + " in " + line + ": " + commandLineOf(pid)});
        break;
      }
    }
  }
  return found;
}

}  // namespace

std::string runtimeUnderTest() {
  const char* fromEnvironment = std::getenv("BERTH_OCI_RUNTIME");
  std::string runtime = fromEnvironment && *fromEnvironment ? fromEnvironment
                                                            : std::string(BERTH_BUILD_DIR) + "/cmd/berth-oci";
  INFO("the OCI runtime under test: " << runtime << " (BERTH_OCI_RUNTIME, else berth-oci of this build)");
  REQUIRE(::access(runtime.c_str(), X_OK) == 0);
  return runtime;
}

std::vector<std::string> concat(std::initializer_list<std::vector<std::string>> parts) {
  std::vector<std::string> all;
  for (const auto& part : parts) all.insert(all.end(), part.begin(), part.end());
  return all;
}

CommandRun runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                      const std::vector<std::string>& extraEnvironment) {
  REQUIRE_FALSE(argv.empty());
  int outPipe[2], errPipe[2];
  REQUIRE(::pipe2(outPipe, O_CLOEXEC) == 0);
  UniqueFd outRead(outPipe[0]), outWrite(outPipe[1]);
  REQUIRE(::pipe2(errPipe, O_CLOEXEC) == 0);
  UniqueFd errRead(errPipe[0]), errWrite(errPipe[1]);
  CommandRun run;
  run.command = joined(argv);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  ChildProcess child = spawn(argv, extraEnvironment, outWrite.get(), errWrite.get());
  outWrite.reset();
  errWrite.reset();
  bool drained = testing::drainPipes(outRead.get(), errRead.get(), run.out, run.err, deadline);
  finishWithin(child, drained, deadline, run);
  return run;
}

CommandRun runOnTerminal(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                         const std::vector<std::string>& extraEnvironment) {
  REQUIRE_FALSE(argv.empty());
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(master.get() >= 0);
  REQUIRE(::grantpt(master.get()) == 0);
  REQUIRE(::unlockpt(master.get()) == 0);
  char slaveName[64];
  REQUIRE(::ptsname_r(master.get(), slaveName, sizeof slaveName) == 0);
  UniqueFd slave(::open(slaveName, O_RDWR | O_NOCTTY | O_CLOEXEC));
  REQUIRE(slave.get() >= 0);
  const winsize size{24, 80, 0, 0};
  REQUIRE(::ioctl(slave.get(), TIOCSWINSZ, &size) == 0);

  // Everything the child needs is made before fork: it only makes system calls.
  std::vector<std::string> environment = environmentWith(extraEnvironment);
  std::vector<std::string> args = argv;
  std::vector<char*> argp = pointersTo(args);
  std::vector<char*> envp = pointersTo(environment);
  int reportPipe[2];
  REQUIRE(::pipe2(reportPipe, O_CLOEXEC) == 0);
  UniqueFd reportRead(reportPipe[0]), reportWrite(reportPipe[1]);
  CommandRun run;
  run.command = joined(argv);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // A session of its own whose controlling terminal is the slave, which is also its stdio.
    int err = 0;
    if (::setsid() < 0 || ::ioctl(slave.get(), TIOCSCTTY, 0) != 0) err = errno;
    for (int fd = 0; err == 0 && fd < 3; ++fd)
      if (::dup2(slave.get(), fd) < 0) err = errno;
    if (err == 0) {
      ::execvpe(argp[0], argp.data(), envp.data());
      err = errno;
    }
    (void)!::write(reportWrite.get(), &err, sizeof err);
    ::_exit(127);
  }
  auto pidfd = openPidfd(pid);
  REQUIRE(pidfd);
  ChildProcess child(pid, std::move(*pidfd));
  // Ours closed, the master reads EOF (EIO) once the child and whatever inherited the slave are gone.
  slave.reset();
  reportWrite.reset();
  int execError = 0;
  if (::read(reportRead.get(), &execError, sizeof execError) == static_cast<ssize_t>(sizeof execError))
    FAIL("cannot run " << argv[0] << " on a terminal: " << std::strerror(execError));

  bool drained = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd pfd{master.get(), POLLIN, 0};
    int ready = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) break;
    char buffer[4096];
    ssize_t n = ::read(master.get(), buffer, sizeof buffer);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    // EIO: no slave is open any more (Linux's EOF of a pty master).
    if (n <= 0) {
      drained = true;
      break;
    }
    run.out.append(buffer, static_cast<size_t>(n));
  }
  finishWithin(child, drained, deadline, run);
  return run;
}

Containerd::Containerd(std::string runtime) : runtime_(std::move(runtime)), temp_("berth-oci") {
  static std::atomic<unsigned> fixtures{0};
  namespace_ = "berth-oci-test-" + std::to_string(::getpid()) + "-" + std::to_string(fixtures++);
  socket_ = temp_.sub("containerd.sock");
  try {
    setUp();
  } catch (...) {
    // No destructor runs for a half-made fixture: what started is stopped here.
    try {
      tearDown(false);
    } catch (...) {
    }
    throw;
  }
}

Containerd::~Containerd() {
  // CHECKs only when no assertion is unwinding the test; the cleanup runs anyway.
  bool checking = std::uncaught_exceptions() == 0;
  // Nothing leaves a destructor: a failed REQUIRE in the cleanup (Catch's
  // exception is no std::exception) has been reported already.
  try {
    tearDown(checking);
  } catch (const std::exception& e) {
    if (checking) FAIL_CHECK("oci teardown: " << e.what());
  } catch (...) {
  }
}

void Containerd::setUp() {
  REQUIRE(runtime_.find('\'') == std::string::npos);
  for (const char* dir : {"root", "state", "tmp", "runc", "fifo", "image"}) REQUIRE(makeDirs(temp_.sub(dir), 0711));
  for (const char* dir : {"/run/containerd", "/run/containerd/s", "/run/containerd/fifo"})
    if (!pathExists(dir)) createdRunDirs_.push_back(dir);
  shimSocketsBefore_ = entriesOf(kShimSocketDir, false);

  // The shim runs this with the runtime's arguments: each call is logged before it runs.
  std::string wrapper = "#!/bin/sh\n"
                        "# The command line containerd's shim ran, then the runtime under test with it.\n"
                        "printf '%s\\n' \"$*\" >> '" + temp_.sub("runtime-calls.log") + "'\n"
                        "exec '" + runtime_ + "' \"$@\"\n";
  REQUIRE(writeFileFast(temp_.sub("runtime-wrapper"), wrapper, 0755));

  startContainerd();
  buildAndImportImage();
}

void Containerd::startContainerd() {
  std::ostringstream config;
  config << "version = 2\n"
         << "root = \"" << temp_.sub("root") << "\"\n"
         << "state = \"" << temp_.sub("state") << "\"\n"
         << "temp = \"" << temp_.sub("tmp") << "\"\n"
         << "disabled_plugins = [";
  for (const char* plugin : kDisabledPlugins) config << (plugin == kDisabledPlugins[0] ? "" : ", ") << '"' << plugin << '"';
  config << "]\n"
         << "[grpc]\n  address = \"" << socket_ << "\"\n"
         << "[ttrpc]\n  address = \"" << socket_ << ".ttrpc\"\n"
         << "[debug]\n  level = \"info\"\n"
         // containerd itself stays where it was started; the tasks' groups come from their spec.
         << "[cgroup]\n  path = \"\"\n";
  REQUIRE(writeFileFast(temp_.sub("config.toml"), config.str()));

  auto log = openFile(temp_.sub("containerd.log"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  REQUIRE(log);
  // TMPDIR: where the shim writes an exec's process.json and a terminal's
  // console socket (it inherits containerd's environment).
  containerd_ = spawn({"containerd", "--config", temp_.sub("config.toml")}, {"TMPDIR=" + temp_.sub("tmp")},
                      log->get(), log->get());
  const auto deadline = std::chrono::steady_clock::now() + kStartLimit;
  while (!socketAccepts(socket_)) {
    auto exited = containerd_.tryWait();
    INFO("containerd log:\n" << logText(kLogLines));
    REQUIRE(exited);
    if (*exited) FAIL("containerd exited with " << (*exited)->exitCode << " before serving " << socket_);
    if (std::chrono::steady_clock::now() > deadline)
      FAIL("containerd did not serve " << socket_ << " within " << kStartLimit.count() << " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void Containerd::buildAndImportImage() {
  // The host's busybox-static with its applet links, one layer of an OCI
  // layout made with umoci, packed as an OCI archive for `ctr image import`.
  const std::string rootfs = temp_.sub("image/rootfs");
  const std::string layout = temp_.sub("image/layout");
  const std::string archive = temp_.sub("image/busybox.tar");
  testing::makeBusyboxRootfs(rootfs);
  const std::vector<std::string> tmp = {"TMPDIR=" + temp_.sub("tmp")};
  const std::vector<std::vector<std::string>> steps = {
      {"umoci", "init", "--layout", layout},
      {"umoci", "new", "--image", layout + ":latest"},
      {"umoci", "insert", "--image", layout + ":latest", rootfs, "/"},
      {"umoci", "config", "--image", layout + ":latest", "--config.cmd", "/bin/sh", "--config.workingdir", "/"},
      {"umoci", "gc", "--layout", layout},
      {"tar", "-C", layout, "-cf", archive, "."},
  };
  for (const auto& step : steps) {
    CommandRun run = runCommand(step, kSetupCommandLimit, tmp);
    INFO(run.command << "\nstdout: " << run.out << "\nstderr: " << run.err);
    REQUIRE_FALSE(run.timedOut);
    REQUIRE(run.exitCode == 0);
  }
  CommandRun imported = ctr({"image", "import", "--base-name", "berth.test/busybox", archive}, kSetupCommandLimit);
  INFO(imported.command << "\nstdout: " << imported.out << "\nstderr: " << imported.err << "\ncontainerd log:\n"
                        << logText(kLogLines));
  REQUIRE(imported.exitCode == 0);
  image_ = "berth.test/busybox:latest";
  CommandRun listed = ctr({"image", "ls", "-q"});
  REQUIRE(listed.exitCode == 0);
  REQUIRE(linesOf(listed.out) == std::vector<std::string>{image_});
}

CommandRun Containerd::ctr(const std::vector<std::string>& args, std::chrono::milliseconds limit) const {
  return runCommand(concat({{"ctr", "--address", socket_, "--namespace", namespace_}, args}), limit,
                    {"TMPDIR=" + temp_.sub("tmp")});
}

CommandRun Containerd::ctrOnTerminal(const std::vector<std::string>& args, std::chrono::milliseconds limit) const {
  return runOnTerminal(concat({{"ctr", "--address", socket_, "--namespace", namespace_}, args}), limit,
                       {"TMPDIR=" + temp_.sub("tmp")});
}

std::vector<std::string> Containerd::runFlags() const {
  return {"--runc-binary", temp_.sub("runtime-wrapper"), "--runc-root", temp_.sub("runc"), "--fifo-dir",
          temp_.sub("fifo")};
}

std::vector<std::string> Containerd::execFlags() const { return {"--fifo-dir", temp_.sub("fifo")}; }

std::string Containerd::bundleDir(const std::string& id) const {
  return temp_.sub("state/io.containerd.runtime.v2.task/" + namespace_ + "/" + id);
}

std::vector<std::string> Containerd::runtimeCalls() const {
  auto text = readFile(temp_.sub("runtime-calls.log"));
  return text ? linesOf(*text) : std::vector<std::string>{};
}

std::string Containerd::logText(size_t lastLines) const {
  auto text = readFile(temp_.sub("containerd.log"));
  if (!text) return "";
  size_t start = text->size();
  for (size_t seen = 0; lastLines > 0 && start > 0 && seen <= lastLines;)
    if ((*text)[--start] == '\n') ++seen;
  return lastLines > 0 && start > 0 ? text->substr(start + 1) : *text;
}

std::string Containerd::taskStatus(const std::string& id) const {
  CommandRun listed = ctr({"task", "ls"});
  if (listed.exitCode != 0) return "";
  // TASK PID STATUS, after a header line.
  for (const auto& line : linesOf(listed.out)) {
    std::istringstream fields(line);
    std::string task, pid, status;
    fields >> task >> pid >> status;
    if (task == id) return status;
  }
  return "";
}

bool Containerd::awaitTaskStatus(const std::string& id, const std::string& status,
                                 std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (taskStatus(id) == status) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::vector<std::string> Containerd::taskCgroups() const {
  std::vector<std::string> groups;
  for (const auto& hierarchy : cgroupHierarchies()) descendantsOf(hierarchy + "/" + namespace_, groups);
  return groups;
}

std::vector<std::string> Containerd::leftovers() const {
  std::vector<std::string> found;
  for (const auto& group : taskCgroups()) found.push_back("cgroup " + group);
  for (const auto& mountPoint : testing::mountsContaining(temp_.path())) found.push_back("mount " + mountPoint);
  for (const auto& process : processesOf(namespace_)) found.push_back(process.what);
  for (const auto& name : entriesOf(kShimSocketDir, false))
    if (!std::binary_search(shimSocketsBefore_.begin(), shimSocketsBefore_.end(), name))
      found.push_back(std::string("shim socket ") + kShimSocketDir + "/" + name);
  return found;
}

std::vector<std::string> Containerd::awaitNoLeftovers(std::chrono::milliseconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto found = leftovers();
    if (found.empty() || std::chrono::steady_clock::now() > deadline) return found;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void Containerd::tearDown(bool checking) {
  if (containerd_.valid()) {
    removeContainers();
    bool stopped = stopContainerd();
    if (checking) {
      INFO("containerd log:\n" << logText(kLogLines));
      CHECK(stopped);
    }
  }
  removeLeftovers(checking);
}

void Containerd::removeContainers() {
  // What a test left (a failed one, mostly): its tasks killed and deleted
  // through containerd, so that the shim and the runtime clean up as they would.
  CommandRun listed = ctr({"container", "ls", "-q"});
  if (listed.exitCode != 0) {
    WARN("oci teardown: " << listed.command << ": " << listed.err);
    return;
  }
  for (const auto& id : linesOf(listed.out)) {
    WARN("oci teardown: removing container " << id << " left by the test");
    (void)ctr({"task", "resume", id}, std::chrono::seconds(10));
    CommandRun removed = ctr({"task", "rm", "--force", id}, std::chrono::seconds(30));
    if (removed.exitCode != 0 && taskStatus(id) != "")
      WARN("oci teardown: " << removed.command << ": " << removed.err);
    removed = ctr({"container", "rm", id}, std::chrono::seconds(30));
    if (removed.exitCode != 0) WARN("oci teardown: " << removed.command << ": " << removed.err);
  }
}

bool Containerd::stopContainerd() {
  if (!containerd_.valid()) return true;
  (void)containerd_.signal(SIGTERM);
  auto status = containerd_.wait(std::chrono::duration_cast<std::chrono::milliseconds>(kStopLimit));
  if (status && *status) return (*status)->exitCode == 0;
  // Still there after the bound: SIGKILL by its pid (the pidfd), then reaped.
  (void)containerd_.signal(SIGKILL);
  (void)containerd_.wait();
  return false;
}

void Containerd::removeLeftovers(bool checking) {
  // A shim exits a moment after its task's delete.
  std::vector<std::string> found = awaitNoLeftovers(std::chrono::seconds(5));
  if (checking) {
    std::string list;
    for (const auto& line : found) list += "\n  " + line;
    INFO("left on the host by namespace " << namespace_ << ":" << list);
    CHECK(found.empty());
  }

  // Processes: a frozen group lets no SIGKILL through, so everything of the
  // namespace is thawed first; then the shims and the containers' processes, by pid.
  std::vector<std::string> groups;
  for (const auto& hierarchy : cgroupHierarchies()) {
    descendantsOf(hierarchy + "/" + namespace_, groups);
    if (pathExists(hierarchy + "/" + namespace_)) groups.push_back(hierarchy + "/" + namespace_);
  }
  for (const auto& group : groups) {
    if (pathExists(group + "/freezer.state")) (void)writeFile(group + "/freezer.state", "THAWED");
    if (pathExists(group + "/cgroup.freeze")) (void)writeFile(group + "/cgroup.freeze", "0");
  }
  auto processes = processesOf(namespace_);
  for (const auto& process : processes) ::kill(process.pid, SIGKILL);
  for (int i = 0; i < 250 && !processes.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    processes = processesOf(namespace_);
  }
  if (checking && !processes.empty()) FAIL_CHECK("processes of " << namespace_ << " survived SIGKILL");

  // Mounts under the temp dir, deepest first, before the TempDir removes it.
  auto mounts = testing::mountsContaining(temp_.path());
  std::sort(mounts.begin(), mounts.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& mountPoint : mounts) ::umount2(mountPoint.c_str(), MNT_DETACH);

  // The namespace's groups (runc leaves /<ns> itself behind; that is expected),
  // deepest first; the kernel frees a group a moment after its last process.
  for (const auto& group : groups) {
    int tries = 0;
    while (::rmdir(group.c_str()) != 0 && errno == EBUSY && ++tries < 100)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (checking && pathExists(group)) FAIL_CHECK("cannot remove cgroup " << group << ": " << std::strerror(errno));
  }

  for (const auto& name : entriesOf(kShimSocketDir, false))
    if (!std::binary_search(shimSocketsBefore_.begin(), shimSocketsBefore_.end(), name))
      ::unlink((std::string(kShimSocketDir) + "/" + name).c_str());
  // /run/containerd and its s/ (the 1.6 shim's socket dir is fixed), only if
  // this run made them and they are empty again.
  for (auto dir = createdRunDirs_.rbegin(); dir != createdRunDirs_.rend(); ++dir) (void)::rmdir(dir->c_str());
}

}  // namespace berth::oci
