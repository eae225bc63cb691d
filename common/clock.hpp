#pragma once
// Time as milliseconds since the unix epoch (UTC) in records, ISO-8601 on the wire.
#include <cstdint>
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

}  // namespace berth
