#pragma once
// Pure translations between berth's resource units and the kernel's files.
#include <cstdint>
#include <string>

namespace berth::cgroup {

inline constexpr uint64_t kCpuPeriodUsec = 100000;

// millicores -> cfs quota (v1 cpu.cfs_quota_us) over kCpuPeriodUsec; 0 -> -1 (unlimited).
int64_t quotaFromMillicores(uint32_t millicores);
// millicores -> v2 "cpu.max" content, "max 100000" for 0.
std::string cpuMaxFromMillicores(uint32_t millicores);
// millicores -> v2 cpu.weight (1..10000, 1000 millicores ~ default 100); 0 -> 100.
uint64_t weightFromMillicores(uint32_t millicores);
// v2 weight <-> v1 shares (the mapping the mainstream runtimes use).
uint64_t sharesFromWeight(uint64_t weight);
uint64_t weightFromShares(uint64_t shares);

}  // namespace berth::cgroup
