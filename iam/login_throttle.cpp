#include "iam/login_throttle.hpp"

#include <algorithm>

namespace berth::iam {

std::optional<std::chrono::seconds> LoginThrottle::retryAfter(std::string_view username, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = attempts_.find(username);
  if (it == attempts_.end() || now >= it->second.lockedUntil) return std::nullopt;
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.lockedUntil - now);
  return std::max(left, std::chrono::seconds(1));
}

void LoginThrottle::recordFailure(std::string_view username, Clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = attempts_.find(username);
  if (it == attempts_.end()) {
    if (attempts_.size() >= config_.maxTracked) evictStalest();
    it = attempts_.emplace(std::string(username), Attempts{0, now, {}, now}).first;
  }
  Attempts& a = it->second;
  if (now - a.windowStart > config_.window) {
    a.failures = 0;
    a.windowStart = now;
  }
  a.lastSeen = now;
  if (++a.failures >= config_.failuresAllowed) {
    a.lockedUntil = now + config_.lockout;
    a.failures = 0;
    a.windowStart = a.lockedUntil;
  }
}

void LoginThrottle::recordSuccess(std::string_view username) {
  std::lock_guard lock(mutex_);
  if (auto it = attempts_.find(username); it != attempts_.end()) attempts_.erase(it);
}

void LoginThrottle::evictStalest() {
  auto stalest = std::min_element(attempts_.begin(), attempts_.end(),
                                  [](const auto& a, const auto& b) { return a.second.lastSeen < b.second.lastSeen; });
  if (stalest != attempts_.end()) attempts_.erase(stalest);
}

}  // namespace berth::iam
