#include "cgroup/translate.hpp"

#include <algorithm>

namespace berth::cgroup {

namespace {
// The kernel refuses a cfs quota below 1 ms (EINVAL), so tiny requests round up to it.
constexpr int64_t kMinQuotaUsec = 1000;
constexpr uint64_t kMinWeight = 1;
constexpr uint64_t kMaxWeight = 10000;
constexpr uint64_t kDefaultWeight = 100;
constexpr uint64_t kMinShares = 2;
constexpr uint64_t kMaxShares = 262144;
}  // namespace

int64_t quotaFromMillicores(uint32_t millicores) {
  if (millicores == 0) return -1;
  int64_t quota = static_cast<int64_t>(millicores) * static_cast<int64_t>(kCpuPeriodUsec) / 1000;
  return std::max(quota, kMinQuotaUsec);
}

std::string cpuMaxFromMillicores(uint32_t millicores) {
  std::string period = std::to_string(kCpuPeriodUsec);
  if (millicores == 0) return "max " + period;
  return std::to_string(quotaFromMillicores(millicores)) + " " + period;
}

uint64_t weightFromMillicores(uint32_t millicores) {
  if (millicores == 0) return kDefaultWeight;
  return std::clamp<uint64_t>(uint64_t{millicores} * kDefaultWeight / 1000, kMinWeight, kMaxWeight);
}

// The linear map of runc/crun/youki: weight [1, 10000] onto shares [2, 262144].
uint64_t sharesFromWeight(uint64_t weight) {
  weight = std::clamp(weight, kMinWeight, kMaxWeight);
  return kMinShares + ((weight - 1) * (kMaxShares - kMinShares)) / (kMaxWeight - 1);
}

uint64_t weightFromShares(uint64_t shares) {
  shares = std::clamp(shares, kMinShares, kMaxShares);
  return kMinWeight + ((shares - kMinShares) * (kMaxWeight - 1)) / (kMaxShares - kMinShares);
}

}  // namespace berth::cgroup
