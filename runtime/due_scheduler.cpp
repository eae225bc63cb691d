#include "runtime/due_scheduler.hpp"

namespace berth::runtime {

DueScheduler::DueScheduler(const Clock& clock, Sweep sweep)
    : clock_(clock), sweep_(std::move(sweep)), thread_([this] { loop(); }) {}

DueScheduler::~DueScheduler() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void DueScheduler::changed() {
  {
    std::lock_guard lock(mutex_);
    changed_ = true;
  }
  wake_.notify_all();
}

void DueScheduler::loop() {
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

}  // namespace berth::runtime
