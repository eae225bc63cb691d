#include <catch2/catch.hpp>

#include "cgroup/translate.hpp"

using namespace berth::cgroup;

TEST_CASE("millicores become a cfs quota over a 100 ms period") {
  CHECK(kCpuPeriodUsec == 100000);
  CHECK(quotaFromMillicores(0) == -1);
  CHECK(quotaFromMillicores(1000) == 100000);
  CHECK(quotaFromMillicores(500) == 50000);
  CHECK(quotaFromMillicores(2500) == 250000);
  // The kernel refuses quotas under 1 ms: tiny requests round up to it.
  CHECK(quotaFromMillicores(1) == 1000);
  CHECK(quotaFromMillicores(10) == 1000);
  CHECK(quotaFromMillicores(11) == 1100);
  CHECK(quotaFromMillicores(UINT32_MAX) == int64_t{UINT32_MAX} * 100);
}

TEST_CASE("millicores become v2 cpu.max") {
  CHECK(cpuMaxFromMillicores(0) == "max 100000");
  CHECK(cpuMaxFromMillicores(1000) == "100000 100000");
  CHECK(cpuMaxFromMillicores(250) == "25000 100000");
  CHECK(cpuMaxFromMillicores(1) == "1000 100000");
}

TEST_CASE("millicores become a weight of 100 per core, clamped to [1, 10000]") {
  CHECK(weightFromMillicores(0) == 100);
  CHECK(weightFromMillicores(1000) == 100);
  CHECK(weightFromMillicores(2000) == 200);
  CHECK(weightFromMillicores(250) == 25);
  CHECK(weightFromMillicores(5) == 1);
  CHECK(weightFromMillicores(10) == 1);
  CHECK(weightFromMillicores(100000) == 10000);
  CHECK(weightFromMillicores(UINT32_MAX) == 10000);
}

TEST_CASE("weight and shares map like runc and crun") {
  CHECK(sharesFromWeight(1) == 2);
  CHECK(sharesFromWeight(10000) == 262144);
  CHECK(sharesFromWeight(100) == 2597);
  CHECK(weightFromShares(2) == 1);
  CHECK(weightFromShares(262144) == 10000);
  CHECK(weightFromShares(1024) == 39);  // runc's ConvertCPUSharesToCgroupV2Value(1024)
  // Out-of-range input is clamped to the kernel's ranges.
  CHECK(sharesFromWeight(0) == 2);
  CHECK(sharesFromWeight(20000) == 262144);
  CHECK(weightFromShares(0) == 1);
  CHECK(weightFromShares(1) == 1);
  CHECK(weightFromShares(1u << 30) == 10000);
  // Both directions round down, so a round trip may lose one step, never more.
  for (uint64_t weight : {1u, 2u, 39u, 100u, 500u, 9999u, 10000u}) {
    uint64_t back = weightFromShares(sharesFromWeight(weight));
    CHECK((back == weight || back + 1 == weight));
  }
}
