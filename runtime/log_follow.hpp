#pragma once
// Following containers' console logs (runtime/console_log.hpp) as they grow.
// One inotify instance serves every follower: the kernel allows a user only
// max_user_instances (128 by default) of them, far fewer than the clients
// that may follow.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::runtime {

// A thread reading the one inotify instance; it wakes the followers of the
// directory that changed.
class LogWatch {
 public:
  struct Hub;
  // Changes in one directory, for as long as the object lives.
  class Subscription {
   public:
    ~Subscription();
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    // How many changes were seen so far; pass it to waitPast.
    uint64_t changes() const;
    // Waits up to `wait` for a change after `seen`; true if there was one.
    bool waitPast(uint64_t seen, std::chrono::milliseconds wait) const;

   private:
    friend class LogWatch;
    friend struct Hub;
    Subscription(std::shared_ptr<Hub> hub, int watch) : hub_(std::move(hub)), watch_(watch) {}
    std::shared_ptr<Hub> hub_;
    int watch_;
    uint64_t changes_ = 0;  // guarded by the hub's mutex
  };

  // At most maxSubscriptions at once; one more is refused (host_refused).
  static Result<std::unique_ptr<LogWatch>> open(size_t maxSubscriptions);
  ~LogWatch();
  LogWatch(const LogWatch&) = delete;
  LogWatch& operator=(const LogWatch&) = delete;

  Result<std::unique_ptr<Subscription>> subscribe(const std::string& dir);

 private:
  explicit LogWatch(std::shared_ptr<Hub> hub) : hub_(std::move(hub)) {}
  std::shared_ptr<Hub> hub_;
};

// Follows a log: next() hands out what was appended since the last call.
class LogFollower {
 public:
  // Starts at the end of the file as it is now; `initial` receives the tail
  // before that point (as readLogTail), so nothing is missed or repeated.
  static Result<LogFollower> open(LogWatch& watch, const std::string& logPath, std::optional<size_t> tailLines,
                                  std::string& initial);
  // New bytes, waiting up to `wait` for some; empty on timeout.
  Result<std::string> next(std::chrono::milliseconds wait);

 private:
  LogFollower() = default;
  Result<std::string> readNew();
  Result<void> reopenIfRotated();
  Result<std::string> readAcrossRotation();
  std::string path_;
  std::unique_ptr<LogWatch::Subscription> subscription_;
  UniqueFd file_;
  ino_t inode_ = 0;
};

}  // namespace berth::runtime
