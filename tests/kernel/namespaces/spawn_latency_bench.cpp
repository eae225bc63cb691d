// Spawn latency, run on demand only (hidden tag): ./kernel_namespaces "[.latency]".
// Prints the median time of spawnInit (clone to exec) and of a whole
// /bin/true run (until reaped), and what parts of the setup add to it;
// asserts nothing about time.
#include <sys/mount.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include "cgroup/cgroup.hpp"
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

TEST_CASE("spawn latency: what the device cgroup, /sys/fs/cgroup and a tmpfs add", "[.latency]") {
  constexpr int kRuns = 50;
  const std::string root = berth::testing::uniqueCgroupRoot();
  auto driver = cgroup::Driver::detect(root);
  REQUIRE(driver);
  auto made = driver->createGroup("bench");
  REQUIRE(made);
  cgroup::Group group = std::move(*made).commit();
  std::vector<std::string> withoutDevices;
  for (const std::string& file : group.joinFiles())
    if (file.find("/devices/") == std::string::npos) withoutDevices.push_back(file);
  std::vector<CgroupMount> cgroupfs;
  for (const cgroup::Hierarchy& hierarchy : driver->containerHierarchies())
    cgroupfs.push_back({hierarchy.name, hierarchy.fstype, hierarchy.controllers, hierarchy.aliases});

  // Taking turns, so a busy moment of the host falls on every variant alike.
  const char* names[] = {"its groups but devices", "+ the devices group", "+ /sys/fs/cgroup", "+ one more tmpfs (as /run)"};
  std::vector<double> toExec[4];
  for (int i = 0; i < kRuns; ++i) {
    for (int variant = 0; variant < 4; ++variant) {
      auto box = std::make_unique<Sandbox>();
      InitSpec spec = box->spec({"/bin/true"});
      spec.cgroupJoinFiles = variant == 0 ? withoutDevices : group.joinFiles();
      if (variant >= 2) spec.cgroupMounts = cgroupfs;
      if (variant == 3) spec.mounts.push_back({"/scratch", "tmpfs", "scratch", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, "size=64m"});
      auto start = std::chrono::steady_clock::now();
      auto child = spawnInit(spec);
      toExec[variant].push_back(millisSince(start));
      REQUIRE(child);
      REQUIRE(child->wait());
    }
  }
  for (int variant = 0; variant < 4; ++variant)
    std::printf("spawn to exec, %-28s median %.3f ms (min %.3f)\n", names[variant], median(toExec[variant]),
                *std::min_element(toExec[variant].begin(), toExec[variant].end()));
  REQUIRE(group.waitEmpty(std::chrono::seconds(5)));
  REQUIRE(group.destroy());
  REQUIRE(driver->removeRoot());
}

}  // namespace
}  // namespace berth::ns::testing
