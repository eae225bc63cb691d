// Recovery after a service start: the monitors that still run are adopted,
// exits recorded while the service was down are committed with their real
// time and code, a freeze the log missed is reconciled, and after a host boot
// every running container is recorded stopped and the autostart ones start.
// Pending restarts are taken up again, and stopped containers whose restart
// policy says so (always; unless-stopped not stopped by a user) start.
// Every change goes through the Lifecycle.
#include <thread>

#include <spdlog/spdlog.h>

#include "common/files.hpp"
#include "runtime/manager_impl.hpp"
#include "runtime/restart_policy.hpp"
#include "store/store.hpp"

namespace berth::runtime {

void ContainerManager::Impl::reconcileFrozen(ContainerInstance& instance, const ContainerRecord& record,
                                             int64_t startedMonotonicMs) {
  auto frozen = instance.group().frozen();
  if (!frozen) {
    spdlog::warn("container {}: reading its freezer state: {}", record.id, frozen.error().describe());
    return;
  }
  ContainerStatus actual = *frozen ? ContainerStatus::paused : ContainerStatus::running;
  if (actual == record.status) return;
  // A pause or resume cut off between the kernel change and its commit: the kernel wins, and the log says so.
  ContainerRecord after = record;
  after.status = actual;
  TransitionNote note = noteBy(kSystemActor, startedMonotonicMs);
  note.reason = "the kernel showed the container " + std::string(store::statusName(actual)) + " after a service restart";
  auto committed = lifecycle.commit(record, std::move(after), Trigger::reconcile, note);
  if (!committed) spdlog::error("container {}: recording reconcile: {}", record.id, committed.error().describe());
}

void ContainerManager::Impl::adoptOrSettle(const ContainerRecord& record, bool hostBoot) {
  auto slot = slotFor(record.id);
  std::lock_guard lock(slot->opMutex);
  int64_t t0 = clock.monotonicMillis();
  std::optional<ExitRecord> exit;
  if (!hostBoot) {
    auto group = host.cgroups->open(record.runtimeId);
    if (!group) spdlog::warn("container {}: opening its cgroup: {}", record.id, group.error().describe());
    if (group && *group) slot->setInstance(std::make_shared<ContainerInstance>(std::move(**group), config.timeouts));
    auto found = host.monitors->find(instancePaths(record.runtimeId));
    if (!found) spdlog::warn("container {}: looking for its monitor: {}", record.id, found.error().describe());
    auto instance = slot->instance();
    if (found && found->running && instance) {
      instance->attach(std::move(found->running));
      if (auto watched = watch(record.id, *instance); !watched) {
        spdlog::error("container {}: cannot watch its monitor: {}", record.id, watched.error().describe());
        return;
      }
      spdlog::info("container {}: adopted running init pid {}", record.id, instance->monitor().state().initPid);
      reconcileFrozen(*instance, record, t0);
      return;
    }
    if (found) exit = found->exit;
  }
  ContainerRecord after = record;
  after.status = ContainerStatus::stopped;
  after.pid.reset();
  TransitionNote note = noteBy(kSystemActor, t0);
  Trigger trigger = hostBoot ? Trigger::host_boot : Trigger::exit_while_down;
  ExitFacts facts;  // without a recorded exit: a failure at an unknown time
  if (exit) {
    facts = exitFactsOf(*exit);
    recordExit(after, note, facts);
    note.reachedAt = facts.finishedAt;
    note.reason = "exited while the service was down";
  } else {
    note.reason = hostBoot ? "host_restart" : "runtime instance gone while the service was down";
  }
  // An exit by itself, though unseen: the restart policy applies (a host boot is the autostart's).
  if (!hostBoot) planRestartAfterExit(after, note, facts);
  if (!hostBoot) releaseLink(record);  // its namespace is gone or going; the veth with it, now
  auto committed = lifecycle.commit(record, std::move(after), trigger, note);
  if (!committed) spdlog::error("container {}: recording recovery: {}", record.id, committed.error().describe());
}

Result<void> ContainerManager::Impl::recover() {
  // /run is tmpfs: an empty run dir means the host booted since we last ran.
  bool hostBoot = !pathExists(config.runDir + "/.berthd");
  BERTH_TRYV(makeDirs(config.runDir, 0700));
  BERTH_TRYV(writeFileFast(config.runDir + "/.berthd", "", 0600));
  BERTH_TRY(auto records, store.allContainers());
  std::vector<std::string> toAutostart;
  for (const auto& record : records) {
    if (record.status == ContainerStatus::running || record.status == ContainerStatus::paused) {
      adoptOrSettle(record, hostBoot);
      // always and unless-stopped bring a container back after a boot too (it was not stopped by a user).
      bool policyRestarts = record.restartPolicy.mode == store::RestartMode::always ||
                            record.restartPolicy.mode == store::RestartMode::unless_stopped;
      if (hostBoot && (record.autostart || policyRestarts)) toAutostart.push_back(record.id);
    } else if (record.status == ContainerStatus::stopped && record.restartDueAt) {
      trackRestart(record);  // pending when the service went: the scheduler takes it up
    } else if (restartsAtServiceStart(record)) {
      toAutostart.push_back(record.id);
    } else if (record.status == ContainerStatus::creating) {
      // A create cut off by a crash: never started, so it is a failed container.
      ContainerRecord after = record;
      after.status = ContainerStatus::failed;
      TransitionNote note = noteBy(kSystemActor, clock.monotonicMillis());
      note.reason = "interrupted by a service restart";
      auto failed = lifecycle.commit(record, std::move(after), Trigger::create_interrupted, note);
      if (!failed) spdlog::error("container {}: {}", record.id, failed.error().describe());
    } else if (record.status == ContainerStatus::copying) {
      abandonCopy(record);  // cut off by the crash: removed, never left copying
    } else if (hostBoot && record.autostart && record.status == ContainerStatus::stopped) {
      toAutostart.push_back(record.id);
    }
  }
  reconcileLinks();
  std::vector<std::thread> starters;
  for (const auto& id : toAutostart) {
    starters.emplace_back([this, id] {
      auto slot = slotFor(id);
      std::lock_guard lock(slot->opMutex);
      auto current = store.getContainer(id);
      if (!current || !acceptsFrom(Trigger::autostart, current->status)) return;
      auto started = doStart(*slot, *current, Trigger::autostart, kSystemActor, clock.monotonicMillis());
      if (!started) spdlog::warn("container {}: autostart failed: {}", id, started.error().describe());
    });
  }
  for (auto& starter : starters) starter.join();
  return {};
}

}  // namespace berth::runtime
