// One group: limits, freeze, kill, events and removal. The v2 part (procs,
// freeze, kill, events) is the same on both layouts; limits and memory/pids
// stats go to v2 files on unified hosts and to the v1 groups on hybrid ones.
#include <fcntl.h>
#include <sys/stat.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>
#include <set>
#include <string_view>
#include <utility>

#include "cgroup/cgroup.hpp"
#include "cgroup/translate.hpp"
#include "common/files.hpp"

namespace berth::cgroup {

namespace {

using Clock = std::chrono::steady_clock;

// v1 reports "no limit" as the largest page-aligned counter (9223372036854771712);
// anything this large cannot be a real limit.
constexpr uint64_t kV1Unlimited = uint64_t{1} << 62;
// How long destroy() waits for the last exiting process to leave before rmdir again.
constexpr std::chrono::milliseconds kRmdirGrace{1000};

std::string join(const std::string& dir, std::string_view file) { return dir + "/" + std::string(file); }

// Opens a file of a group dir: relative to the dir's fd when there is one
// (no path walk on the freeze path), else by its full path.
Result<UniqueFd> openIn(int dirFd, const std::string& dir, const char* file, int flags) {
  int fd = dirFd >= 0 ? ::openat(dirFd, file, flags | O_CLOEXEC) : ::open(join(dir, file).c_str(), flags | O_CLOEXEC);
  if (fd < 0) return sysFail("open " + join(dir, file));
  return UniqueFd(fd);
}

Result<std::string> readIn(int dirFd, const std::string& dir, const char* file) {
  BERTH_TRY(UniqueFd fd, openIn(dirFd, dir, file, O_RDONLY));
  return withContext(readFd(fd.get()), join(dir, file));
}

// nullopt when the file is absent: its controller is not enabled for the group.
Result<std::optional<std::string>> readOptionalIn(int dirFd, const std::string& dir, const char* file) {
  Result<std::string> text = readIn(dirFd, dir, file);
  if (!text) {
    if (text.error().sysErrno == ENOENT) return std::optional<std::string>{};
    return tl::unexpected<Error>(std::move(text.error()));
  }
  return std::optional<std::string>{std::move(*text)};
}

// Kernel interface files take a value in one write(2).
Result<void> writeIn(int dirFd, const std::string& dir, const char* file, std::string_view content) {
  BERTH_TRY(UniqueFd fd, openIn(dirFd, dir, file, O_WRONLY));
  ssize_t n = ::write(fd.get(), content.data(), content.size());
  if (n < 0) return sysFail("write '" + std::string(content) + "' to " + join(dir, file));
  if (static_cast<size_t>(n) != content.size()) return fail(Errc::host_refused, "short write to " + join(dir, file));
  return {};
}

// A limit file that is missing means the controller is not available to this
// group; say so instead of a bare not_found that reads like a missing container.
Result<void> writeLimit(int dirFd, const std::string& dir, const char* file, std::string_view content) {
  Result<void> written = writeIn(dirFd, dir, file, content);
  if (!written && written.error().sysErrno == ENOENT)
    return sysFail(Errc::host_refused, join(dir, file) + ": controller not available for this group", ENOENT);
  return written;
}

std::optional<uint64_t> parseUint(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// The value of "key value" in a flat-keyed file (cgroup.events, cpu.stat, memory.events).
std::optional<uint64_t> keyedValue(std::string_view text, std::string_view key) {
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    if (line.size() > key.size() && line.substr(0, key.size()) == key && line[key.size()] == ' ')
      return parseUint(line.substr(key.size() + 1));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return std::nullopt;
}

Result<uint64_t> requireKey(const std::string& text, std::string_view key, const std::string& path) {
  std::optional<uint64_t> value = keyedValue(text, key);
  if (!value) return fail(Errc::internal, path + " has no numeric '" + std::string(key) + "'");
  return *value;
}

// A plain number, "max" (-> 0 = unlimited) or an absent file (-> 0).
Result<uint64_t> readCounter(int dirFd, const std::string& dir, const char* file) {
  BERTH_TRY(std::optional<std::string> text, readOptionalIn(dirFd, dir, file));
  if (!text || text->starts_with("max")) return uint64_t{0};
  std::optional<uint64_t> value = parseUint(*text);
  if (!value) return fail(Errc::internal, "unexpected content in " + join(dir, file) + ": " + *text);
  return *value;
}

// A key of a flat-keyed file; 0 when the file or the key is absent.
Result<uint64_t> readKeyed(int dirFd, const std::string& dir, const char* file, std::string_view key) {
  BERTH_TRY(std::optional<std::string> text, readOptionalIn(dirFd, dir, file));
  return text ? keyedValue(*text, key).value_or(0) : uint64_t{0};
}

std::chrono::milliseconds remaining(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds{0});
}

// Waits until `key` in cgroup.events (open as eventsFd) reads as `want`. The
// kernel flags every change with POLLPRI|POLLERR on the open file, and a read
// re-arms it, so read-check-poll cannot miss a change.
// The kernel reports a change of cgroup.events (POLLPRI) from a workqueue
// (kernfs_notify), which a busy host runs late: a group frozen in 0.1 ms was
// announced 10-20 ms later, right after a thaw. So the wait also reads the
// file again after a short while, doubling from 0.1 ms to 8 ms: a quick
// change is seen at once, a slow one costs a few reads. Before the first
// poll it reads the file back to back for kSpin: freezing a settled group
// takes the kernel 0.04-0.1 ms here, and a read costs a few microseconds.
constexpr auto kSpin = std::chrono::microseconds(100);
constexpr auto kFirstRecheck = std::chrono::microseconds(100);
constexpr auto kLongestRecheck = std::chrono::milliseconds(8);

Result<void> waitEvent(int eventsFd, const std::string& eventsPath, std::string_view key, bool want,
                       Clock::time_point deadline) {
  std::chrono::nanoseconds recheck = kFirstRecheck;
  const auto spinUntil = std::min(deadline, Clock::now() + kSpin);
  for (;;) {
    BERTH_TRY(std::string text, withContext(readFd(eventsFd), eventsPath));
    BERTH_TRY(uint64_t value, requireKey(text, key, eventsPath));
    if ((value != 0) == want) return {};
    if (Clock::now() < spinUntil) continue;
    auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - Clock::now());
    if (left.count() <= 0)
      return fail(Errc::deadline_exceeded,
                  "timed out waiting for '" + std::string(key) + " " + (want ? "1" : "0") + "' in " + eventsPath);
    auto wait = std::min(left, recheck);
    recheck = std::min<std::chrono::nanoseconds>(recheck * 2, kLongestRecheck);
    timespec timeout{static_cast<time_t>(wait.count() / 1000000000), static_cast<long>(wait.count() % 1000000000)};
    pollfd pfd{eventsFd, POLLPRI, 0};
    if (::ppoll(&pfd, 1, &timeout, nullptr) < 0 && errno != EINTR) return sysFail("poll " + eventsPath);
  }
}

}  // namespace

NewGroup::~NewGroup() {
  if (committed_) return;
  Result<void> destroyed = group_.destroy();
  if (!destroyed)
    std::fprintf(stderr, "berth: leaving cgroup %s in place: %s\n", group_.v2Path().c_str(),
                 destroyed.error().describe().c_str());
}

Group NewGroup::commit() && {
  committed_ = true;
  return std::move(group_);
}

std::vector<std::string> Group::v1Dirs() const {
  std::set<std::string> seen;
  std::vector<std::string> dirs;
  for (const auto& [controller, dir] : v1Paths_)
    if (seen.insert(dir).second) dirs.push_back(dir);
  return dirs;
}

std::vector<std::string> Group::v1JoinFiles() const {
  std::vector<std::string> files;
  for (const std::string& dir : v1Dirs()) files.push_back(join(dir, "tasks"));
  return files;
}

std::vector<std::string> Group::joinFiles() const {
  std::vector<std::string> files{join(v2Path_, "cgroup.procs")};
  for (std::string& v1 : v1JoinFiles()) files.push_back(std::move(v1));
  return files;
}

Result<void> Group::renewForClone(const Limits& limits) {
  if (!mayBeKilled_) return {};
  BERTH_TRY(bool busy, populated());
  if (busy) return fail(Errc::state_conflict, "cgroup " + v2Path_ + " still has processes");
  BERTH_TRYV(removeDir(v2Path_));
  if (::mkdir(v2Path_.c_str(), 0755) != 0) return sysFail("mkdir " + v2Path_);
  UniqueFd dir(::open(v2Path_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!dir) return sysFail("open " + v2Path_);
  v2Dir_ = std::move(dir);
  mayBeKilled_ = false;
  if (layout_ == Layout::unified) return withContext(setV2Limits(limits), "cgroup " + name_);
  return {};
}

Result<void> Group::setLimits(const Limits& limits) {
  return withContext(layout_ == Layout::unified ? setV2Limits(limits) : setV1Limits(limits), "cgroup " + name_);
}

Result<void> Group::setV2Limits(const Limits& limits) {
  int dirFd = v2Dir_.get();
  if (limits.memoryBytes) {
    std::string value = *limits.memoryBytes == 0 ? "max" : std::to_string(*limits.memoryBytes);
    BERTH_TRYV(writeLimit(dirFd, v2Path_, "memory.max", value));
  }
  if (limits.cpuMillicores) {
    BERTH_TRYV(writeLimit(dirFd, v2Path_, "cpu.max", cpuMaxFromMillicores(*limits.cpuMillicores)));
    BERTH_TRYV(writeLimit(dirFd, v2Path_, "cpu.weight", std::to_string(weightFromMillicores(*limits.cpuMillicores))));
  }
  if (limits.pidsMax) {
    std::string value = *limits.pidsMax == 0 ? "max" : std::to_string(*limits.pidsMax);
    BERTH_TRYV(writeLimit(dirFd, v2Path_, "pids.max", value));
  }
  return {};
}

Result<void> Group::setV1Limits(const Limits& limits) {
  auto dirOf = [this](const std::string& controller) -> Result<std::string> {
    auto found = v1Paths_.find(controller);
    if (found == v1Paths_.end())
      return fail(Errc::host_refused, "no v1 " + controller + " hierarchy on this host");
    return found->second;
  };
  if (limits.memoryBytes) {
    BERTH_TRY(std::string dir, dirOf("memory"));
    std::string value = *limits.memoryBytes == 0 ? "-1" : std::to_string(*limits.memoryBytes);
    BERTH_TRYV(writeLimit(-1, dir, "memory.limit_in_bytes", value));
  }
  if (limits.cpuMillicores) {
    BERTH_TRY(std::string dir, dirOf("cpu"));
    // The period first: the quota is judged against it.
    BERTH_TRYV(writeLimit(-1, dir, "cpu.cfs_period_us", std::to_string(kCpuPeriodUsec)));
    BERTH_TRYV(writeLimit(-1, dir, "cpu.cfs_quota_us", std::to_string(quotaFromMillicores(*limits.cpuMillicores))));
    uint64_t shares = sharesFromWeight(weightFromMillicores(*limits.cpuMillicores));
    BERTH_TRYV(writeLimit(-1, dir, "cpu.shares", std::to_string(shares)));
  }
  if (limits.pidsMax) {
    BERTH_TRY(std::string dir, dirOf("pids"));
    std::string value = *limits.pidsMax == 0 ? "max" : std::to_string(*limits.pidsMax);
    BERTH_TRYV(writeLimit(-1, dir, "pids.max", value));
  }
  return {};
}

Result<void> Group::setDevices(const std::vector<DeviceRule>& rules) {
  const DevicePolicy policy = reduceDeviceRules(rules);
  switch (devices_) {
    case DeviceControl::none:
      return {};
    case DeviceControl::ebpf: {
      // bpf(2) takes the group as an fd that can be read, not an O_PATH one.
      UniqueFd dir(::openat(v2Dir_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!dir) return sysFail("open " + v2Path_);
      return withContext(attachDeviceProgram(dir.get(), deviceProgram(policy)), "cgroup " + name_);
    }
    case DeviceControl::v1:
      break;
  }
  auto found = v1Paths_.find("devices");
  if (found == v1Paths_.end()) return fail(Errc::host_refused, "no v1 devices hierarchy on this host");
  const std::string& dir = found->second;
  // "a" resets the group to the default with no exceptions; each exception
  // then takes a write of its own (the controller reads one rule a write).
  BERTH_TRYV(writeIn(-1, dir, policy.defaultAllow ? "devices.allow" : "devices.deny", "a"));
  if (policy.exceptions.empty()) return {};
  const char* file = policy.defaultAllow ? "devices.deny" : "devices.allow";
  BERTH_TRY(UniqueFd fd, openIn(-1, dir, file, O_WRONLY));
  for (const DeviceRule& exception : policy.exceptions) {
    const std::string line = v1RuleLine(exception) + "\n";
    if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return sysFail("write '" + v1RuleLine(exception) + "' to " + join(dir, file));
  }
  return {};
}

Result<void> Group::freeze(std::chrono::milliseconds timeout) {
  BERTH_TRYV(beginFreeze());
  return finishFreeze(timeout);
}

Result<void> Group::beginFreeze() { return writeIn(v2Dir_.get(), v2Path_, "cgroup.freeze", "1"); }

Result<void> Group::finishFreeze(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  Result<void> waited = [&]() -> Result<void> {
    // Opened after the write, yet no change slips past: waitEvent reads before it polls.
    BERTH_TRY(UniqueFd events, openIn(v2Dir_.get(), v2Path_, "cgroup.events", O_RDONLY));
    return waitEvent(events.get(), join(v2Path_, "cgroup.events"), "frozen", true, deadline);
  }();
  if (!waited) {
    // Never leave a group half frozen: undo, then report why the freeze failed.
    Result<void> undone = writeIn(v2Dir_.get(), v2Path_, "cgroup.freeze", "0");
    if (!undone) return tl::unexpected<Error>(std::move(undone.error()).wrap("thawing after a failed freeze"));
  }
  return waited;
}

Result<void> Group::thaw(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  BERTH_TRY(UniqueFd events, openIn(v2Dir_.get(), v2Path_, "cgroup.events", O_RDONLY));
  BERTH_TRYV(writeIn(v2Dir_.get(), v2Path_, "cgroup.freeze", "0"));
  return waitEvent(events.get(), join(v2Path_, "cgroup.events"), "frozen", false, deadline);
}

Result<bool> Group::frozen() const {
  BERTH_TRY(std::string text, readIn(v2Dir_.get(), v2Path_, "cgroup.events"));
  BERTH_TRY(uint64_t value, requireKey(text, "frozen", join(v2Path_, "cgroup.events")));
  return value != 0;
}

Result<bool> Group::populated() const {
  BERTH_TRY(std::string text, readIn(v2Dir_.get(), v2Path_, "cgroup.events"));
  BERTH_TRY(uint64_t value, requireKey(text, "populated", join(v2Path_, "cgroup.events")));
  return value != 0;
}

Result<void> Group::waitEmpty(std::chrono::milliseconds timeout) const {
  auto deadline = Clock::now() + timeout;
  BERTH_TRY(UniqueFd events, openIn(v2Dir_.get(), v2Path_, "cgroup.events", O_RDONLY));
  return waitEvent(events.get(), join(v2Path_, "cgroup.events"), "populated", false, deadline);
}

Result<void> Group::killAll(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  mayBeKilled_ = true;
  Result<void> killed = writeIn(v2Dir_.get(), v2Path_, "cgroup.kill", "1");
  if (!killed) {
    if (killed.error().sysErrno != ENOENT) return killed;
    BERTH_TRYV(killEachFrozen(remaining(deadline)));  // a kernel before 5.14
  }
  return waitEmpty(remaining(deadline));
}

Result<void> Group::killEachFrozen(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  // Frozen, nothing in the group can fork a process the pid list would miss.
  BERTH_TRYV(freeze(timeout));
  Result<std::vector<pid_t>> listed = pids();
  Result<void> outcome;
  if (!listed) outcome = tl::unexpected<Error>(listed.error());
  for (pid_t pid : listed.value_or(std::vector<pid_t>{})) {
    if (::kill(pid, SIGKILL) != 0 && errno != ESRCH && outcome) outcome = sysFail("kill " + std::to_string(pid));
  }
  // A fatal signal ends even a frozen process; thaw on every path all the same.
  Result<void> thawed = thaw(remaining(deadline));
  if (!thawed && outcome) outcome = thawed;
  return outcome;
}

Result<std::vector<pid_t>> Group::pids() const {
  BERTH_TRY(std::string text, readIn(v2Dir_.get(), v2Path_, "cgroup.procs"));
  std::vector<pid_t> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::optional<uint64_t> pid = parseUint(std::string_view(text).substr(start, end - start));
    if (!pid) return fail(Errc::internal, "unexpected line in " + join(v2Path_, "cgroup.procs"));
    out.push_back(static_cast<pid_t>(*pid));
    start = end + 1;
  }
  return out;
}

Result<Stats> Group::stats() const {
  Stats stats;
  int dirFd = v2Dir_.get();
  // cpu.stat's usage_usec is there on every v2 group, controller or not, so
  // its absence means the group itself is gone.
  BERTH_TRY(std::string cpuStat, readIn(dirFd, v2Path_, "cpu.stat"));
  BERTH_TRY(stats.cpuUsageUsec, requireKey(cpuStat, "usage_usec", join(v2Path_, "cpu.stat")));
  if (layout_ == Layout::unified) {
    BERTH_TRY(stats.memoryBytes, readCounter(dirFd, v2Path_, "memory.current"));
    BERTH_TRY(stats.memoryLimitBytes, readCounter(dirFd, v2Path_, "memory.max"));
    BERTH_TRY(stats.pidsCurrent, readCounter(dirFd, v2Path_, "pids.current"));
    BERTH_TRY(stats.oomKills, readKeyed(dirFd, v2Path_, "memory.events", "oom_kill"));
    return stats;
  }
  if (auto memory = v1Paths_.find("memory"); memory != v1Paths_.end()) {
    BERTH_TRY(stats.memoryBytes, readCounter(-1, memory->second, "memory.usage_in_bytes"));
    BERTH_TRY(uint64_t limit, readCounter(-1, memory->second, "memory.limit_in_bytes"));
    stats.memoryLimitBytes = limit >= kV1Unlimited ? 0 : limit;
    BERTH_TRY(stats.oomKills, readKeyed(-1, memory->second, "memory.oom_control", "oom_kill"));
  }
  if (auto pidsDir = v1Paths_.find("pids"); pidsDir != v1Paths_.end()) {
    BERTH_TRY(stats.pidsCurrent, readCounter(-1, pidsDir->second, "pids.current"));
  }
  return stats;
}

Result<void> Group::removeDir(const std::string& dir) const {
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
  if (errno != EBUSY) return sysFail("rmdir " + dir);
  // The last process can still be on its way out: wait for the kernel's own
  // "populated 0" rather than retrying on a timer, then try once more.
  BERTH_TRYV(withContext(waitEmpty(kRmdirGrace), "rmdir " + dir));
  if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return {};
  return sysFail(errno == EBUSY ? Errc::state_conflict : Errc::host_refused, "rmdir " + dir);
}

Result<void> Group::destroy() {
  Result<bool> busy = populated();
  // An already removed v2 dir is fine: destroy() may be finishing an earlier attempt.
  if (!busy && busy.error().sysErrno != ENOENT) return tl::unexpected<Error>(std::move(busy.error()));
  if (busy && *busy) return fail(Errc::state_conflict, "cgroup " + v2Path_ + " still has processes");
  // v2 last: it is the group's identity, so a failure midway leaves it findable.
  for (const std::string& dir : v1Dirs()) BERTH_TRYV(removeDir(dir));
  BERTH_TRYV(removeDir(v2Path_));
  v2Dir_.reset();
  return {};
}

}  // namespace berth::cgroup
