#pragma once
// A constant table from wire names to values ("SCMP_ACT_ERRNO", "CAP_KILL"),
// looked up by a linear scan: the tables are short and read once per request.
#include <cstddef>
#include <optional>
#include <string_view>

namespace berth {

template <typename Value>
struct Named {
  std::string_view name;
  Value value;
};

template <typename Value, std::size_t N>
std::optional<Value> lookUp(const Named<Value> (&table)[N], std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

}  // namespace berth
