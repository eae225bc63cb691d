#pragma once
// Expiry: one thread that sleeps until the earliest expires_at (or until one
// changes) and then has what is due expired. The sweep itself, which decides
// and commits through the Lifecycle, is the manager's (expiry.cpp).
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "common/clock.hpp"

namespace berth::runtime {

class ExpiryScheduler {
 public:
  // Expires what is due and returns the next expires_at still ahead.
  using Sweep = std::function<std::optional<UnixMillis>()>;

  ExpiryScheduler(const Clock& clock, Sweep sweep);
  ~ExpiryScheduler();
  ExpiryScheduler(const ExpiryScheduler&) = delete;
  ExpiryScheduler& operator=(const ExpiryScheduler&) = delete;

  // An expires_at was set, moved or cleared: sweep again.
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
