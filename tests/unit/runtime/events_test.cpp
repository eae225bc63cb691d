// Which events a change makes (API.md §8): the mapping from the lifecycle's
// transitions to event types and their data.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "runtime/events.hpp"

using namespace berth;
using namespace berth::runtime;
using Json = nlohmann::json;

namespace {

ContainerRecord withStatus(ContainerStatus status) {
  ContainerRecord record;
  record.id = "650000000000000000000001";
  record.name = "web";
  record.projectId = "650000000000000000000009";
  record.status = status;
  return record;
}

std::vector<std::string> typesOf(Trigger trigger, ContainerStatus from, ContainerStatus to, TransitionNote note = {}) {
  ContainerRecord after = withStatus(to);
  if (note.exitCode) after.exitCode = note.exitCode;
  std::vector<std::string> types;
  for (const auto& event : eventsOfTransition(trigger, withStatus(from), after, note, 1000)) types.push_back(event.type);
  return types;
}

using Types = std::vector<std::string>;

}  // namespace

TEST_CASE("every row of the lifecycle makes events of known types") {
  for (const auto& rule : kTransitions) {
    for (const auto& type : typesOf(rule.trigger, rule.from, rule.to)) {
      INFO(triggerName(rule.trigger) << " " << store::statusName(rule.from) << " -> " << store::statusName(rule.to));
      CHECK(isEventType(type));
    }
  }
  CHECK_FALSE(isEventType("container_exploded"));
  CHECK_FALSE(isEventType(""));
}

TEST_CASE("transitions map to the event types of API.md section 8") {
  using S = ContainerStatus;
  CHECK(typesOf(Trigger::create, S::creating, S::stopped) == Types{"container_created"});
  CHECK(typesOf(Trigger::start, S::stopped, S::running) == Types{"container_started"});
  CHECK(typesOf(Trigger::autostart, S::stopped, S::running) == Types{"container_started"});
  CHECK(typesOf(Trigger::restart, S::running, S::stopped) == Types{"container_stopped"});
  CHECK(typesOf(Trigger::restart, S::stopped, S::running) == Types{"container_started"});
  CHECK(typesOf(Trigger::stop, S::running, S::stopped) == Types{"container_stopped"});
  CHECK(typesOf(Trigger::force_stop, S::paused, S::stopped) == Types{"container_stopped"});
  CHECK(typesOf(Trigger::pause, S::running, S::paused) == Types{"container_paused"});
  CHECK(typesOf(Trigger::resume, S::paused, S::running) == Types{"container_resumed"});
  CHECK(typesOf(Trigger::reconcile, S::running, S::paused) == Types{"container_paused"});
  CHECK(typesOf(Trigger::reconcile, S::paused, S::running) == Types{"container_resumed"});
  CHECK(typesOf(Trigger::expire, S::running, S::expired) == Types{"container_expired"});
  CHECK(typesOf(Trigger::remove, S::stopped, S::deleted) == Types{"container_deleted"});
  CHECK(typesOf(Trigger::host_boot, S::running, S::stopped) == Types{"container_stopped"});
  // A start that failed never ran: stopped, with status failed.
  CHECK(typesOf(Trigger::start, S::stopped, S::failed) == Types{"container_stopped"});
  TransitionNote exited;
  exited.exitCode = 3;
  CHECK(typesOf(Trigger::exit, S::running, S::stopped, exited) == Types{"container_died"});
  CHECK(typesOf(Trigger::exit_while_down, S::running, S::stopped, exited) == Types{"container_died"});
  CHECK(typesOf(Trigger::exit_while_down, S::running, S::stopped) == Types{"container_stopped"});  // instance gone
  // An OOM kill is container_oom, then container_died.
  TransitionNote oom;
  oom.exitCode = 137;
  oom.oomKilled = true;
  CHECK(typesOf(Trigger::oom_kill, S::running, S::stopped, oom) == Types{"container_oom", "container_died"});
}

TEST_CASE("an event's data names the container and what happened to it") {
  ContainerRecord before = withStatus(ContainerStatus::running);
  ContainerRecord after = withStatus(ContainerStatus::stopped);
  TransitionNote note;
  note.exitCode = 137;
  note.signal = "SIGKILL";
  note.oomKilled = true;
  note.reason = "out of memory";
  auto events = eventsOfTransition(Trigger::oom_kill, before, after, note, 1234);
  REQUIRE(events.size() == 2);
  Json data = Json::parse(events[1].data);
  CHECK(data["id"] == after.id);
  CHECK(data["name"] == "web");
  CHECK(data["status"] == "stopped");
  CHECK(data["previous_status"] == "running");
  CHECK(data["project_id"] == after.projectId);
  CHECK(data["operation"] == "exit");
  CHECK(data["exit_code"] == 137);
  CHECK(data["signal"] == "SIGKILL");
  CHECK(data["oom_killed"] == true);
  CHECK(data["reason"] == "out of memory");
  CHECK(events[1].containerId == after.id);
  CHECK(events[1].projectId == after.projectId);
  CHECK(events[1].time == 1234);
  CHECK(events[1].id.empty());  // the store's to assign

  auto update = updateEvent(after, 99);
  CHECK(update.type == "container_updated");
  CHECK(Json::parse(update.data)["name"] == "web");
}
