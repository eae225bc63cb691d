// Restart policies: an exit by the container itself has its restart planned
// in the same commit as its `stopped` (so a pending restart survives a
// restart of the service, kill -9 included); one scheduler thread starts
// what is due through doStart, as any start, holding the container's lock
// only for that start. A stop during the backoff cancels it.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "runtime/manager_impl.hpp"
#include "runtime/restart_policy.hpp"
#include "store/store.hpp"

namespace berth::runtime {

namespace {
// A restart that could not be committed (the store refused) is tried again this much later.
constexpr int64_t kRetryUncommittedRestartMs = 1000;
}  // namespace

void ContainerManager::Impl::planRestartAfterExit(ContainerRecord& after, TransitionNote& note,
                                                  const ExitFacts& exit) const {
  bool failed = exit.exitCode != 0 || exit.signal || exit.oomKilled;
  UnixMillis exitedAt = exit.finishedAt > 0 ? exit.finishedAt : clock.now();
  int64_t ranForMs = after.startedAt ? std::max<int64_t>(0, exitedAt - *after.startedAt) : 0;
  auto plan = planRestart(after.restartPolicy, after.restartCount, after.restartBackoffMs, failed, ranForMs);
  if (!plan) return;
  after.restartCount = plan->attempt;
  after.restartBackoffMs = plan->backoffMs;
  after.restartDueAt = exitedAt + plan->backoffMs;
  note.reason = note.reason.value_or("exited") + "; restart policy " + store::restartPolicyName(after.restartPolicy) +
                ": restart " + std::to_string(plan->attempt) + " in " + std::to_string(plan->backoffMs) + " ms";
}

void ContainerManager::Impl::trackRestart(const ContainerRecord& after) {
  std::lock_guard lock(restartsMutex);
  bool changed;
  if (after.status == ContainerStatus::stopped && after.restartDueAt) {
    pendingRestarts[after.id] = *after.restartDueAt;
    changed = true;
  } else {
    changed = pendingRestarts.erase(after.id) > 0;
  }
  if (changed && restarts) restarts->changed();
}

void ContainerManager::Impl::startRestartScheduler() {
  std::lock_guard lock(restartsMutex);
  restarts = std::make_unique<DueScheduler>(clock, [this] { return restartDue(); });
}

void ContainerManager::Impl::stopRestartScheduler() {
  std::unique_ptr<DueScheduler> stopping;
  {
    std::lock_guard lock(restartsMutex);
    stopping = std::move(restarts);
  }
  // Joined outside the lock: a sweep in progress takes it.
  stopping.reset();
}

std::optional<UnixMillis> ContainerManager::Impl::restartDue() {
  std::vector<std::string> due;
  {
    std::lock_guard lock(restartsMutex);
    UnixMillis now = clock.now();
    for (const auto& [id, at] : pendingRestarts)
      if (at <= now) due.push_back(id);
  }
  for (const auto& id : due) restartByPolicy(id);
  std::lock_guard lock(restartsMutex);
  UnixMillis now = clock.now();
  std::optional<UnixMillis> next;
  for (const auto& [id, at] : pendingRestarts) {
    // Still pending although due: its start could not be committed; later, not in a busy loop.
    UnixMillis when = at <= now ? now + kRetryUncommittedRestartMs : at;
    next = next ? std::min(*next, when) : when;
  }
  return next;
}

void ContainerManager::Impl::restartByPolicy(const std::string& id) {
  int64_t t0 = clock.monotonicMillis();
  auto slot = slotFor(id);
  std::lock_guard lock(slot->opMutex);
  auto record = store.getContainer(id);
  if (!record) {
    spdlog::error("container {}: pending restart: {}", id, record.error().describe());
    if (record.error().code == Errc::not_found) trackRestart(ContainerRecord{.id = id});
    return;
  }
  // Looked at again under the lock: a stop, start or delete may have come first.
  if (record->status != ContainerStatus::stopped || !record->restartDueAt || *record->restartDueAt > clock.now())
    return;
  auto started = doStart(*slot, *record, Trigger::restart_policy, kSystemActor, t0);
  if (!started) spdlog::warn("container {}: restart {} by its policy failed: {}", id, record->restartCount,
                             started.error().describe());
}

Result<ContainerRecord> ContainerManager::Impl::cancelRestart(const ContainerRecord& record) {
  ContainerRecord after = record;
  after.restartDueAt.reset();
  after.stoppedByUser = true;
  return lifecycle.update(record, std::move(after));
}

}  // namespace berth::runtime
