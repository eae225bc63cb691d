#include "api/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace berth::api {

namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

std::string_view resultName(size_t index) {
  return index == 0 ? std::string_view("success") : errcName(static_cast<Errc>(index - 1));
}

std::string formatBound(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", seconds);
  return buf;
}

// A label value of the text format: backslash, quote and newline escaped.
std::string labelValue(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Metrics::countRequest(std::string_view method, int status) {
  if (status < kMinStatus || status >= kMinStatus + kStatusCount) return;
  size_t row = std::find(kMethods.begin(), kMethods.end() - 1, method) - kMethods.begin();
  requests_[row][static_cast<size_t>(status - kMinStatus)].fetch_add(1, kRelaxed);
}

void Metrics::recordOperation(std::string_view operation, std::optional<Errc> failure,
                              std::chrono::microseconds elapsed) {
  auto it = std::find(kOperations.begin(), kOperations.end(), operation);
  if (it == kOperations.end()) return;
  OperationCounters& counters = operations_[static_cast<size_t>(it - kOperations.begin())];
  size_t result = failure ? 1 + static_cast<size_t>(*failure) : 0;
  counters.results[result].fetch_add(1, kRelaxed);
  double seconds = static_cast<double>(elapsed.count()) / 1e6;
  size_t bucket = std::lower_bound(kBucketBounds.begin(), kBucketBounds.end(), seconds) - kBucketBounds.begin();
  counters.buckets[bucket].fetch_add(1, kRelaxed);
  counters.sumMicros.fetch_add(static_cast<uint64_t>(std::max<int64_t>(0, elapsed.count())), kRelaxed);
}

std::string Metrics::render(const std::map<store::ContainerStatus, uint64_t>& containersByStatus,
                            const runtime::UsageReport& usage) const {
  std::string out;
  auto line = [&out](std::string_view name, std::string_view labels, const std::string& value) {
    out.append(name).append("{").append(labels).append("} ").append(value).append("\n");
  };

  out += "# HELP berth_containers Containers by status (deleted ones are kept for the audit log).\n";
  out += "# TYPE berth_containers gauge\n";
  for (auto status : {store::ContainerStatus::creating, store::ContainerStatus::running, store::ContainerStatus::paused,
                      store::ContainerStatus::stopped, store::ContainerStatus::failed, store::ContainerStatus::copying,
                      store::ContainerStatus::expired, store::ContainerStatus::deleted}) {
    auto it = containersByStatus.find(status);
    line("berth_containers", "status=\"" + std::string(store::statusName(status)) + "\"",
         std::to_string(it == containersByStatus.end() ? 0 : it->second));
  }

  out += "# HELP berth_operations_total Container operations by result (success or the error category).\n";
  out += "# TYPE berth_operations_total counter\n";
  for (size_t op = 0; op < kOperations.size(); ++op) {
    for (size_t result = 0; result < kResultCount; ++result) {
      uint64_t count = operations_[op].results[result].load(kRelaxed);
      if (count == 0 && result != 0) continue;
      line("berth_operations_total",
           "operation=\"" + std::string(kOperations[op]) + "\",result=\"" + std::string(resultName(result)) + "\"",
           std::to_string(count));
    }
  }

  out += "# HELP berth_operation_duration_seconds Time from request to completed transition.\n";
  out += "# TYPE berth_operation_duration_seconds histogram\n";
  for (size_t op = 0; op < kOperations.size(); ++op) {
    const OperationCounters& counters = operations_[op];
    std::string opLabel = "operation=\"" + std::string(kOperations[op]) + "\"";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= kBucketBounds.size(); ++b) {
      cumulative += counters.buckets[b].load(kRelaxed);
      std::string le = b < kBucketBounds.size() ? formatBound(kBucketBounds[b]) : "+Inf";
      line("berth_operation_duration_seconds_bucket", opLabel + ",le=\"" + le + "\"", std::to_string(cumulative));
    }
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.6f", static_cast<double>(counters.sumMicros.load(kRelaxed)) / 1e6);
    line("berth_operation_duration_seconds_sum", opLabel, sum);
    line("berth_operation_duration_seconds_count", opLabel, std::to_string(cumulative));
  }

  // One family at a time, each with a line per live container (the format wants a family's samples together).
  auto perContainer = [&](std::string_view name, std::string_view type, std::string_view help, auto value) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    for (const runtime::ContainerUsage& container : usage.containers) {
      std::optional<std::string> sample = value(container);
      if (!sample) continue;
      line(name,
           "container=\"" + labelValue(container.container.id) + "\",name=\"" + labelValue(container.container.name) + "\"",
           *sample);
    }
  };
  auto number = [](uint64_t value) { return std::optional<std::string>(std::to_string(value)); };
  perContainer("berth_container_cpu_seconds_total", "counter", "CPU time used by a running or paused container.",
               [](const runtime::ContainerUsage& c) {
                 char seconds[32];
                 std::snprintf(seconds, sizeof seconds, "%.6f", static_cast<double>(c.cpuUsageUsec) / 1e6);
                 return std::optional<std::string>(seconds);
               });
  perContainer("berth_container_memory_bytes", "gauge", "Memory a running or paused container uses now.",
               [&](const runtime::ContainerUsage& c) { return number(c.memoryBytes); });
  perContainer("berth_container_memory_limit_bytes", "gauge", "A container's memory limit (none: unlimited).",
               [&](const runtime::ContainerUsage& c) {
                 return c.memoryLimitBytes ? number(c.memoryLimitBytes) : std::nullopt;
               });
  perContainer("berth_container_network_receive_bytes_total", "counter", "Bytes a bridge container received.",
               [&](const runtime::ContainerUsage& c) {
                 return c.networkRxBytes ? number(*c.networkRxBytes) : std::nullopt;
               });
  perContainer("berth_container_network_transmit_bytes_total", "counter", "Bytes a bridge container sent.",
               [&](const runtime::ContainerUsage& c) {
                 return c.networkTxBytes ? number(*c.networkTxBytes) : std::nullopt;
               });
  out += "# HELP berth_container_series_omitted Running or paused containers left out of the per-container series (over the limit).\n";
  out += "# TYPE berth_container_series_omitted gauge\n";
  out += "berth_container_series_omitted " + std::to_string(usage.omitted) + "\n";

  out += "# HELP berth_http_requests_total HTTP requests by method and status code.\n";
  out += "# TYPE berth_http_requests_total counter\n";
  for (size_t m = 0; m < kMethods.size(); ++m) {
    for (int s = 0; s < kStatusCount; ++s) {
      uint64_t count = requests_[m][static_cast<size_t>(s)].load(kRelaxed);
      if (count == 0) continue;
      line("berth_http_requests_total",
           "method=\"" + std::string(kMethods[m]) + "\",code=\"" + std::to_string(kMinStatus + s) + "\"",
           std::to_string(count));
    }
  }
  return out;
}

}  // namespace berth::api
