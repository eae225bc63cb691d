#pragma once
// Keeps the event log within its retention. One thread prunes in batches of
// one short transaction each, so a writer never waits behind a long delete.
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/clock.hpp"
#include "store/records.hpp"

namespace berth::store {
class Store;
}

namespace berth::runtime {

class EventPruner {
 public:
  EventPruner(store::Store& store, const Clock& clock, store::EventRetention retention);
  ~EventPruner();
  EventPruner(const EventPruner&) = delete;
  EventPruner& operator=(const EventPruner&) = delete;

  // Events were written: a batch's worth of them wakes the pruner early.
  void written(size_t count);

 private:
  void loop();
  size_t pruneAll();

  store::Store& store_;
  const Clock& clock_;
  store::EventRetention retention_;
  std::mutex mutex_;
  std::condition_variable wake_;
  size_t writtenSinceLastPrune_ = 0;  // guarded by mutex_
  bool stopping_ = false;             // guarded by mutex_
  std::thread thread_;
};

}  // namespace berth::runtime
