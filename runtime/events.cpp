#include "runtime/events.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace berth::runtime {

namespace {

using Json = nlohmann::ordered_json;

Json dataOf(const ContainerRecord& after) {
  return Json{{"id", after.id},
              {"name", after.name},
              {"status", store::statusName(after.status)},
              {"project_id", after.projectId},
              {"runtime_id", after.runtimeId}};
}

store::EventRecord eventOf(std::string_view type, const ContainerRecord& after, Json data, UnixMillis at) {
  store::EventRecord event;
  event.type = std::string(type);
  event.containerId = after.id;
  event.projectId = after.projectId;
  event.time = at;
  event.data = data.dump();
  return event;
}

// The type of a transition's event, by where it leads and what made it.
std::string_view typeOf(Trigger trigger, const ContainerRecord& before, const ContainerRecord& after) {
  switch (trigger) {
    case Trigger::create:
    case Trigger::copy_begin: return "container_created";
    case Trigger::copy_done: return "container_updated";
    case Trigger::remove:
    case Trigger::copy_abandoned: return "container_deleted";
    case Trigger::expire: return "container_expired";
    case Trigger::exit:
    case Trigger::oom_kill: return "container_died";
    // Exited by itself while the service was down: died if its exit was recorded, else just stopped.
    case Trigger::exit_while_down: return after.exitCode ? "container_died" : "container_stopped";
    default: break;
  }
  if (after.status == ContainerStatus::paused) return "container_paused";
  if (after.status == ContainerStatus::running)
    return before.status == ContainerStatus::paused ? "container_resumed" : "container_started";
  // Stopped, or a start that failed (it never ran): either way it does not run now.
  return "container_stopped";
}

}  // namespace

bool isEventType(std::string_view type) {
  return std::find(kEventTypes.begin(), kEventTypes.end(), type) != kEventTypes.end();
}

std::vector<store::EventRecord> eventsOfTransition(Trigger trigger, const ContainerRecord& before,
                                                   const ContainerRecord& after, const TransitionNote& note,
                                                   UnixMillis at) {
  Json data = dataOf(after);
  data["previous_status"] = store::statusName(before.status);
  data["operation"] = triggerName(trigger);
  if (note.exitCode) data["exit_code"] = *note.exitCode;
  if (note.signal) data["signal"] = *note.signal;
  if (note.oomKilled) data["oom_killed"] = *note.oomKilled;
  if (note.reason) data["reason"] = *note.reason;
  if (note.attempt) data["attempt"] = *note.attempt;
  std::vector<store::EventRecord> events;
  if (trigger == Trigger::oom_kill) events.push_back(eventOf("container_oom", after, data, at));
  events.push_back(eventOf(typeOf(trigger, before, after), after, std::move(data), at));
  return events;
}

store::EventRecord updateEvent(const ContainerRecord& after, UnixMillis at) {
  Json data = dataOf(after);
  data["autostart"] = after.autostart;
  return eventOf("container_updated", after, std::move(data), at);
}

}  // namespace berth::runtime
