#include "runtime/manager.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "cgroup/cgroup.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/process.hpp"
#include "common/scope_guard.hpp"
#include "namespaces/security.hpp"
#include "runtime/console_log.hpp"
#include "runtime/images.hpp"
#include "runtime/shim.hpp"
#include "runtime/state_machine.hpp"
#include "runtime/supervisor.hpp"
#include "store/store.hpp"

namespace berth::runtime {

std::string_view operationName(Operation op) {
  switch (op) {
    case Operation::start: return "start";
    case Operation::stop: return "stop";
    case Operation::force_stop: return "force-stop";
    case Operation::restart: return "restart";
    case Operation::pause: return "pause";
    case Operation::resume: return "resume";
  }
  return "unknown";
}

std::optional<Operation> parseOperation(std::string_view name) {
  for (Operation op : {Operation::start, Operation::stop, Operation::force_stop, Operation::restart, Operation::pause,
                       Operation::resume})
    if (operationName(op) == name) return op;
  return std::nullopt;
}

namespace {

constexpr auto kShimReportDeadline = std::chrono::seconds(30);
constexpr auto kFreezeDeadline = std::chrono::seconds(5);
// After the grace period (or at once for force-stop) the kill gets this long
// before the call gives up with 503: a process stuck in D state.
constexpr auto kKillDeadline = std::chrono::seconds(30);
constexpr std::string_view kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

Result<std::string> executablePath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) return sysFail("readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

std::string signalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "SIG" + std::to_string(sig);
}

cgroup::Limits limitsFor(const Resources& resources, uint64_t defaultPidsMax) {
  cgroup::Limits limits;
  limits.memoryBytes = resources.memoryMb.value_or(0) * 1024 * 1024;
  limits.cpuMillicores = resources.cpuMillicores.value_or(0);
  limits.pidsMax = resources.pidsMax.value_or(defaultPidsMax);
  return limits;
}

// One running init, as seen through its shim.
struct Run {
  InstancePaths paths;
  ShimState state;
  UniqueFd shimPidfd;
  UniqueFd initPidfd;
  bool isOurChild = true;
  uint64_t oomKillsAtStart = 0;
};

// The in-memory side of one container. opMutex serializes operations; the
// record itself lives in the store, so reads never wait for an operation.
struct Slot {
  std::mutex opMutex;
  std::unique_ptr<Run> run;             // guarded by opMutex
  std::optional<cgroup::Group> group;   // guarded by opMutex
  // A force-stop escalates a graceful stop that is waiting out its grace period.
  std::mutex stopMutex;
  bool gracefulStopInFlight = false;    // guarded by stopMutex
  UniqueFd escalate{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
};

}  // namespace

struct ContainerManager::Impl {
  RuntimeConfig config;
  store::Store& store;
  cgroup::Driver driver;
  std::string imagesDir;
  std::string containersDir;
  std::string shimBinary;
  std::vector<sock_filter> seccompFilter;  // compiled once, handed to every shim
  std::unique_ptr<LogWatch> logWatch;

  std::mutex slotsMutex;
  std::map<std::string, std::shared_ptr<Slot>> slots;
  std::unique_ptr<Supervisor> supervisor;  // last member to start, first to stop

  // Expiry: one thread sleeps until the earliest expires_at (or a change).
  std::mutex expiryMutex;
  std::condition_variable expiryWake;
  bool stopping = false;  // guarded by expiryMutex
  std::thread expiryThread;

  Impl(RuntimeConfig cfg, store::Store& s, cgroup::Driver d)
      : config(std::move(cfg)), store(s), driver(std::move(d)) {
    imagesDir = config.dataDir + "/images";
    containersDir = config.dataDir + "/containers";
  }

  std::shared_ptr<Slot> slotFor(const std::string& id) {
    std::lock_guard lock(slotsMutex);
    auto& slot = slots[id];
    if (!slot) slot = std::make_shared<Slot>();
    return slot;
  }

  std::string containerDir(const std::string& id) const { return containersDir + "/" + id; }
  std::string consoleLogPath(const std::string& id) const { return containerDir(id) + "/console.log"; }
  InstancePaths instancePaths(const std::string& runtimeId) const { return {config.runDir + "/" + runtimeId}; }

  // --- transitions ---

  Result<ContainerRecord> commit(ContainerRecord record, ContainerStatus to, std::string_view actor,
                                 int64_t requestStartMs, store::TransitionMetadata metadata,
                                 std::optional<UnixMillis> transitionTime = std::nullopt) {
    store::StatusLogEntry entry;
    entry.containerId = record.id;
    entry.fromStatus = record.status;
    entry.toStatus = to;
    entry.transitionTime = transitionTime.value_or(nowMillis());
    entry.durationMs = std::max<int64_t>(0, monotonicMillis() - requestStartMs);
    entry.triggeredBy = std::string(actor);
    entry.metadata = std::move(metadata);
    record.status = to;
    record.updatedAt = nowMillis();
    BERTH_TRY(auto written, store.commitTransition(record, std::move(entry)));
    (void)written;
    return record;
  }

  // --- the runtime instance: cgroup and directories ---

  Result<void> ensureInstance(Slot& slot, ContainerRecord& record) {
    if (slot.group) return {};
    if (!record.runtimeId.empty() && driver.groupExists(record.runtimeId)) {
      BERTH_TRY(auto group, driver.openGroup(record.runtimeId));
      slot.group.emplace(std::move(group));
      return {};
    }
    // Missing (first start or removed behind our back): rebuild with a new
    // runtime id; the writable layer under the container dir is kept.
    record.runtimeId = newRuntimeId();
    BERTH_TRY(auto group, driver.createGroup(record.runtimeId));
    BERTH_TRYV(withContext(group.setLimits(limitsFor(record.resources, config.defaultPidsMax)), "cgroup limits"));
    slot.group.emplace(std::move(group));
    return {};
  }

  Result<void> makeContainerDirs(const std::string& id) {
    std::string dir = containerDir(id);
    for (const char* sub : {"upper", "work", "merged"}) BERTH_TRYV(makeDirs(dir + "/" + sub, 0700));
    return {};
  }

  ShimSpec shimSpecFor(const ContainerRecord& record, const cgroup::Group& group) const {
    ShimSpec spec;
    std::string dir = containerDir(record.id);
    spec.containerId = record.id;
    spec.runtimeId = record.runtimeId;
    spec.imageDir = imageRootfs(imagesDir, record.image);
    spec.upperDir = dir + "/upper";
    spec.workDir = dir + "/work";
    spec.mergedDir = dir + "/merged";
    spec.argv = record.command.empty() ? std::vector<std::string>{"/bin/sh"} : record.command;
    std::string hostname = record.hostname.empty() ? record.name : record.hostname;
    if (!record.env.count("PATH")) spec.env.push_back("PATH=" + std::string(kDefaultPath));
    spec.env.push_back("HOSTNAME=" + hostname);
    for (const auto& [key, value] : record.env) spec.env.push_back(key + "=" + value);
    spec.workingDir = record.workingDir.empty() ? "/" : record.workingDir;
    spec.hostname = hostname;
    spec.logPath = consoleLogPath(record.id);
    spec.logMaxBytes = config.logMaxBytes;
    spec.cgroupProcsFiles = group.procsFiles();
    spec.seccompFilter = seccompFilter;
    return spec;
  }

  Result<void> watch(const std::string& id, Run& run) {
    return supervisor->watch(id, run.shimPidfd.get());
  }

  // Starts init; on failure the container is failed, with the reason logged.
  Result<ContainerRecord> doStart(Slot& slot, ContainerRecord record, std::string_view actor, int64_t t0,
                                  std::string_view operation) {
    auto launched = [&]() -> Result<LaunchedShim> {
      if (!imageExists(imagesDir, record.image))
        return fail(Errc::host_refused, "image " + record.image + " is missing on the host");
      BERTH_TRYV(ensureInstance(slot, record));
      BERTH_TRYV(makeContainerDirs(record.id));
      BERTH_TRYV(withContext(slot.group->waitEmpty(kKillDeadline), "previous processes"));
      return launchShim(shimBinary, instancePaths(record.runtimeId), shimSpecFor(record, *slot.group),
                        kShimReportDeadline);
    }();
    if (!launched) {
      Error error = launched.error();
      store::TransitionMetadata meta{std::string(operation)};
      meta.reason = error.describe();
      record.pid.reset();
      auto failed = commit(record, ContainerStatus::failed, actor, t0, meta);
      if (!failed) spdlog::error("container {}: recording failed start: {}", record.id, failed.error().describe());
      return tl::unexpected(error.wrap("start"));
    }
    auto run = std::make_unique<Run>();
    run->paths = instancePaths(record.runtimeId);
    run->state = launched->state;
    run->shimPidfd = std::move(launched->shimPidfd);
    run->isOurChild = true;
    if (auto initPidfd = openPidfd(run->state.initPid)) run->initPidfd = std::move(*initPidfd);
    if (auto stats = slot.group->stats()) run->oomKillsAtStart = stats->oomKills;

    record.pid = run->state.initPid;
    record.startedAt = run->state.startedAt;
    record.finishedAt.reset();
    record.exitCode.reset();
    record.exitSignal.reset();
    record.oomKilled = false;
    // Reached when init exec'd (the monitor's clock), so a quick exit it
    // records can never seem to come before the start.
    auto committed = commit(record, ContainerStatus::running, actor, t0, {std::string(operation)}, run->state.startedAt);
    if (!committed) {
      // Not recorded means not running: undo the kernel side.
      (void)slot.group->killAll(kKillDeadline);
      reapRun(*run);
      return tl::unexpected(committed.error());
    }
    BERTH_TRYV(watch(record.id, *run));
    slot.run = std::move(run);
    return committed;
  }

  void reapRun(Run& run) {
    if (run.isOurChild && run.shimPidfd) {
      siginfo_t info{};
      while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(run.shimPidfd.get()), &info, WEXITED) < 0 &&
             errno == EINTR) {
      }
    }
  }

  // Once the shim is gone: its exit record, the OOM verdict, and the record fields.
  void absorbExit(Slot& slot, ContainerRecord& record, store::TransitionMetadata& meta, UnixMillis& finishedAt) {
    Run& run = *slot.run;
    reapRun(run);
    auto exit = readExitRecord(run.paths);
    finishedAt = nowMillis();
    if (exit && *exit) {
      record.exitCode = (*exit)->exitCode;
      record.exitSignal = (*exit)->signal ? std::optional(signalName((*exit)->signal)) : std::nullopt;
      finishedAt = (*exit)->finishedAt;
    } else {
      spdlog::warn("container {}: no exit record in {}", record.id, run.paths.dir);
      record.exitCode = 255;
      record.exitSignal.reset();
    }
    if (auto stats = slot.group->stats(); stats && stats->oomKills > run.oomKillsAtStart) record.oomKilled = true;
    record.pid.reset();
    record.finishedAt = finishedAt;
    meta.exitCode = record.exitCode;
    meta.signal = record.exitSignal;
    if (record.oomKilled) meta.oomKilled = true;
    slot.run.reset();
  }

  Result<bool> waitShimOrEscalation(Slot& slot, std::chrono::milliseconds timeout) {
    int64_t end = monotonicMillis() + timeout.count();
    for (;;) {
      int64_t left = std::max<int64_t>(0, end - monotonicMillis());
      pollfd fds[2] = {{slot.run->shimPidfd.get(), POLLIN, 0}, {slot.escalate.get(), POLLIN, 0}};
      int n = ::poll(fds, 2, static_cast<int>(left));
      if (n < 0) {
        if (errno == EINTR) continue;
        return sysFail("poll");
      }
      if (fds[0].revents) return true;
      return false;  // timeout or escalation: kill now
    }
  }

  // Ends the running init: SIGTERM and the grace period when graceful, then
  // the whole cgroup is killed. Fills the exit fields of record; commits nothing.
  Result<void> halt(Slot& slot, ContainerRecord& record, std::chrono::seconds timeout, bool graceful,
                    store::TransitionMetadata& meta) {
    supervisor->unwatch(record.id);
    auto rewatch = ScopeGuard([&] {
      if (slot.run) (void)watch(record.id, *slot.run);
    });
    if (record.status == ContainerStatus::paused) BERTH_TRYV(slot.group->thaw(kFreezeDeadline));
    bool exited = false;
    if (graceful && timeout.count() > 0) {
      {
        std::lock_guard lock(slot.stopMutex);
        slot.gracefulStopInFlight = true;
        uint64_t drained;
        while (::read(slot.escalate.get(), &drained, sizeof drained) > 0) {
        }
      }
      auto clearFlag = ScopeGuard([&] {
        std::lock_guard lock(slot.stopMutex);
        slot.gracefulStopInFlight = false;
      });
      if (slot.run->initPidfd && ::syscall(SYS_pidfd_send_signal, slot.run->initPidfd.get(), SIGTERM, nullptr, 0) != 0 &&
          errno != ESRCH)
        return sysFail("SIGTERM to init");
      BERTH_TRY(exited, waitShimOrEscalation(slot, timeout));
    }
    if (!exited) {
      // One deadline for the kill and the monitor's exit: timeout + 30 s at most.
      int64_t killEnd = monotonicMillis() + std::chrono::milliseconds(kKillDeadline).count();
      BERTH_TRYV(withContext(slot.group->killAll(kKillDeadline), "kill"));
      auto left = std::chrono::milliseconds(std::max<int64_t>(0, killEnd - monotonicMillis()));
      BERTH_TRY(bool gone, waitPidfdReadable(slot.run->shimPidfd.get(), left));
      if (!gone) return fail(Errc::deadline_exceeded, "the container's monitor did not exit after the kill");
    }
    if (graceful) meta.reason = exited ? "exited after SIGTERM" : "killed after the grace period";
    UnixMillis finishedAt = 0;
    absorbExit(slot, record, meta, finishedAt);
    rewatch.dismiss();
    return {};
  }

  Result<ContainerRecord> doStop(Slot& slot, ContainerRecord record, std::string_view actor, int64_t t0,
                                 std::chrono::seconds timeout, bool graceful, std::string_view operation) {
    store::TransitionMetadata meta{std::string(operation)};
    BERTH_TRYV(halt(slot, record, timeout, graceful, meta));
    return commit(record, ContainerStatus::stopped, actor, t0, meta);
  }

  // The supervisor saw a shim go: init exited by itself (or was OOM-killed).
  void onShimExit(const std::string& id) {
    auto slot = slotFor(id);
    std::lock_guard lock(slot->opMutex);
    if (!slot->run || !waitPidfdReadable(slot->run->shimPidfd.get(), std::chrono::milliseconds(0)).value_or(false))
      return;  // an operation already handled this exit
    auto record = store.getContainer(id);
    if (!record) {
      spdlog::error("container {}: exit of an unknown container: {}", id, record.error().describe());
      return;
    }
    store::TransitionMetadata meta{"exit"};
    UnixMillis finishedAt = 0;
    absorbExit(*slot, *record, meta, finishedAt);
    meta.reason = record->oomKilled ? "out of memory" : "init exited";
    auto committed = commit(*record, ContainerStatus::stopped, kSystemActor, monotonicMillis(), meta, finishedAt);
    if (!committed) spdlog::error("container {}: recording exit: {}", id, committed.error().describe());
  }

  Result<void> checkResources(const Resources& resources) const {
    const TierLimits& tier = config.tierLimits;
    auto over = [](const char* field, uint64_t value, uint64_t max) -> Result<void> {
      if (value > max)
        return fail(Errc::resource_exhausted,
                    std::string("resources.") + field + " " + std::to_string(value) + " exceeds the limit " + std::to_string(max));
      return {};
    };
    if (resources.memoryMb) BERTH_TRYV(over("memory_mb", *resources.memoryMb, tier.maxMemoryMb));
    if (resources.cpuMillicores) BERTH_TRYV(over("cpu_millicores", *resources.cpuMillicores, tier.maxCpuMillicores));
    if (resources.pidsMax) BERTH_TRYV(over("pids_max", *resources.pidsMax, tier.maxPidsMax));
    if (resources.diskMb) BERTH_TRYV(over("disk_mb", *resources.diskMb, tier.maxDiskMb));
    return {};
  }

  // --- expiry ---

  // Expires what is due; returns the next expires_at still ahead.
  std::optional<UnixMillis> expireDue() {
    auto records = store.allContainers();
    if (!records) {
      spdlog::error("expiry: {}", records.error().describe());
      return nowMillis() + 1000;
    }
    std::optional<UnixMillis> next;
    for (const auto& candidate : *records) {
      if (!candidate.expiresAt || candidate.status == ContainerStatus::expired ||
          candidate.status == ContainerStatus::deleted)
        continue;
      if (*candidate.expiresAt > nowMillis()) {
        next = next ? std::min(*next, *candidate.expiresAt) : *candidate.expiresAt;
        continue;
      }
      auto expired = expire(candidate.id);
      if (!expired) spdlog::error("container {}: expiry: {}", candidate.id, expired.error().describe());
    }
    return next;
  }

  Result<void> expire(const std::string& id) {
    int64_t t0 = monotonicMillis();
    auto slot = slotFor(id);
    std::lock_guard lock(slot->opMutex);
    BERTH_TRY(auto record, store.getContainer(id));
    if (!record.expiresAt || *record.expiresAt > nowMillis() || record.status == ContainerStatus::expired ||
        record.status == ContainerStatus::deleted)
      return {};
    store::TransitionMetadata meta{"expire"};
    if (slot->run) BERTH_TRYV(halt(*slot, record, std::chrono::seconds(0), false, meta));
    meta.reason = "expires_at passed";
    BERTH_TRYV(commit(record, ContainerStatus::expired, kSystemActor, t0, meta));
    return {};
  }

  void expiryLoop() {
    std::unique_lock lock(expiryMutex);
    while (!stopping) {
      lock.unlock();
      auto next = expireDue();
      lock.lock();
      if (stopping) break;
      if (next) {
        auto wakeAt = std::chrono::system_clock::time_point(std::chrono::milliseconds(*next));
        expiryWake.wait_until(lock, wakeAt);
      } else {
        expiryWake.wait(lock);
      }
    }
  }

  void expiryChanged() {
    std::lock_guard lock(expiryMutex);
    expiryWake.notify_all();
  }

  // --- recovery after a service start ---

  // A pause or resume cut off between the kernel change and its commit: the
  // kernel's frozen state wins, and the log says so.
  void reconcileFrozen(Slot& slot, ContainerRecord record, int64_t t0) {
    auto frozen = slot.group->frozen();
    if (!frozen) {
      spdlog::warn("container {}: reading its freezer state: {}", record.id, frozen.error().describe());
      return;
    }
    ContainerStatus actual = *frozen ? ContainerStatus::paused : ContainerStatus::running;
    if (actual == record.status) return;
    store::TransitionMetadata meta{"reconcile"};
    meta.reason = "the kernel showed the container " + std::string(store::statusName(actual)) +
                  " after a service restart";
    std::string id = record.id;
    auto committed = commit(std::move(record), actual, kSystemActor, t0, meta);
    if (!committed) spdlog::error("container {}: recording reconcile: {}", id, committed.error().describe());
  }

  Result<void> recover();
  void adoptOrSettle(ContainerRecord record, bool hostBoot);
};

void ContainerManager::Impl::adoptOrSettle(ContainerRecord record, bool hostBoot) {
  auto slot = slotFor(record.id);
  std::lock_guard lock(slot->opMutex);
  int64_t t0 = monotonicMillis();
  InstancePaths paths = instancePaths(record.runtimeId);
  if (!hostBoot && driver.groupExists(record.runtimeId)) {
    if (auto group = driver.openGroup(record.runtimeId)) slot->group.emplace(std::move(*group));
  }
  auto state = readShimState(paths);
  auto exit = readExitRecord(paths);
  bool exited = exit && *exit;  // the monitor may still be on its way out
  if (!hostBoot && !exited && slot->group && state && *state) {
    auto shimPidfd = openPidfd((*state)->shimPid);
    if (shimPidfd && !waitPidfdReadable(shimPidfd->get(), std::chrono::milliseconds(0)).value_or(true)) {
      auto run = std::make_unique<Run>();
      run->paths = paths;
      run->state = **state;
      run->shimPidfd = std::move(*shimPidfd);
      run->isOurChild = false;
      if (auto initPidfd = openPidfd(run->state.initPid)) run->initPidfd = std::move(*initPidfd);
      if (auto stats = slot->group->stats()) run->oomKillsAtStart = stats->oomKills;
      if (auto watched = watch(record.id, *run); !watched) {
        spdlog::error("container {}: cannot watch its monitor: {}", record.id, watched.error().describe());
        return;
      }
      slot->run = std::move(run);
      spdlog::info("container {}: adopted running init pid {}", record.id, slot->run->state.initPid);
      reconcileFrozen(*slot, std::move(record), t0);
      return;
    }
  }
  store::TransitionMetadata meta{hostBoot ? "host_restart" : "exit"};
  std::optional<UnixMillis> when;
  if (!hostBoot && exited) {
    record.exitCode = (*exit)->exitCode;
    record.exitSignal = (*exit)->signal ? std::optional(signalName((*exit)->signal)) : std::nullopt;
    record.finishedAt = (*exit)->finishedAt;
    when = (*exit)->finishedAt;
    meta.exitCode = record.exitCode;
    meta.signal = record.exitSignal;
    meta.reason = "exited while the service was down";
  } else {
    meta.reason = hostBoot ? "host_restart" : "runtime instance gone while the service was down";
  }
  record.pid.reset();
  auto committed = commit(record, ContainerStatus::stopped, kSystemActor, t0, meta, when);
  if (!committed) spdlog::error("container {}: recording recovery: {}", record.id, committed.error().describe());
}

Result<void> ContainerManager::Impl::recover() {
  // /run is tmpfs: an empty run dir means the host booted since we last ran.
  bool hostBoot = !pathExists(config.runDir + "/.berthd");
  BERTH_TRYV(makeDirs(config.runDir, 0700));
  BERTH_TRYV(writeFileFast(config.runDir + "/.berthd", "", 0600));
  BERTH_TRY(auto records, store.allContainers());
  std::vector<ContainerRecord> toAutostart;
  for (auto& record : records) {
    if (record.status == ContainerStatus::deleted) continue;
    if (record.status == ContainerStatus::running || record.status == ContainerStatus::paused) {
      adoptOrSettle(record, hostBoot);
      if (hostBoot && record.autostart) toAutostart.push_back(record);
    } else if (record.status == ContainerStatus::creating) {
      // A create cut off by a crash: never started, so it is a failed container.
      auto failed = commit(record, ContainerStatus::failed, kSystemActor, monotonicMillis(),
                           {"create", std::nullopt, std::nullopt, std::nullopt, "interrupted by a service restart"});
      if (!failed) spdlog::error("container {}: {}", record.id, failed.error().describe());
    } else if (hostBoot && record.autostart && record.status == ContainerStatus::stopped) {
      toAutostart.push_back(record);
    }
  }
  std::vector<std::thread> starters;
  for (const auto& record : toAutostart) {
    starters.emplace_back([this, id = record.id] {
      auto slot = slotFor(id);
      std::lock_guard lock(slot->opMutex);
      auto current = store.getContainer(id);
      if (!current || current->status != ContainerStatus::stopped) return;
      auto started = doStart(*slot, *current, kSystemActor, monotonicMillis(), "autostart");
      if (!started) spdlog::warn("container {}: autostart failed: {}", id, started.error().describe());
    });
  }
  for (auto& starter : starters) starter.join();
  return {};
}

ContainerManager::ContainerManager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ContainerManager::~ContainerManager() {
  // Containers keep running and keep their groups: only stop watching them.
  {
    std::lock_guard lock(impl_->expiryMutex);
    impl_->stopping = true;
    impl_->expiryWake.notify_all();
  }
  if (impl_->expiryThread.joinable()) impl_->expiryThread.join();
  impl_->supervisor.reset();
  std::lock_guard lock(impl_->slotsMutex);
  for (auto& [id, slot] : impl_->slots)
    if (slot->group) slot->group->release();
}

Result<std::unique_ptr<ContainerManager>> ContainerManager::open(const RuntimeConfig& config, store::Store& store) {
  BERTH_TRY(auto driver, cgroup::Driver::detect(config.cgroupRoot));
  auto impl = std::make_unique<Impl>(config, store, std::move(driver));
  impl->shimBinary = config.shimPath;
  if (impl->shimBinary.empty()) {
    BERTH_TRY(std::string self, executablePath());
    impl->shimBinary = self.substr(0, self.find_last_of('/')) + "/berth-shim";
  }
  if (::access(impl->shimBinary.c_str(), X_OK) != 0) return sysFail("shim binary " + impl->shimBinary);
  BERTH_TRY(impl->seccompFilter, withContext(ns::compileDefaultFilter(), "seccomp filter"));
  BERTH_TRY(impl->logWatch, LogWatch::open(config.logFollowersMax));
  BERTH_TRYV(makeDirs(impl->imagesDir, 0755));
  BERTH_TRYV(makeDirs(impl->containersDir, 0700));
  BERTH_TRYV(withContext(ensureBusyboxImage(impl->imagesDir), "busybox image"));
  Impl* raw = impl.get();
  BERTH_TRY(impl->supervisor, Supervisor::start([raw](const std::string& id) { raw->onShimExit(id); }));
  BERTH_TRYV(withContext(impl->recover(), "recovery"));
  impl->expiryThread = std::thread([raw] { raw->expiryLoop(); });
  return std::unique_ptr<ContainerManager>(new ContainerManager(std::move(impl)));
}

const RuntimeConfig& ContainerManager::config() const { return impl_->config; }

bool ContainerManager::hasImage(const std::string& name) const { return imageExists(impl_->imagesDir, name); }

Result<Created> ContainerManager::create(std::string_view actor, const CreateRequest& request) {
  int64_t t0 = monotonicMillis();
  Impl& m = *impl_;
  if (!isValidName(request.name)) return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  if (!hasImage(request.image)) return fail(Errc::not_found, "image " + request.image + " not found");
  BERTH_TRYV(m.checkResources(request.resources));

  ContainerRecord record;
  record.id = newObjectId();
  record.runtimeId = newRuntimeId();
  record.name = request.name;
  record.projectId = request.projectId;
  record.ownerId = std::string(actor);
  record.image = request.image;
  record.command = request.command;
  record.env = request.env;
  record.workingDir = request.workingDir.empty() ? "/" : request.workingDir;
  record.hostname = request.hostname;
  record.resources = request.resources;
  record.networkMode = request.networkMode;
  record.autostart = request.autostart;
  record.expiresAt = request.expiresAt;
  record.createdAt = record.updatedAt = nowMillis();
  record.status = ContainerStatus::stopped;

  auto slot = m.slotFor(record.id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto group, m.driver.createGroup(record.runtimeId));
  auto dropGroup = ScopeGuard([&] { (void)group.destroy(); });
  BERTH_TRYV(withContext(group.setLimits(limitsFor(record.resources, m.config.defaultPidsMax)), "cgroup limits"));
  BERTH_TRYV(m.makeContainerDirs(record.id));
  auto dropDirs = ScopeGuard([&] { (void)removeTree(m.containerDir(record.id)); });

  store::StatusLogEntry initial;
  initial.containerId = record.id;
  initial.fromStatus = ContainerStatus::creating;
  initial.toStatus = ContainerStatus::stopped;
  initial.transitionTime = nowMillis();
  initial.durationMs = monotonicMillis() - t0;
  initial.triggeredBy = std::string(actor);
  initial.metadata.operation = "create";
  BERTH_TRYV(m.store.createContainer(record, initial));
  dropGroup.dismiss();
  dropDirs.dismiss();
  slot->group.emplace(std::move(group));
  if (record.expiresAt) m.expiryChanged();
  if (!record.autostart) return Created{record, std::nullopt};
  auto started = m.doStart(*slot, record, actor, monotonicMillis(), "start");
  if (started) return Created{*started, std::nullopt};
  // The record as the failed start left it; without it, the start's error alone.
  auto failed = m.store.getContainer(record.id);
  if (!failed) return tl::unexpected(started.error());
  return Created{*failed, started.error()};
}

Result<ContainerRecord> ContainerManager::get(const std::string& id) const {
  BERTH_TRY(auto record, impl_->store.getContainer(id));
  if (record.status == ContainerStatus::deleted) return fail(Errc::not_found, "container " + id + " not found");
  return record;
}

Result<ContainerRecord> ContainerManager::getIncludingDeleted(const std::string& id) const {
  return impl_->store.getContainer(id);
}

Result<ContainerPage> ContainerManager::list(const ContainerQuery& query) const {
  return impl_->store.listContainers(query);
}

Result<LogPage> ContainerManager::statusLogs(const std::string& id, const LogQuery& query) const {
  BERTH_TRYV(impl_->store.getContainer(id));
  return impl_->store.statusLogs(id, query);
}

Result<std::map<ContainerStatus, uint64_t>> ContainerManager::countByStatus() const {
  BERTH_TRY(auto records, impl_->store.allContainers());
  std::map<ContainerStatus, uint64_t> counts;
  for (const auto& record : records) ++counts[record.status];
  return counts;
}

Result<ContainerRecord> ContainerManager::operate(std::string_view actor, const std::string& id, Operation op,
                                                  const OperationOptions& options) {
  int64_t t0 = monotonicMillis();
  Impl& m = *impl_;
  BERTH_TRYV(get(id));
  auto slot = m.slotFor(id);
  bool escalated = false;
  if (op == Operation::force_stop) {
    std::lock_guard lock(slot->stopMutex);
    if (slot->gracefulStopInFlight) {
      uint64_t one = 1;
      escalated = ::write(slot->escalate.get(), &one, sizeof one) == sizeof one;
    }
  }
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(id));
  if (escalated && record.status == ContainerStatus::stopped) return record;
  if (!isAllowed(op, record.status))
    return fail(Errc::state_conflict, "cannot " + std::string(operationName(op)) + " a container that is " +
                                          std::string(store::statusName(record.status)));
  auto timeout = options.timeout.value_or(m.config.defaultStopTimeout);
  if (record.status == ContainerStatus::running || record.status == ContainerStatus::paused) {
    if (!slot->run) return fail(Errc::internal, "container " + id + " is " + std::string(store::statusName(record.status)) + " but has no monitor");
  }
  switch (op) {
    case Operation::start:
      return m.doStart(*slot, record, actor, t0, "start");
    case Operation::stop:
      return m.doStop(*slot, record, actor, t0, timeout, true, "stop");
    case Operation::force_stop:
      return m.doStop(*slot, record, actor, t0, timeout, false, "force-stop");
    case Operation::restart: {
      if (record.status == ContainerStatus::running) {
        BERTH_TRY(record, m.doStop(*slot, record, actor, t0, timeout, true, "restart"));
        t0 = monotonicMillis();
      }
      return m.doStart(*slot, record, actor, t0, "restart");
    }
    case Operation::pause: {
      BERTH_TRYV(withContext(slot->group->freeze(kFreezeDeadline), "freeze"));
      auto committed = m.commit(record, ContainerStatus::paused, actor, t0, {"pause"});
      if (!committed) (void)slot->group->thaw(kFreezeDeadline);
      return committed;
    }
    case Operation::resume: {
      BERTH_TRYV(withContext(slot->group->thaw(kFreezeDeadline), "thaw"));
      auto committed = m.commit(record, ContainerStatus::running, actor, t0, {"resume"});
      if (!committed) (void)slot->group->freeze(kFreezeDeadline);
      return committed;
    }
  }
  return fail(Errc::internal, "unknown operation");
}

store::Resources ResourcesChange::applyTo(store::Resources current) const {
  if (memoryMb) current.memoryMb = *memoryMb;
  if (cpuMillicores) current.cpuMillicores = *cpuMillicores;
  if (pidsMax) current.pidsMax = *pidsMax;
  if (diskMb) current.diskMb = *diskMb;
  return current;
}

Result<UpdateResult> ContainerManager::update(std::string_view actor, const std::string& id,
                                              const UpdateRequest& request) {
  (void)actor;
  Impl& m = *impl_;
  auto slot = m.slotFor(id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, get(id));
  bool stoppedOrFailed = record.status == ContainerStatus::stopped || record.status == ContainerStatus::failed;
  if ((request.env || request.command || request.workingDir) && !stoppedOrFailed)
    return fail(Errc::state_conflict, "env, command and working_dir change only while stopped or failed (container is " +
                                          std::string(store::statusName(record.status)) + ")");
  if (request.name && !isValidName(*request.name))
    return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  std::optional<Resources> resources;
  if (request.resources) resources = request.resources->applyTo(record.resources);
  if (resources) BERTH_TRYV(m.checkResources(*resources));
  if (request.name) record.name = *request.name;
  if (request.autostart) record.autostart = *request.autostart;
  if (request.env) record.env = *request.env;
  if (request.command) record.command = *request.command;
  if (request.workingDir) record.workingDir = *request.workingDir;
  if (request.expiresAt) record.expiresAt = *request.expiresAt;
  if (resources && !(*resources == record.resources)) {
    record.resources = *resources;
    if (!slot->group) BERTH_TRYV(m.ensureInstance(*slot, record));
    // Limits apply live through the cgroup: no restart needed.
    BERTH_TRYV(withContext(slot->group->setLimits(limitsFor(record.resources, m.config.defaultPidsMax)), "cgroup limits"));
  }
  record.updatedAt = nowMillis();
  BERTH_TRYV(m.store.updateContainer(record));
  if (request.expiresAt) m.expiryChanged();
  return UpdateResult{record, false};
}

Result<ContainerRecord> ContainerManager::remove(std::string_view actor, const std::string& id, bool force,
                                                 bool keepVolume) {
  int64_t t0 = monotonicMillis();
  Impl& m = *impl_;
  auto slot = m.slotFor(id);
  std::unique_lock lock(slot->opMutex);
  BERTH_TRY(auto record, get(id));
  bool live = record.status == ContainerStatus::running || record.status == ContainerStatus::paused;
  if (live && !force)
    return fail(Errc::state_conflict, "cannot delete a container that is " + std::string(store::statusName(record.status)) +
                                          " (use force)");
  if (live) {
    BERTH_TRY(record, m.doStop(*slot, record, actor, t0, std::chrono::seconds(0), false, "force-stop"));
  }
  if (slot->group) {
    BERTH_TRYV(slot->group->waitEmpty(kKillDeadline));
    BERTH_TRYV(slot->group->destroy());
    slot->group.reset();
  } else if (m.driver.groupExists(record.runtimeId)) {
    BERTH_TRY(auto group, m.driver.openGroup(record.runtimeId));
    BERTH_TRYV(group.destroy());
  }
  BERTH_TRYV(removeTree(m.instancePaths(record.runtimeId).dir));
  std::string dir = m.containerDir(id);
  if (keepVolume) {
    BERTH_TRYV(removeTree(dir + "/work"));
    BERTH_TRYV(removeTree(dir + "/merged"));
  } else {
    BERTH_TRYV(removeTree(dir));
  }
  BERTH_TRY(auto deleted, m.commit(record, ContainerStatus::deleted, actor, t0, {"delete"}));
  lock.unlock();
  std::lock_guard slotsLock(m.slotsMutex);
  m.slots.erase(id);
  return deleted;
}

Result<std::string> ContainerManager::logs(const std::string& id, std::optional<size_t> tailLines) const {
  BERTH_TRYV(get(id));
  return readLogTail(impl_->consoleLogPath(id), tailLines);
}

Result<LogFollower> ContainerManager::followLogs(const std::string& id, std::optional<size_t> tailLines,
                                                 std::string& initial) const {
  BERTH_TRYV(get(id));
  return LogFollower::open(*impl_->logWatch, impl_->consoleLogPath(id), tailLines, initial);
}

Result<RuntimeInfo> ContainerManager::runtimeInfo(const std::string& id) const {
  Impl& m = *impl_;
  BERTH_TRY(auto record, get(id));
  RuntimeInfo info;
  if (!record.pid) return info;
  info.pid = *record.pid;
  if (!m.driver.groupExists(record.runtimeId)) return info;
  BERTH_TRY(auto group, m.driver.openGroup(record.runtimeId));
  group.release();  // a view: the slot owns the group
  if (auto stats = group.stats()) {
    info.memoryBytes = stats->memoryBytes;
    info.memoryLimitBytes = stats->memoryLimitBytes;
    info.cpuUsageUsec = stats->cpuUsageUsec;
    info.pidsCurrent = stats->pidsCurrent;
    info.oomKills = stats->oomKills;
  }
  if (auto pids = group.pids()) {
    for (pid_t pid : *pids) {
      auto cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
      std::string command = cmdline ? *cmdline : "";
      std::replace(command.begin(), command.end(), '\0', ' ');
      while (!command.empty() && command.back() == ' ') command.pop_back();
      info.processes.push_back({pid, command});
    }
  }
  if (record.startedAt) info.uptimeSeconds = static_cast<uint64_t>(std::max<int64_t>(0, nowMillis() - *record.startedAt) / 1000);
  return info;
}

}  // namespace berth::runtime
