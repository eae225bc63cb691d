#pragma once
// The operation x status table of API.md §4, as data. Nothing else decides
// which operation is allowed from which status.
#include <array>
#include <optional>

#include "runtime/manager.hpp"

namespace berth::runtime {

struct TransitionRule {
  Operation operation;
  std::array<std::optional<ContainerStatus>, 2> allowedFrom;
  ContainerStatus result;
};

inline constexpr std::array<TransitionRule, 6> kTransitionTable{{
    {Operation::start, {ContainerStatus::stopped, ContainerStatus::failed}, ContainerStatus::running},
    {Operation::stop, {ContainerStatus::running, ContainerStatus::paused}, ContainerStatus::stopped},
    {Operation::force_stop, {ContainerStatus::running, ContainerStatus::paused}, ContainerStatus::stopped},
    {Operation::restart, {ContainerStatus::running, ContainerStatus::stopped}, ContainerStatus::running},
    {Operation::pause, {ContainerStatus::running, std::nullopt}, ContainerStatus::paused},
    {Operation::resume, {ContainerStatus::paused, std::nullopt}, ContainerStatus::running},
}};

constexpr const TransitionRule& ruleFor(Operation op) {
  for (const auto& rule : kTransitionTable)
    if (rule.operation == op) return rule;
  return kTransitionTable[0];  // unreachable: every Operation has a row (checked below)
}

constexpr bool isAllowed(Operation op, ContainerStatus from) {
  for (const auto& allowed : ruleFor(op).allowedFrom)
    if (allowed && *allowed == from) return true;
  return false;
}

constexpr ContainerStatus resultOf(Operation op) { return ruleFor(op).result; }

static_assert(ruleFor(Operation::resume).operation == Operation::resume, "every operation has a row");
static_assert(ruleFor(Operation::pause).operation == Operation::pause, "every operation has a row");

}  // namespace berth::runtime
