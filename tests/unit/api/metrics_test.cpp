#include <catch2/catch.hpp>

#include "api/metrics.hpp"

using namespace berth;
using namespace berth::api;

TEST_CASE("metrics render the Prometheus text format") {
  Metrics metrics;
  metrics.countRequest("GET", 200);
  metrics.countRequest("GET", 200);
  metrics.countRequest("POST", 404);
  metrics.countRequest("BREW", 418);  // odd methods count as "other"
  metrics.recordOperation("start", std::nullopt, std::chrono::microseconds(3000));
  metrics.recordOperation("start", Errc::state_conflict, std::chrono::microseconds(200));
  metrics.recordOperation("not-an-operation", std::nullopt, std::chrono::microseconds(1));

  std::string text = metrics.render({{store::ContainerStatus::running, 3}, {store::ContainerStatus::stopped, 1}});
  CHECK_THAT(text, Catch::Contains("# TYPE berth_containers gauge\n"));
  CHECK_THAT(text, Catch::Contains("berth_containers{status=\"running\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("berth_containers{status=\"paused\"} 0\n"));
  CHECK_THAT(text, Catch::Contains("berth_operations_total{operation=\"start\",result=\"success\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("berth_operations_total{operation=\"start\",result=\"state_conflict\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("berth_operations_total{operation=\"stop\",result=\"success\"} 0\n"));
  // 0.2 ms falls in the first bucket, 3 ms in le=0.005; buckets are cumulative.
  CHECK_THAT(text, Catch::Contains("berth_operation_duration_seconds_bucket{operation=\"start\",le=\"0.001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("berth_operation_duration_seconds_bucket{operation=\"start\",le=\"0.0025\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("berth_operation_duration_seconds_bucket{operation=\"start\",le=\"0.005\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("berth_operation_duration_seconds_bucket{operation=\"start\",le=\"+Inf\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("berth_operation_duration_seconds_sum{operation=\"start\"} 0.003200\n"));
  CHECK_THAT(text, Catch::Contains("berth_operation_duration_seconds_count{operation=\"start\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("berth_http_requests_total{method=\"GET\",code=\"200\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("berth_http_requests_total{method=\"POST\",code=\"404\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("berth_http_requests_total{method=\"other\",code=\"418\"} 1\n"));
  CHECK_THAT(text, !Catch::Contains("not-an-operation"));
}

TEST_CASE("metrics have per-container series of the live containers given, with their id and name") {
  Metrics metrics;
  runtime::UsageReport usage;
  runtime::ContainerUsage web;
  web.container.id = "507f1f77bcf86cd799439011";
  web.container.name = "web";
  web.cpuUsageUsec = 1500000;
  web.memoryBytes = 4096;
  web.memoryLimitBytes = 64 << 20;
  web.networkRxBytes = 10;
  web.networkTxBytes = 20;
  runtime::ContainerUsage idle;
  idle.container.id = "507f1f77bcf86cd799439012";
  idle.container.name = "odd\"name";  // escaped in the label
  usage.containers = {web, idle};
  usage.omitted = 7;

  std::string text = metrics.render({}, usage);
  const std::string webLabels = "{container=\"507f1f77bcf86cd799439011\",name=\"web\"}";
  CHECK_THAT(text, Catch::Contains("# TYPE berth_container_cpu_seconds_total counter\n"));
  CHECK_THAT(text, Catch::Contains("berth_container_cpu_seconds_total" + webLabels + " 1.500000\n"));
  CHECK_THAT(text, Catch::Contains("berth_container_memory_bytes" + webLabels + " 4096\n"));
  CHECK_THAT(text, Catch::Contains("berth_container_memory_limit_bytes" + webLabels + " 67108864\n"));
  CHECK_THAT(text, Catch::Contains("berth_container_network_receive_bytes_total" + webLabels + " 10\n"));
  CHECK_THAT(text, Catch::Contains("berth_container_network_transmit_bytes_total" + webLabels + " 20\n"));
  CHECK_THAT(text, Catch::Contains("name=\"odd\\\"name\"} 0.000000\n"));
  // No limit and no bridge: those series are absent rather than zero.
  CHECK_THAT(text, !Catch::Contains("berth_container_memory_limit_bytes{container=\"507f1f77bcf86cd799439012\""));
  CHECK_THAT(text, !Catch::Contains("berth_container_network_receive_bytes_total{container=\"507f1f77bcf86cd799439012\""));
  CHECK_THAT(text, Catch::Contains("berth_container_series_omitted 7\n"));
}
