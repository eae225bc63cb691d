#include "store/records.hpp"

#include <array>
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

}  // namespace berth::store
