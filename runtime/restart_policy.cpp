#include "runtime/restart_policy.hpp"

#include <algorithm>

namespace berth::runtime {

using store::RestartMode;

int64_t nextRestartBackoffMs(int64_t lastBackoffMs, int64_t ranForMs) {
  if (lastBackoffMs <= 0 || ranForMs >= kHealthyRunMs) return kFirstRestartBackoffMs;
  return std::min(lastBackoffMs * 2, kMaxRestartBackoffMs);
}

std::optional<RestartPlan> planRestart(const store::RestartPolicy& policy, uint32_t restartsSoFar,
                                       int64_t lastBackoffMs, bool failed, int64_t ranForMs) {
  switch (policy.mode) {
    case RestartMode::no: return std::nullopt;
    case RestartMode::on_failure:
      if (!failed) return std::nullopt;
      if (policy.maxRetries > 0 && restartsSoFar >= policy.maxRetries) return std::nullopt;
      break;
    // An exit by the container itself is never a stop by a user.
    case RestartMode::always:
    case RestartMode::unless_stopped: break;
  }
  return RestartPlan{nextRestartBackoffMs(lastBackoffMs, ranForMs), restartsSoFar + 1};
}

bool restartsAtServiceStart(const store::ContainerRecord& record) {
  if (record.status != store::ContainerStatus::stopped || record.restartDueAt || !record.startedAt) return false;
  switch (record.restartPolicy.mode) {
    case RestartMode::always: return true;
    case RestartMode::unless_stopped: return !record.stoppedByUser;
    case RestartMode::no:
    case RestartMode::on_failure: return false;
  }
  return false;
}

}  // namespace berth::runtime
