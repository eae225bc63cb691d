#include "runtime/project_limits.hpp"

#include <string>

namespace berth::runtime {

namespace {

// One container's share of a resource; nullopt: unbounded.
struct Share {
  std::optional<uint64_t> memoryMb;
  std::optional<uint64_t> cpuMillicores;
  std::optional<uint64_t> diskMb;
};

Share shareOf(const store::Resources& resources, const TierLimits& tier) {
  Share share;
  share.memoryMb = resources.memoryMb;
  if (resources.cpuMillicores) share.cpuMillicores = *resources.cpuMillicores;
  // Without disk_mb the tier's cap is the container's quota (API.md §12); 0: none.
  uint64_t disk = resources.diskMb.value_or(tier.maxDiskMb);
  if (disk > 0) share.diskMb = disk;
  return share;
}

std::optional<uint64_t> plus(std::optional<uint64_t> a, std::optional<uint64_t> b) {
  if (!a || !b) return std::nullopt;
  return *a + *b;  // each at most 2^43 MB or 2^32 millicores: no overflow for any real count
}

// Whether `after` takes more than `before` (nullopt: unbounded).
bool raises(std::optional<uint64_t> before, std::optional<uint64_t> after) {
  if (!before) return false;
  return !after || *after > *before;
}

Result<void> checkOne(const char* limitName, const char* field, const char* unit, std::optional<uint64_t> limit,
                      std::optional<uint64_t> others, std::optional<uint64_t> before, bool creating,
                      std::optional<uint64_t> after) {
  if (!limit || !(creating || raises(before, after))) return {};
  std::string prefix = std::string(limitName) + " is " + std::to_string(*limit) + " " + unit + " for this project: ";
  if (!after)
    return fail(Errc::resource_exhausted, prefix + "the container must set resources." + field);
  if (!others)
    return fail(Errc::resource_exhausted,
                prefix + "another container of the project has no resources." + field + ", so nothing more fits");
  uint64_t total = *others + *after;
  if (total > *limit)
    return fail(Errc::resource_exhausted, std::string(limitName) + " exceeded: the project's containers would take " +
                                              std::to_string(total) + " " + unit + " of its " + std::to_string(*limit));
  return {};
}

}  // namespace

void ProjectUsage::add(const store::Resources& resources, const TierLimits& tier) {
  Share share = shareOf(resources, tier);
  ++containers;
  memoryMb = plus(memoryMb, share.memoryMb);
  cpuMillicores = plus(cpuMillicores, share.cpuMillicores);
  diskMb = plus(diskMb, share.diskMb);
}

Result<void> checkProjectLimits(const store::ProjectLimits& limits, const ProjectUsage& others,
                                const std::optional<store::Resources>& before, const store::Resources& after,
                                const TierLimits& tier) {
  bool creating = !before;
  if (creating && limits.containers && others.containers + 1 > *limits.containers)
    return fail(Errc::resource_exhausted, "limits.containers exceeded: the project has " +
                                              std::to_string(others.containers) + " containers of its " +
                                              std::to_string(*limits.containers));
  Share old = before ? shareOf(*before, tier) : Share{};
  Share next = shareOf(after, tier);
  BERTH_TRYV(checkOne("limits.memory", "memory_mb", "MB", limits.memoryMb, others.memoryMb, old.memoryMb, creating,
                      next.memoryMb));
  BERTH_TRYV(checkOne("limits.cpu", "cpu_millicores", "millicores", limits.cpuMillicores, others.cpuMillicores,
                      old.cpuMillicores, creating, next.cpuMillicores));
  BERTH_TRYV(checkOne("limits.disk", "disk_mb", "MB", limits.diskMb, others.diskMb, old.diskMb, creating, next.diskMb));
  return {};
}

}  // namespace berth::runtime
