// Project quotas as pure logic (runtime/project_limits.hpp): what containers
// take, and which change a project's limits refuse, naming the limit.
#include <catch2/catch.hpp>

#include "runtime/project_limits.hpp"

using namespace berth;
using namespace berth::runtime;
using store::ProjectLimits;
using store::Resources;

namespace {

Resources sized(std::optional<uint64_t> memoryMb, std::optional<uint32_t> millicores, std::optional<uint64_t> diskMb) {
  Resources resources;
  resources.memoryMb = memoryMb;
  resources.cpuMillicores = millicores;
  resources.diskMb = diskMb;
  return resources;
}

std::string refusal(const Result<void>& checked) {
  REQUIRE_FALSE(checked);
  CHECK(checked.error().code == Errc::resource_exhausted);
  return checked.error().message;
}

}  // namespace

TEST_CASE("project usage: counts and sums; no memory_mb or cpu_millicores is unbounded; disk defaults to the tier's cap") {
  TierLimits tier;
  tier.maxDiskMb = 1000;
  ProjectUsage usage;
  usage.add(sized(128, 500, 10), tier);
  usage.add(sized(64, 250, std::nullopt), tier);
  CHECK(usage.containers == 2);
  CHECK(usage.memoryMb == 192u);
  CHECK(usage.cpuMillicores == 750u);
  CHECK(usage.diskMb == 1010u);
  usage.add(sized(std::nullopt, std::nullopt, 5), tier);
  CHECK(usage.containers == 3);
  CHECK_FALSE(usage.memoryMb);
  CHECK_FALSE(usage.cpuMillicores);
  CHECK(usage.diskMb == 1015u);
  tier.maxDiskMb = 0;  // no tier cap: a container without disk_mb is unbounded on disk
  usage.add(sized(1, 1, std::nullopt), tier);
  CHECK_FALSE(usage.diskMb);
}

TEST_CASE("project limits: no limit refuses nothing; limits.containers counts the others plus the new one") {
  TierLimits tier;
  ProjectUsage many;
  for (int i = 0; i < 50; ++i) many.add(sized(std::nullopt, std::nullopt, std::nullopt), tier);
  CHECK(checkProjectLimits(ProjectLimits{}, many, std::nullopt, Resources{}, tier));

  ProjectLimits three;
  three.containers = 3;
  ProjectUsage two;
  two.add({}, tier);
  two.add({}, tier);
  CHECK(checkProjectLimits(three, two, std::nullopt, Resources{}, tier));
  ProjectUsage full = two;
  full.add({}, tier);
  auto message = refusal(checkProjectLimits(three, full, std::nullopt, Resources{}, tier));
  CHECK(message.find("limits.containers") != std::string::npos);
  // An update of a container already counted is no new container.
  CHECK(checkProjectLimits(three, two, Resources{}, Resources{}, tier));
  ProjectLimits none;
  none.containers = 0;
  refusal(checkProjectLimits(none, ProjectUsage{}, std::nullopt, Resources{}, tier));
}

TEST_CASE("project limits: memory, cpu and disk summed on a create and on a change of resources") {
  TierLimits tier;
  ProjectLimits limits;
  limits.memoryMb = 256;
  limits.cpuMillicores = 1000;
  limits.diskMb = 100;
  ProjectUsage others;
  others.add(sized(128, 500, 60), tier);

  CHECK(checkProjectLimits(limits, others, std::nullopt, sized(128, 500, 40), tier));
  CHECK(refusal(checkProjectLimits(limits, others, std::nullopt, sized(129, 500, 40), tier)).find("limits.memory") !=
        std::string::npos);
  CHECK(refusal(checkProjectLimits(limits, others, std::nullopt, sized(128, 501, 40), tier)).find("limits.cpu") !=
        std::string::npos);
  CHECK(refusal(checkProjectLimits(limits, others, std::nullopt, sized(128, 500, 41), tier)).find("limits.disk") !=
        std::string::npos);
  // Unbounded in a limited resource: refused, saying what to set.
  auto unbounded = refusal(checkProjectLimits(limits, others, std::nullopt, sized(std::nullopt, 500, 40), tier));
  CHECK(unbounded.find("limits.memory") != std::string::npos);
  CHECK(unbounded.find("resources.memory_mb") != std::string::npos);
  // Without disk_mb the tier's cap counts (65536 MB by default): past limits.disk.
  CHECK(refusal(checkProjectLimits(limits, others, std::nullopt, sized(1, 1, std::nullopt), tier)).find("limits.disk") !=
        std::string::npos);

  // A change: raising past the limit is refused, keeping or lowering is not.
  Resources before = sized(100, 400, 30);
  CHECK(checkProjectLimits(limits, others, before, sized(128, 500, 40), tier));
  CHECK(refusal(checkProjectLimits(limits, others, before, sized(200, 400, 30), tier)).find("limits.memory") !=
        std::string::npos);
  CHECK(refusal(checkProjectLimits(limits, others, before, sized(std::nullopt, 400, 30), tier)).find("limits.memory") !=
        std::string::npos);
}

TEST_CASE("project limits: lowered below what the project holds, they stop growth but let a container shrink") {
  TierLimits tier;
  ProjectLimits limits;
  limits.memoryMb = 100;
  limits.containers = 1;
  ProjectUsage others;
  others.add(sized(300, std::nullopt, 1), tier);
  others.add(sized(std::nullopt, std::nullopt, 1), tier);  // unbounded: the total is too
  CHECK(checkProjectLimits(limits, others, sized(50, std::nullopt, 1), sized(40, std::nullopt, 1), tier));
  CHECK(checkProjectLimits(limits, others, sized(std::nullopt, std::nullopt, 1), sized(40, std::nullopt, 1), tier));
  auto grown = refusal(checkProjectLimits(limits, others, sized(40, std::nullopt, 1), sized(41, std::nullopt, 1), tier));
  CHECK(grown.find("limits.memory") != std::string::npos);
  CHECK(refusal(checkProjectLimits(limits, others, std::nullopt, sized(1, std::nullopt, 1), tier))
            .find("limits.containers") != std::string::npos);
}
