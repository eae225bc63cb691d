#include "store/records.hpp"

#include <array>
#include <charconv>
#include <utility>

namespace berth::store {

namespace {
template <typename Enum, size_t N>
std::optional<Enum> lookup(const std::array<std::pair<Enum, std::string_view>, N>& table, std::string_view name) {
  for (const auto& [value, text] : table)
    if (text == name) return value;
  return std::nullopt;
}
template <typename Enum, size_t N>
std::string_view nameOf(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [candidate, text] : table)
    if (candidate == value) return text;
  return "unknown";
}

constexpr std::array<std::pair<ContainerStatus, std::string_view>, 8> kStatusNames{{
    {ContainerStatus::creating, "creating"},
    {ContainerStatus::running, "running"},
    {ContainerStatus::paused, "paused"},
    {ContainerStatus::stopped, "stopped"},
    {ContainerStatus::failed, "failed"},
    {ContainerStatus::copying, "copying"},
    {ContainerStatus::expired, "expired"},
    {ContainerStatus::deleted, "deleted"},
}};
constexpr std::array<std::pair<RestartMode, std::string_view>, 4> kRestartModeNames{{
    {RestartMode::no, "no"},
    {RestartMode::on_failure, "on-failure"},
    {RestartMode::always, "always"},
    {RestartMode::unless_stopped, "unless-stopped"},
}};
constexpr std::array<std::pair<UserRole, std::string_view>, 3> kRoleNames{{
    {UserRole::admin, "admin"}, {UserRole::user, "user"}, {UserRole::guest, "guest"}}};
constexpr std::array<std::pair<ProjectRole, std::string_view>, 3> kProjectRoleNames{{
    {ProjectRole::viewer, "viewer"}, {ProjectRole::operator_, "operator"}, {ProjectRole::owner, "owner"}}};
}  // namespace

std::string_view statusName(ContainerStatus status) { return nameOf(kStatusNames, status); }
std::optional<ContainerStatus> parseStatus(std::string_view name) { return lookup(kStatusNames, name); }
std::string_view roleName(UserRole role) { return nameOf(kRoleNames, role); }
std::optional<UserRole> parseRole(std::string_view name) { return lookup(kRoleNames, name); }
std::string_view projectRoleName(ProjectRole role) { return nameOf(kProjectRoleNames, role); }
std::optional<ProjectRole> parseProjectRole(std::string_view name) { return lookup(kProjectRoleNames, name); }

std::string restartPolicyName(const RestartPolicy& policy) {
  std::string name(nameOf(kRestartModeNames, policy.mode));
  if (policy.mode == RestartMode::on_failure && policy.maxRetries > 0) name += ":" + std::to_string(policy.maxRetries);
  return name;
}

std::optional<RestartPolicy> parseRestartPolicy(std::string_view text) {
  RestartPolicy policy;
  size_t colon = text.find(':');
  auto mode = lookup(kRestartModeNames, text.substr(0, colon));
  if (!mode) return std::nullopt;
  policy.mode = *mode;
  if (colon == std::string_view::npos) return policy;
  // Only on-failure takes a bound, and only a plain decimal one.
  std::string_view digits = text.substr(colon + 1);
  if (policy.mode != RestartMode::on_failure || digits.empty() || digits.size() > 7) return std::nullopt;
  uint32_t max = 0;
  auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), max);
  if (error != std::errc() || end != digits.data() + digits.size() || max < 1 || max > kMaxRestartRetries)
    return std::nullopt;
  policy.maxRetries = max;
  return policy;
}

ProjectLimits ProjectLimitOverrides::over(ProjectLimits defaults) const {
  if (containers) defaults.containers = *containers;
  if (memoryMb) defaults.memoryMb = *memoryMb;
  if (cpuMillicores) defaults.cpuMillicores = *cpuMillicores;
  if (diskMb) defaults.diskMb = *diskMb;
  return defaults;
}

}  // namespace berth::store
