#pragma once
// Slows down password guessing: after `failuresAllowed` failed logins for one
// username within `window`, further attempts for it are refused until
// `lockout` has passed. Unknown usernames are tracked like known ones, so the
// answer never tells whether a user exists. Memory is bounded: at most
// `maxTracked` usernames, the stalest dropped first.
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace berth::iam {

struct LoginThrottleConfig {
  unsigned failuresAllowed = 5;
  std::chrono::seconds window{60};
  std::chrono::seconds lockout{60};
  size_t maxTracked = 10000;
};

class LoginThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LoginThrottle(LoginThrottleConfig config = {}) : config_(config) {}

  // How long the username must wait before another attempt; nullopt: it may try now.
  std::optional<std::chrono::seconds> retryAfter(std::string_view username, Clock::time_point now = Clock::now());
  void recordFailure(std::string_view username, Clock::time_point now = Clock::now());
  void recordSuccess(std::string_view username);

 private:
  struct Attempts {
    unsigned failures = 0;
    Clock::time_point windowStart;
    Clock::time_point lockedUntil;
    Clock::time_point lastSeen;
  };
  void evictStalest();

  LoginThrottleConfig config_;
  std::mutex mutex_;
  std::map<std::string, Attempts, std::less<>> attempts_;
};

}  // namespace berth::iam
