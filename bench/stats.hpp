#pragma once
// The median and 99th percentile the store benchmarks report.
#include <algorithm>
#include <vector>

namespace berth::bench {

struct Stats {
  double median = 0;
  double p99 = 0;
};

inline Stats statsOf(std::vector<double> samples) {
  if (samples.empty()) return {};
  std::sort(samples.begin(), samples.end());
  auto at = [&](double q) {
    return samples[std::min(samples.size() - 1, static_cast<size_t>(q * static_cast<double>(samples.size())))];
  };
  return {at(0.5), at(0.99)};
}

}  // namespace berth::bench
