#pragma once
// Time as milliseconds since the unix epoch (UTC) in records, ISO-8601 on the wire.
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace berth {

using UnixMillis = int64_t;

UnixMillis nowMillis();
// CLOCK_MONOTONIC in milliseconds, for durations and deadlines.
int64_t monotonicMillis();
// "2025-01-15T10:30:00.000Z"
std::string formatIsoMillis(UnixMillis millis);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff]Z" and "+00:00"-style offsets.
Result<UnixMillis> parseIsoMillis(std::string_view text);

// The time as the lifecycle sees it: a seam, so that tests can move time on
// (expiry, recorded times) without waiting for it.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual UnixMillis now() const = 0;
  virtual int64_t monotonicMillis() const = 0;
  // Blocks on `wake` (with `lock` held) until it is notified or now() reaches
  // `deadline`; may return early, so callers look again.
  virtual void waitUntil(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                         UnixMillis deadline) const = 0;
};

// The host's clocks (CLOCK_REALTIME, CLOCK_MONOTONIC).
const Clock& systemClock();

}  // namespace berth
