// Expiry: containers whose expires_at has passed are force-stopped and
// committed `expired` in one transition, through the Lifecycle.
#include "runtime/expiry.hpp"

#include <spdlog/spdlog.h>

#include "runtime/manager_impl.hpp"
#include "store/store.hpp"

namespace berth::runtime {

ExpiryScheduler::ExpiryScheduler(const Clock& clock, Sweep sweep)
    : clock_(clock), sweep_(std::move(sweep)), thread_([this] { loop(); }) {}

ExpiryScheduler::~ExpiryScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ExpiryScheduler::changed() {
  {
    std::lock_guard lock(mutex_);
    changed_ = true;
  }
  wake_.notify_all();
}

void ExpiryScheduler::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    changed_ = false;
    lock.unlock();
    std::optional<UnixMillis> next = sweep_();
    lock.lock();
    if (stopping_) break;
    if (changed_) continue;
    if (next) {
      clock_.waitUntil(wake_, lock, *next);
    } else {
      wake_.wait(lock);
    }
  }
}

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
