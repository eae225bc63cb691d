#pragma once
// Identifiers of API.md §1.
#include <cstdint>
#include <string>
#include <string_view>

namespace berth {

// 24 lowercase hex: 4-byte big-endian unix seconds + 8 random bytes, so ids sort by creation time.
std::string newObjectId();
// The same layout with caller-chosen low bytes (status-log entries use a sequence there).
std::string makeObjectId(uint32_t unixSeconds, uint64_t low);
// 12 lowercase hex, random: the id of one runtime instance (cgroup, run dir).
std::string newRuntimeId();

bool isObjectId(std::string_view text);   // exactly 24 of [0-9a-f]
bool isRuntimeId(std::string_view text);  // exactly 12 of [0-9a-f]
// 1-64 of [A-Za-z0-9-]
bool isValidName(std::string_view text);

// Fills buf with kernel randomness (getrandom); aborts only if the kernel cannot provide it.
void randomBytes(void* buf, size_t len);
std::string toHex(const void* data, size_t len);

}  // namespace berth
