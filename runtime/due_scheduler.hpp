#pragma once
// One thread that sleeps until the earliest due time its sweep reports (or
// until told that one changed) and then sweeps again. Expiry (expiry.cpp) and
// pending restarts (restarts.cpp) each run one; the sweep decides and commits
// through the Lifecycle.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.hpp"

namespace berth::runtime {

class DueScheduler {
 public:
  // Does what is due and returns the next due time still ahead.
  using Sweep = std::function<std::optional<UnixMillis>()>;

  DueScheduler(const Clock& clock, Sweep sweep);
  ~DueScheduler();
  DueScheduler(const DueScheduler&) = delete;
  DueScheduler& operator=(const DueScheduler&) = delete;

  // A due time was set, moved or cleared: sweep again.
  void changed();

 private:
  void loop();

  const Clock& clock_;
  Sweep sweep_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool changed_ = false;   // guarded by mutex_: a change during a sweep is not lost
  bool stopping_ = false;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace berth::runtime
