#pragma once
// Counters for GET /metrics (Prometheus text format, API.md §9). Recording is
// a few relaxed atomic increments, so it costs nothing on the request path;
// rendering reads them without a lock.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "runtime/manager.hpp"

namespace berth::api {

class Metrics {
 public:
  // Operations with their own counters and latency histogram.
  static constexpr std::array<std::string_view, 9> kOperations = {
      "create", "update", "delete", "start", "stop", "force-stop", "restart", "pause", "resume"};
  // Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
  static constexpr std::array<double, 15> kBucketBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5,   1,      2.5,   5,    10,   30,    60};

  // Per-container series (label container = the id, name = its name) are
  // made for the running and paused containers only, and for at most this
  // many of them (the first by id); berth_container_series_omitted counts
  // the rest. So a scrape has at most 5 x this many container series.
  static constexpr size_t kMaxContainerSeries = 500;

  void countRequest(std::string_view method, int status);
  // One finished operation: its name from kOperations (others are ignored),
  // nullopt on success or the error category, and how long it took.
  void recordOperation(std::string_view operation, std::optional<Errc> failure, std::chrono::microseconds elapsed);
  std::string render(const std::map<store::ContainerStatus, uint64_t>& containersByStatus,
                     const runtime::UsageReport& usage = {}) const;

 private:
  static constexpr std::array<std::string_view, 8> kMethods = {"GET",    "POST", "PUT",     "PATCH",
                                                               "DELETE", "HEAD", "OPTIONS", "other"};
  static constexpr int kMinStatus = 100;
  static constexpr int kStatusCount = 500;  // 100..599
  static constexpr size_t kResultCount = 1 + static_cast<size_t>(Errc::internal) + 1;  // success + every Errc

  struct OperationCounters {
    std::array<std::atomic<uint64_t>, kResultCount> results{};
    std::array<std::atomic<uint64_t>, kBucketBounds.size() + 1> buckets{};  // not cumulative; last is +Inf
    std::atomic<uint64_t> sumMicros{0};
  };

  std::array<std::array<std::atomic<uint64_t>, kStatusCount>, kMethods.size()> requests_{};
  std::array<OperationCounters, kOperations.size()> operations_{};
};

}  // namespace berth::api
