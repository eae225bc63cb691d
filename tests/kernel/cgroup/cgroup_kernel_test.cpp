// The cgroup drivers on this kernel: real groups under a unique root, real
// processes cloned into them. Every test removes its groups, root and
// processes, also when it fails, and checks that nothing is left.
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "common/process.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::cgroup;
using namespace std::chrono_literals;

namespace {

constexpr auto kWait = 5000ms;
const std::string kHybridV2 = "/sys/fs/cgroup/unified";

// A driver under a fresh root. On destruction (also while a failed REQUIRE
// unwinds) it kills and removes every group left under the root, removes the
// root and checks that no directory of it remains in any hierarchy.
class ScopedRoot {
 public:
  explicit ScopedRoot(std::optional<Mounts> mounts = std::nullopt) : root_(testing::uniqueCgroupRoot()) {
    auto driver = mounts ? Driver::create(*mounts, root_) : Driver::detect(root_);
    REQUIRE(driver);
    driver_.emplace(std::move(*driver));
  }
  ~ScopedRoot() {
    if (auto names = driver_->listGroups()) {
      for (const std::string& name : *names) {
        auto group = driver_->openGroup(name);
        if (!group) continue;
        (void)group->killAll(kWait);
        (void)group->destroy();
      }
    }
    auto removed = driver_->removeRoot();
    if (!removed) std::fprintf(stderr, "removeRoot: %s\n", removed.error().describe().c_str());
    CHECK(testing::leftoverCgroups(root_).empty());
  }
  ScopedRoot(const ScopedRoot&) = delete;
  ScopedRoot& operator=(const ScopedRoot&) = delete;

  Driver& driver() { return *driver_; }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
  std::optional<Driver> driver_;
};

Group makeGroup(Driver& driver, const std::string& name) {
  auto group = driver.createGroup(name);
  if (!group) FAIL(group.error().describe());
  return std::move(*group).commit();
}

std::string read(const std::string& path) {
  auto text = readFile(path);
  if (!text) FAIL(text.error().describe());
  return *text;
}

uint64_t readNumber(const std::string& path) { return std::strtoull(read(path).c_str(), nullptr, 10); }

void sleepFor(std::chrono::microseconds time) {
  timespec ts{static_cast<time_t>(time.count() / 1000000), static_cast<long>(time.count() % 1000000) * 1000};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// Counters the children bump and the test reads, in memory shared across fork.
class SharedCounters {
 public:
  SharedCounters() {
    void* memory = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(memory != MAP_FAILED);
    counters_ = static_cast<std::atomic<uint64_t>*>(memory);
    for (size_t i = 0; i < kCount; ++i) new (&counters_[i]) std::atomic<uint64_t>(0);
  }
  ~SharedCounters() { ::munmap(counters_, kSize); }
  SharedCounters(const SharedCounters&) = delete;
  SharedCounters& operator=(const SharedCounters&) = delete;
  std::atomic<uint64_t>& operator[](size_t i) { return counters_[i]; }

 private:
  static constexpr size_t kCount = 8;
  static constexpr size_t kSize = 4096;
  std::atomic<uint64_t>* counters_ = nullptr;
};

// Waits (bounded) until the counter moves past `from`; the tests' own polling.
bool advances(std::atomic<uint64_t>& counter, uint64_t from, std::chrono::milliseconds within = kWait) {
  auto end = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < end) {
    if (counter.load() > from) return true;
    sleepFor(1ms);
  }
  return false;
}

// In a forked child: writes "0" (the writer) to every join file of the group
// (cgroup.procs, v1 tasks), as berth's container init does. Async-signal-safe.
bool joinSelf(const std::vector<std::string>& procsFiles) {
  for (const std::string& file : procsFiles) {
    int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool written = ::write(fd, "0", 1) == 1;
    ::close(fd);
    if (!written) return false;
  }
  return true;
}

// fork with a pidfd: 0 in the child, its pid in the parent, -1 on failure.
long forkWithPidfd(int& pidfd) {
  clone_args args{};
  args.flags = CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  return ::syscall(SYS_clone3, &args, sizeof args);
}

// Starts `body` in a child that first joins the group; returns once it has,
// so the child never runs `body` outside the group.
template <typename Body>
ChildProcess spawnInto(Group& group, Body body) {
  const std::vector<std::string> procsFiles = group.joinFiles();
  int joined[2];
  REQUIRE(::pipe2(joined, O_CLOEXEC) == 0);
  UniqueFd joinedRead(joined[0]);
  UniqueFd joinedWrite(joined[1]);
  int pidfd = -1;
  long pid = forkWithPidfd(pidfd);
  if (pid == 0) {
    if (!joinSelf(procsFiles) || ::write(joined[1], "j", 1) != 1) ::_exit(101);
    body();
    ::_exit(0);
  }
  if (pid < 0) FAIL("clone3: " << std::strerror(errno));
  ChildProcess child(static_cast<pid_t>(pid), UniqueFd(pidfd));
  joinedWrite.reset();
  char byte = 0;
  if (::read(joinedRead.get(), &byte, 1) != 1) FAIL("the child could not join group " << group.name());
  return child;
}

// A child that joins the group and exits 7 at once; its exit status.
Result<std::optional<ExitStatus>> joinAndExit(Group& group) {
  const std::vector<std::string> procsFiles = group.joinFiles();
  int pidfd = -1;
  long pid = forkWithPidfd(pidfd);
  if (pid == 0) ::_exit(joinSelf(procsFiles) ? 7 : 101);
  if (pid < 0) return sysFail("clone3");
  ChildProcess child(static_cast<pid_t>(pid), UniqueFd(pidfd));
  return child.wait(kWait);
}

void tickForever(std::atomic<uint64_t>& counter) {
  for (;;) {
    ++counter;
    sleepFor(500us);
  }
}

void spinForever(std::atomic<uint64_t>& counter) {
  for (;;) ++counter;
}

// In a child: makes `size` bytes of anonymous memory resident.
void touchMemory(size_t size) {
  void* mapped = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) ::_exit(102);
  auto* bytes = static_cast<volatile char*>(mapped);
  for (size_t i = 0; i < size; i += 4096) bytes[i] = 1;
}

[[noreturn]] void pauseForever() {
  for (;;) ::pause();
}

std::string eventsOf(const Group& group) { return read(group.v2Path() + "/cgroup.events"); }

}  // namespace

TEST_CASE("groups are created under the root and removed without leftovers") {
  ScopedRoot scope;
  Driver& driver = scope.driver();
  INFO("root " << scope.root());
  {
    Group a = makeGroup(driver, "a");
    auto b = driver.createGroup("b");
    REQUIRE(b);
    CHECK(pathExists(a.v2Path() + "/cgroup.procs"));
    CHECK(a.v2Path().ends_with("/" + scope.root() + "/a"));
    if (driver.layout() == Layout::hybrid) {
      CHECK(a.v1JoinFiles().size() >= 3);  // memory, cpu[,cpuacct], pids
      for (const std::string& procs : a.v1JoinFiles()) CHECK(pathExists(procs));
    }
    CHECK(driver.groupExists("a"));
    CHECK_FALSE(driver.groupExists("c"));
    auto names = driver.listGroups();
    REQUIRE(names);
    CHECK(*names == std::vector<std::string>{"a", "b"});

    auto again = driver.createGroup("a");
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::already_exists);
    auto missing = driver.openGroup("c");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::not_found);

    auto busyRoot = driver.removeRoot();
    REQUIRE_FALSE(busyRoot);
    CHECK(busyRoot.error().code == Errc::state_conflict);

    REQUIRE(a.destroy());
    CHECK_FALSE(pathExists(a.v2Path()));
    for (const std::string& procs : a.v1JoinFiles()) CHECK_FALSE(pathExists(procs));
    CHECK(a.destroy());  // a second destroy finds nothing to do
    {
      auto opened = driver.openGroup("b");
      REQUIRE(opened);
    }
    CHECK(driver.groupExists("b"));  // dropping an opened group leaves it
    // b is removed by its uncommitted NewGroup.
  }
  auto names = driver.listGroups();
  REQUIRE(names);
  CHECK(names->empty());
  REQUIRE(driver.removeRoot());
  CHECK(testing::leftoverCgroups(scope.root()).empty());
}

TEST_CASE("limits are written to the kernel's files and read back") {
  ScopedRoot scope;
  Driver& driver = scope.driver();
  Group group = makeGroup(driver, "limits");
  REQUIRE(group.setLimits(Limits{256u << 20, 1500, 100}));

  auto v1 = [&](const std::string& controller, const std::string& file) {
    return "/sys/fs/cgroup/" + controller + "/" + scope.root() + "/limits/" + file;
  };
  if (driver.layout() == Layout::hybrid) {
    CHECK(readNumber(v1("memory", "memory.limit_in_bytes")) == 256u << 20);
    CHECK(readNumber(v1("cpu", "cpu.cfs_period_us")) == 100000);
    CHECK(readNumber(v1("cpu", "cpu.cfs_quota_us")) == 150000);
    CHECK(readNumber(v1("cpu", "cpu.shares")) == 3908);  // weight 150
    CHECK(readNumber(v1("pids", "pids.max")) == 100);
  } else {
    CHECK(readNumber(group.v2Path() + "/memory.max") == 256u << 20);
    CHECK(read(group.v2Path() + "/cpu.max") == "150000 100000\n");
    CHECK(readNumber(group.v2Path() + "/cpu.weight") == 150);
    CHECK(readNumber(group.v2Path() + "/pids.max") == 100);
  }
  auto stats = group.stats();
  REQUIRE(stats);
  CHECK(stats->memoryLimitBytes == 256u << 20);

  // 0 lifts each limit.
  REQUIRE(group.setLimits(Limits{0, 0, 0}));
  if (driver.layout() == Layout::hybrid) {
    CHECK(readNumber(v1("memory", "memory.limit_in_bytes")) > (uint64_t{1} << 62));
    CHECK(read(v1("cpu", "cpu.cfs_quota_us")) == "-1\n");
    CHECK(readNumber(v1("cpu", "cpu.shares")) == 2597);  // weight 100
    CHECK(read(v1("pids", "pids.max")) == "max\n");
  } else {
    CHECK(read(group.v2Path() + "/memory.max") == "max\n");
    CHECK(read(group.v2Path() + "/cpu.max") == "max 100000\n");
    CHECK(read(group.v2Path() + "/pids.max") == "max\n");
  }
  stats = group.stats();
  REQUIRE(stats);
  CHECK(stats->memoryLimitBytes == 0);

  // A value the kernel refuses comes back as an error naming the file.
  auto refused = group.setLimits(Limits{std::nullopt, std::nullopt, uint64_t{1} << 62});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("pids.max") != std::string::npos);
}

TEST_CASE("pids.max and the memory limit are enforced and counted") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "enforced");
  REQUIRE(group.setLimits(Limits{32u << 20, std::nullopt, 4}));

  SECTION("a fork beyond pids.max fails") {
    SharedCounters counters;
    ChildProcess child = spawnInto(group, [&] {
      int refused = 0;
      for (int i = 0; i < 8; ++i) {
        pid_t pid = ::fork();
        if (pid == 0) pauseForever();
        if (pid < 0 && errno == EAGAIN) ++refused;
      }
      counters[0] = static_cast<uint64_t>(refused) + 1;
      pauseForever();
    });
    REQUIRE(advances(counters[0], 0));
    CHECK(counters[0].load() - 1 == 5);  // the child itself and 3 of its 8 forks fit in 4
    auto stats = group.stats();
    REQUIRE(stats);
    CHECK(stats->pidsCurrent == 4);
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
    auto pids = group.pids();
    REQUIRE(pids);
    REQUIRE(group.killAll(kWait));
    REQUIRE(child.wait(kWait));
    for (pid_t pid : *pids)
      if (pid != child.pid()) ::waitpid(pid, nullptr, 0);  // reparented to us, the subreaper
  }

  SECTION("going over the memory limit is an OOM kill in stats") {
    ChildProcess child = spawnInto(group, [] {
      touchMemory(256u << 20);
      ::_exit(103);
    });
    auto status = child.wait(kWait);
    REQUIRE(status);
    REQUIRE(*status);
    CHECK((*status)->signal == SIGKILL);
    auto stats = group.stats();
    REQUIRE(stats);
    CHECK(stats->oomKills == 1);
  }
}

TEST_CASE("freeze stops the group's processes and thaw resumes them") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "freeze");
  SharedCounters counters;
  ChildProcess ticker = spawnInto(group, [&] { tickForever(counters[0]); });
  ChildProcess spinner = spawnInto(group, [&] { spinForever(counters[1]); });
  REQUIRE(advances(counters[0], 0));
  REQUIRE(advances(counters[1], 0));

  REQUIRE(group.freeze(kWait));
  CHECK(group.frozen().value_or(false));
  CHECK(eventsOf(group).find("frozen 1") != std::string::npos);
  uint64_t ticks = counters[0].load();
  uint64_t spins = counters[1].load();
  sleepFor(50ms);
  CHECK(counters[0].load() == ticks);
  CHECK(counters[1].load() == spins);
  // Freezing twice is harmless.
  REQUIRE(group.freeze(kWait));

  REQUIRE(group.thaw(kWait));
  CHECK_FALSE(group.frozen().value_or(true));
  CHECK(eventsOf(group).find("frozen 0") != std::string::npos);
  CHECK(advances(counters[0], ticks));
  CHECK(advances(counters[1], spins));

  // A frozen group still dies: the kill wakes its processes.
  REQUIRE(group.freeze(kWait));
  REQUIRE(group.killAll(kWait));
  CHECK_FALSE(group.populated().value_or(true));
  auto tickerStatus = ticker.wait(kWait);
  REQUIRE(tickerStatus);
  REQUIRE(*tickerStatus);
  CHECK((*tickerStatus)->signal == SIGKILL);
  REQUIRE(group.thaw(kWait));
  REQUIRE(group.destroy());
}

TEST_CASE("freeze of an empty group, and a freeze that runs out of time is undone") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "timeout");
  REQUIRE(group.freeze(kWait));
  CHECK(group.frozen().value_or(false));
  REQUIRE(group.thaw(kWait));
  CHECK_FALSE(group.frozen().value_or(true));

  SharedCounters counters;
  ChildProcess spinner = spawnInto(group, [&] { spinForever(counters[0]); });
  ChildProcess ticker = spawnInto(group, [&] { tickForever(counters[1]); });
  REQUIRE(advances(counters[0], 0));
  // With no time at all the running spinner usually cannot reach the freezer
  // trap before the first look; whenever that happens the group must be thawed again.
  int timeouts = 0;
  for (int attempt = 0; attempt < 200 && timeouts < 5; ++attempt) {
    auto frozen = group.freeze(0ms);
    if (frozen) {
      REQUIRE(group.thaw(kWait));
      continue;
    }
    ++timeouts;
    CHECK(frozen.error().code == Errc::deadline_exceeded);
    CHECK(read(group.v2Path() + "/cgroup.freeze") == "0\n");
    uint64_t ticks = counters[1].load();
    CHECK(advances(counters[1], ticks));
  }
  if (timeouts == 0) WARN("every 0 ms freeze completed at once: the timeout path was not exercised");
  CHECK_FALSE(group.frozen().value_or(true));
}

TEST_CASE("killAll ends every process of a group, also ones it forked") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "kill");
  // The sleepers outlive their killed parent briefly; as subreaper we reap them.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int ready[2];
  REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
  UniqueFd readyRead(ready[0]);
  UniqueFd readyWrite(ready[1]);
  constexpr int kSleepers = 50;
  ChildProcess parent = spawnInto(group, [&] {
    for (int i = 0; i < kSleepers; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) pauseForever();
      if (pid < 0) ::_exit(104);
    }
    if (::write(ready[1], "r", 1) != 1) ::_exit(105);
    pauseForever();
  });
  readyWrite.reset();
  char byte = 0;
  REQUIRE(::read(readyRead.get(), &byte, 1) == 1);

  auto pids = group.pids();
  REQUIRE(pids);
  CHECK(pids->size() == kSleepers + 1);
  CHECK(std::find(pids->begin(), pids->end(), parent.pid()) != pids->end());
  auto stats = group.stats();
  REQUIRE(stats);
  if (scope.driver().layout() == Layout::hybrid) CHECK(stats->pidsCurrent == kSleepers + 1);
  CHECK(group.populated().value_or(false));
  CHECK(eventsOf(group).find("populated 1") != std::string::npos);

  auto started = std::chrono::steady_clock::now();
  REQUIRE(group.killAll(kWait));
  auto took = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
  WARN("killAll of " << kSleepers + 1 << " processes took " << took.count() << " us");
  CHECK_FALSE(group.populated().value_or(true));
  CHECK(eventsOf(group).find("populated 0") != std::string::npos);
  auto after = group.pids();
  REQUIRE(after);
  CHECK(after->empty());

  pid_t parentPid = parent.pid();
  auto status = parent.wait(kWait);
  REQUIRE(status);
  REQUIRE(*status);
  CHECK((*status)->signal == SIGKILL);
  for (pid_t pid : *pids) {
    if (pid == parentPid) continue;
    int raw = 0;
    CHECK(::waitpid(pid, &raw, 0) == pid);
    CHECK((WIFSIGNALED(raw) && WTERMSIG(raw) == SIGKILL));
  }
  REQUIRE(group.destroy());
}

TEST_CASE("waitEmpty, populated and destroy of a populated group") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "events");
  CHECK_FALSE(group.populated().value_or(true));
  REQUIRE(group.waitEmpty(0ms));

  ChildProcess sleeper = spawnInto(group, [] { pauseForever(); });
  CHECK(group.populated().value_or(false));
  auto timedOut = group.waitEmpty(20ms);
  REQUIRE_FALSE(timedOut);
  CHECK(timedOut.error().code == Errc::deadline_exceeded);

  auto busy = group.destroy();
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == Errc::state_conflict);
  CHECK(pathExists(group.v2Path()));
  for (const std::string& procs : group.v1JoinFiles()) CHECK(pathExists(procs));

  // waitEmpty wakes on the exit, not on a timer.
  std::thread killer([&] {
    sleepFor(30ms);
    (void)sleeper.signal(SIGKILL);
  });
  auto started = std::chrono::steady_clock::now();
  auto emptied = group.waitEmpty(kWait);
  killer.join();
  REQUIRE(emptied);
  CHECK(std::chrono::steady_clock::now() - started < 2s);
  REQUIRE(sleeper.wait(kWait));
  REQUIRE(group.killAll(kWait));  // nothing left to kill
  // Straight after the last exit: destroy must not trip over a brief EBUSY.
  REQUIRE(group.destroy());
}

TEST_CASE("a group emptied by killAll takes new processes that join it through cgroup.procs") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "restart");
  ChildProcess sleeper = spawnInto(group, [] { pauseForever(); });
  REQUIRE(group.killAll(kWait));
  REQUIRE(sleeper.wait(kWait));
  // Linux 6.15+ SIGKILLs a process *cloned* (CLONE_INTO_CGROUP) into a group
  // that cgroup.kill was used on; one that joins it is left alone, so a
  // force-stopped container starts again in its own group.
  auto joined = joinAndExit(group);
  REQUIRE(joined);
  REQUIRE(*joined);
  CHECK((*joined)->signal == 0);
  CHECK((*joined)->exitCode == 7);
  REQUIRE(group.destroy());
}

// A child cloned into the group's v2 dir (CLONE_INTO_CGROUP), as berth's
// init and execs are, that exits 7 at once; its exit status.
Result<std::optional<ExitStatus>> cloneIntoAndExit(const Group& group) {
  UniqueFd dir(::open(group.v2Path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sysFail("open " + group.v2Path());
  int pidfd = -1;
  clone_args args{};
  args.flags = CLONE_PIDFD | CLONE_INTO_CGROUP;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.cgroup = static_cast<uint64_t>(dir.get());
  args.exit_signal = SIGCHLD;
  long pid = ::syscall(SYS_clone3, &args, sizeof args);
  if (pid == 0) ::_exit(7);
  if (pid < 0) return sysFail("clone3 into " + group.v2Path());
  ChildProcess child(static_cast<pid_t>(pid), UniqueFd(pidfd));
  return child.wait(kWait);
}

TEST_CASE("a killed group renewed for clone takes a process cloned into it and keeps its limits") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "renew");
  REQUIRE(group.setLimits(Limits{std::nullopt, std::nullopt, 64}));
  ChildProcess first = spawnInto(group, [] { pauseForever(); });
  REQUIRE(group.killAll(kWait));
  REQUIRE(first.wait(kWait));
  // Refused while anything is in it: an init must never share a group.
  ChildProcess second = spawnInto(group, [] { pauseForever(); });
  auto busy = group.renewForClone(Limits{std::nullopt, std::nullopt, 64});
  REQUIRE_FALSE(busy);
  CHECK(busy.error().code == Errc::state_conflict);
  REQUIRE(group.killAll(kWait));
  REQUIRE(second.wait(kWait));

  REQUIRE(group.renewForClone(Limits{std::nullopt, std::nullopt, 64}));
  auto cloned = cloneIntoAndExit(group);
  REQUIRE(cloned);
  REQUIRE(*cloned);
  CHECK((*cloned)->signal == 0);
  CHECK((*cloned)->exitCode == 7);
  const std::string pidsMax = scope.driver().layout() == Layout::hybrid
                                  ? "/sys/fs/cgroup/pids/" + scope.root() + "/renew/pids.max"
                                  : group.v2Path() + "/pids.max";
  CHECK(readNumber(pidsMax) == 64);
  for (const std::string& file : group.v1JoinFiles()) CHECK(pathExists(file));
  // Still findable by name, as after a restart of the service.
  auto opened = scope.driver().openGroup("renew");
  REQUIRE(opened);
  REQUIRE(opened->renewForClone(Limits{std::nullopt, std::nullopt, 64}));
  REQUIRE(group.destroy());
}

TEST_CASE("a v1 join by tasks moves the whole of a single-threaded process") {
  ScopedRoot scope;
  if (scope.driver().layout() != Layout::hybrid) {
    WARN("no v1 hierarchies on this host: nothing to join by tasks");
    return;
  }
  Group group = makeGroup(scope.driver(), "by-tasks");
  ChildProcess child = spawnInto(group, [] { pauseForever(); });
  const std::string cgroups = read("/proc/" + std::to_string(child.pid()) + "/cgroup");
  for (const char* controller : {"memory", "pids", "cpu"}) {
    INFO(controller << " in " << cgroups);
    CHECK(cgroups.find(controller) != std::string::npos);
    const std::string procs =
        "/sys/fs/cgroup/" + std::string(controller) + "/" + scope.root() + "/by-tasks/cgroup.procs";
    CHECK(read(procs) == std::to_string(child.pid()) + "\n");
  }
  REQUIRE(group.killAll(kWait));
  REQUIRE(child.wait(kWait));
  REQUIRE(group.destroy());
}

TEST_CASE("stats report the group's memory, cpu and pids") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "stats");
  SharedCounters counters;
  ChildProcess child = spawnInto(group, [&] {
    touchMemory(16u << 20);
    // Burn some cpu time, then report and wait.
    auto end = std::chrono::steady_clock::now() + 30ms;
    while (std::chrono::steady_clock::now() < end) {
    }
    counters[0] = 1;
    pauseForever();
  });
  REQUIRE(advances(counters[0], 0));
  auto stats = group.stats();
  REQUIRE(stats);
  CHECK(stats->cpuUsageUsec >= 5000);  // 30 ms of spinning, on a busy shared machine
  CHECK(stats->cpuUsageUsec < 10000000);
  CHECK(stats->oomKills == 0);
  if (scope.driver().layout() == Layout::hybrid || pathExists(group.v2Path() + "/memory.current")) {
    CHECK(stats->memoryBytes >= (16u << 20));
    CHECK(stats->memoryBytes < (1u << 30));
    CHECK(stats->memoryLimitBytes == 0);
    CHECK(stats->pidsCurrent == 1);
  }
  REQUIRE(group.killAll(kWait));
}

TEST_CASE("openGroup finds a group again as after a daemon restart") {
  ScopedRoot scope;
  Group created = makeGroup(scope.driver(), "reopen");  // the "old daemon" leaves it behind
  ChildProcess sleeper = spawnInto(created, [] { pauseForever(); });

  auto restarted = Driver::detect(scope.root());
  REQUIRE(restarted);
  REQUIRE(restarted->groupExists("reopen"));
  auto opened = restarted->openGroup("reopen");
  REQUIRE(opened);
  CHECK(opened->v2Path() == created.v2Path());
  CHECK(opened->v1JoinFiles() == created.v1JoinFiles());
  auto pids = opened->pids();
  REQUIRE(pids);
  CHECK(*pids == std::vector<pid_t>{sleeper.pid()});
  REQUIRE(opened->freeze(kWait));
  CHECK(created.frozen().value_or(false));
  REQUIRE(opened->thaw(kWait));
  REQUIRE(opened->killAll(kWait));
  REQUIRE(sleeper.wait(kWait));
  REQUIRE(opened->destroy());
  CHECK_FALSE(restarted->groupExists("reopen"));
}

TEST_CASE("the unified driver on this kernel's v2 tree: freeze, kill, events; no limits") {
  if (!pathExists(kHybridV2 + "/cgroup.procs")) {
    WARN("no v2 tree at " << kHybridV2 << ": the detected driver is the unified one and covers this");
    return;
  }
  std::string hostSubtree = read(kHybridV2 + "/cgroup.subtree_control");
  ScopedRoot scope(Mounts{Layout::unified, kHybridV2, {}});
  Driver& driver = scope.driver();
  CHECK(driver.layout() == Layout::unified);
  Group group = makeGroup(driver, "v2only");
  CHECK(group.v1JoinFiles().empty());
  CHECK(read(kHybridV2 + "/cgroup.subtree_control") == hostSubtree);  // the host's root is never touched

  auto limited = group.setLimits(Limits{64u << 20, std::nullopt, std::nullopt});
  REQUIRE_FALSE(limited);
  CHECK(limited.error().code == Errc::host_refused);
  CHECK(limited.error().message.find(group.v2Path() + "/memory.max") != std::string::npos);
  auto cpuLimited = group.setLimits(Limits{std::nullopt, 500, std::nullopt});
  REQUIRE_FALSE(cpuLimited);
  CHECK(cpuLimited.error().message.find("cpu.max") != std::string::npos);

  SharedCounters counters;
  ChildProcess ticker = spawnInto(group, [&] { tickForever(counters[0]); });
  REQUIRE(advances(counters[0], 0));
  REQUIRE(group.freeze(kWait));
  uint64_t ticks = counters[0].load();
  sleepFor(30ms);
  CHECK(counters[0].load() == ticks);
  REQUIRE(group.thaw(kWait));
  CHECK(advances(counters[0], ticks));

  auto stats = group.stats();
  REQUIRE(stats);
  CHECK(stats->memoryBytes == 0);  // no memory controller in this tree
  CHECK(stats->pidsCurrent == 0);

  REQUIRE(group.killAll(kWait));
  CHECK_FALSE(group.populated().value_or(true));
  REQUIRE(ticker.wait(kWait));
  REQUIRE(group.destroy());
  REQUIRE(driver.removeRoot());
}

namespace {

// What a process of the group may do with nodes it makes on a tmpfs without
// nodev (in a mount namespace of its own), as an exit code: 0 when every
// expectation held, else the number of the one that did not.
struct NodeCheck {
  mode_t type;
  unsigned major, minor;
  int flags;          // for open
  int openErrno;      // 0: the open must succeed
};

int checkNodes(const std::string& dir, const std::vector<NodeCheck>& checks, int mknodErrno) {
  if (::unshare(CLONE_NEWNS) != 0 || ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 100;
  if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=1m") != 0) return 101;
  int number = 1;
  for (const NodeCheck& check : checks) {
    const std::string path = dir + "/node" + std::to_string(number);
    const int made = ::mknod(path.c_str(), check.type | 0600, makedev(check.major, check.minor));
    if (mknodErrno != 0) {
      if (made == 0 || errno != mknodErrno) return number;
      ++number;
      continue;
    }
    if (made != 0) return 50 + number;
    const int fd = ::open(path.c_str(), check.flags | O_CLOEXEC);
    if (fd >= 0) ::close(fd);
    if (check.openErrno == 0 ? fd < 0 : (fd >= 0 || errno != check.openErrno)) return number;
    ++number;
  }
  return 0;
}

int runNodeChecks(Group& group, const std::string& dir, const std::vector<NodeCheck>& checks, int mknodErrno = 0) {
  ChildProcess child = spawnInto(group, [&] { ::_exit(checkNodes(dir, checks, mknodErrno)); });
  auto status = child.wait(kWait);
  REQUIRE(status);
  REQUIRE(*status);
  return (*status)->exitCode;
}

}  // namespace

TEST_CASE("the device policy: the default list, replaced by other rules, v1 devices and eBPF alike") {
  // This host's v1 devices hierarchy, then an eBPF program on its cgroup2 tree (what a pure v2 host gets).
  for (bool ebpf : {false, true}) {
    INFO((ebpf ? "eBPF on " + kHybridV2 : std::string("v1 devices")));
    ScopedRoot scope(ebpf ? std::optional<Mounts>(Mounts{Layout::unified, kHybridV2, {}}) : std::nullopt);
    Driver& driver = scope.driver();
    Group group = makeGroup(driver, "devices");
    if (!ebpf) {
      // The v1 group holds the default list and the init joins it.
      CHECK(read(std::string("/sys/fs/cgroup/devices/") + scope.root() + "/devices/devices.list") ==
            "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:2 rwm\nc 136:* rwm\n");
    }
    testing::TempDir dir("berth-devices");
    // Made freely; only the default nodes open (/dev/mem and a disk refuse with EPERM).
    CHECK(runNodeChecks(group, dir.path(),
                        {{S_IFBLK, 8, 0, O_RDONLY, EPERM},
                         {S_IFCHR, 1, 1, O_RDONLY, EPERM},
                         {S_IFCHR, 1, 3, O_RDWR, 0},
                         {S_IFCHR, 1, 9, O_RDONLY, 0},
                         {S_IFCHR, 1, 7, O_RDWR, 0}}) == 0);

    // Replaced: /dev/null for reading alone, nothing made.
    REQUIRE(group.setDevices({DeviceRule{.allow = true, .type = 'c', .major = 1, .minor = 3, .access = kDeviceRead}}));
    CHECK(runNodeChecks(group, dir.path(), {{S_IFCHR, 1, 3, O_RDONLY, 0}}, EPERM) == 0);
    ChildProcess reader = spawnInto(group, [] {
      const int readable = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      const int writable = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      ::_exit(readable >= 0 && writable < 0 && errno == EPERM ? 0 : 1);
    });
    auto finished = reader.wait(kWait);
    REQUIRE(finished);
    REQUIRE(*finished);
    CHECK((*finished)->exitCode == 0);

    // Everything allowed again: /dev/kmsg (1:11) opens.
    REQUIRE(group.setDevices({DeviceRule{.allow = true, .type = 'a'}}));
    CHECK(runNodeChecks(group, dir.path(), {{S_IFCHR, 1, 11, O_RDONLY, 0}}) == 0);
  }
}

TEST_CASE("a group made before the device cgroup gets its v1 devices group when opened") {
  ScopedRoot scope;
  if (scope.driver().layout() != Layout::hybrid) return;
  Group group = makeGroup(scope.driver(), "older");
  const std::string devices = std::string("/sys/fs/cgroup/devices/") + scope.root() + "/older";
  REQUIRE(::rmdir(devices.c_str()) == 0);  // as an older berth left it
  auto opened = scope.driver().openGroup("older");
  REQUIRE(opened);
  CHECK(read(devices + "/devices.list").starts_with("c *:* m\nb *:* m\nc 1:3 rwm\n"));
  // The init joins it like any other.
  auto exited = joinAndExit(*opened);
  REQUIRE(exited);
  REQUIRE(*exited);
  CHECK((*exited)->exitCode == 7);
}

TEST_CASE("freeze round trip time") {
  ScopedRoot scope;
  Group group = makeGroup(scope.driver(), "bench");
  auto measure = [&](int rounds) {
    std::vector<double> micros;
    for (int i = 0; i < rounds; ++i) {
      auto started = std::chrono::steady_clock::now();
      REQUIRE(group.freeze(kWait));
      REQUIRE(group.thaw(kWait));
      micros.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - started).count());
    }
    std::sort(micros.begin(), micros.end());
    return micros;
  };
  auto empty = measure(1000);
  double emptyMedian = empty[empty.size() / 2];
  WARN("freeze+thaw of an empty group: median " << emptyMedian << " us, p99 " << empty[empty.size() * 99 / 100]
                                               << " us");
  CHECK(emptyMedian < 1000);

  ChildProcess sleeper = spawnInto(group, [] { pauseForever(); });
  auto idle = measure(50);
  WARN("freeze+thaw of a group with one sleeping process: median " << idle[idle.size() / 2] << " us, max "
                                                                  << idle.back() << " us");
  REQUIRE(group.killAll(kWait));
}
