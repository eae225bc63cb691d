// Expiry: containers whose expires_at has passed are force-stopped and
// committed `expired` in one transition, through the Lifecycle.
#include <spdlog/spdlog.h>

#include "runtime/manager_impl.hpp"
#include "store/store.hpp"

namespace berth::runtime {

std::optional<UnixMillis> ContainerManager::Impl::expireDue() {
  auto records = store.allContainers();
  if (!records) {
    spdlog::error("expiry: {}", records.error().describe());
    return clock.now() + 1000;
  }
  std::optional<UnixMillis> next;
  for (const auto& candidate : *records) {
    if (!candidate.expiresAt || !acceptsFrom(Trigger::expire, candidate.status)) continue;
    if (*candidate.expiresAt > clock.now()) {
      next = next ? std::min(*next, *candidate.expiresAt) : *candidate.expiresAt;
      continue;
    }
    auto expired = expire(candidate.id);
    if (!expired) spdlog::error("container {}: expiry: {}", candidate.id, expired.error().describe());
  }
  return next;
}

Result<void> ContainerManager::Impl::expire(const std::string& id) {
  int64_t t0 = clock.monotonicMillis();
  auto slot = slotFor(id);
  std::lock_guard lock(slot->opMutex);
  BERTH_TRY(auto record, store.getContainer(id));
  // Looked at again under the lock: it may have changed since the sweep read it.
  if (!record.expiresAt || *record.expiresAt > clock.now() || !acceptsFrom(Trigger::expire, record.status)) return {};
  ContainerRecord after = record;
  after.status = ContainerStatus::expired;
  TransitionNote note = noteBy(kSystemActor, t0);
  auto instance = slot->instance();
  if (instance && instance->running()) {
    BERTH_TRY(auto halted, halt(*instance, record, std::nullopt));
    recordExit(after, note, halted.exit);
  }
  note.reason = "expires_at passed";
  BERTH_TRYV(lifecycle.commit(record, std::move(after), Trigger::expire, note));
  return {};
}

}  // namespace berth::runtime
