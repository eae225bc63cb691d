// Spawn latency, run on demand only (hidden tag): ./kernel_namespaces "[.latency]".
// Prints the median time of spawnInit (clone to exec) and of a whole
// /bin/true run (until reaped); asserts nothing about time.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "kernel/namespaces/ns_fixture.hpp"

namespace berth::ns::testing {
namespace {

double millisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

TEST_CASE("spawn latency of /bin/true", "[.latency]") {
  constexpr int kRuns = 50;
  std::vector<double> toExec, toReaped;
  for (int i = 0; i < kRuns; ++i) {
    auto box = std::make_unique<Sandbox>();
    InitSpec spec = box->spec({"/bin/true"});
    auto start = std::chrono::steady_clock::now();
    auto child = spawnInit(spec);
    toExec.push_back(millisSince(start));
    REQUIRE(child);
    REQUIRE(child->wait());
    toReaped.push_back(millisSince(start));
  }
  std::printf("spawn latency over %d runs: median %.2f ms to exec, %.2f ms to reaped (min %.2f / %.2f)\n", kRuns,
              median(toExec), median(toReaped), *std::min_element(toExec.begin(), toExec.end()),
              *std::min_element(toReaped.begin(), toReaped.end()));
}

}  // namespace
}  // namespace berth::ns::testing
