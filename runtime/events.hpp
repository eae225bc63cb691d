#pragma once
// The events of API.md §8 that a change of a container makes: which types,
// and the data each carries. The Lifecycle writes them with the change, in
// its transaction; the streams send them as stored.
#include <array>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/lifecycle.hpp"
#include "store/records.hpp"

namespace berth::runtime {

using store::EventPage;
using store::EventRecord;

inline constexpr std::array<std::string_view, 10> kEventTypes = {
    "container_created", "container_started", "container_stopped", "container_paused",  "container_resumed",
    "container_died",    "container_oom",     "container_expired", "container_updated", "container_deleted"};

bool isEventType(std::string_view type);

// The events of a transition, in the order they happened (an OOM kill is
// container_oom, then container_died). Their ids are the store's.
std::vector<store::EventRecord> eventsOfTransition(Trigger trigger, const ContainerRecord& before,
                                                   const ContainerRecord& after, const TransitionNote& note,
                                                   UnixMillis at);
// The event of a change that kept the status (PATCH).
store::EventRecord updateEvent(const ContainerRecord& after, UnixMillis at);

}  // namespace berth::runtime
