#pragma once
// Project quotas (issue 20, as LXD's limits.*): what a project's containers
// that are not deleted take together, and the check of a create or update
// against the project's limits. Pure logic; the manager counts and holds the
// project's quota lock from the count to the commit (manager.cpp).
#include <cstdint>
#include <optional>

#include "common/error.hpp"
#include "runtime/config.hpp"
#include "store/records.hpp"

namespace berth::runtime {

// Totals over some containers of a project. A resource is nullopt when one
// of them is unbounded in it: no memory_mb (cpu_millicores) set, no disk_mb
// and no tier cap on disk.
struct ProjectUsage {
  uint64_t containers = 0;
  std::optional<uint64_t> memoryMb = 0;
  std::optional<uint64_t> cpuMillicores = 0;
  std::optional<uint64_t> diskMb = 0;
  void add(const store::Resources& resources, const TierLimits& tier);
  bool operator==(const ProjectUsage&) const = default;
};

// resource_exhausted, naming the limit (limits.containers, limits.memory,
// limits.cpu, limits.disk), when the change takes a total past its limit:
// a container with `after` is added to `others` (a create: before is
// nullopt) or replaces its `before` resources (an update). A change that
// raises no total is never refused, so a limit lowered below what the
// project holds stops growth without touching what is there.
Result<void> checkProjectLimits(const store::ProjectLimits& limits, const ProjectUsage& others,
                                const std::optional<store::Resources>& before, const store::Resources& after,
                                const TierLimits& tier);

}  // namespace berth::runtime
