#include "runtime/event_pruner.hpp"

#include <spdlog/spdlog.h>

#include "store/store.hpp"

namespace berth::runtime {

namespace {
constexpr size_t kBatch = 1000;
// Age-based retention needs a look now and then even when nothing is written.
constexpr auto kIdleLook = std::chrono::seconds(60);
}  // namespace

EventPruner::EventPruner(store::Store& store, const Clock& clock, store::EventRetention retention)
    : store_(store), clock_(clock), retention_(retention), thread_([this] { loop(); }) {}

EventPruner::~EventPruner() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void EventPruner::written(size_t count) {
  std::lock_guard lock(mutex_);
  writtenSinceLastPrune_ += count;
  if (writtenSinceLastPrune_ >= kBatch) wake_.notify_all();
}

size_t EventPruner::pruneAll() {
  size_t total = 0;
  for (;;) {
    auto pruned = store_.pruneEvents(retention_, clock_.now(), kBatch);
    if (!pruned) {
      spdlog::error("pruning the event log: {}", pruned.error().describe());
      return total;
    }
    total += *pruned;
    if (*pruned < kBatch) return total;
  }
}

void EventPruner::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    writtenSinceLastPrune_ = 0;
    lock.unlock();
    if (size_t pruned = pruneAll(); pruned > 0) spdlog::debug("event log: pruned {} events", pruned);
    lock.lock();
    wake_.wait_for(lock, kIdleLook, [this] { return stopping_ || writtenSinceLastPrune_ >= kBatch; });
  }
}

}  // namespace berth::runtime
