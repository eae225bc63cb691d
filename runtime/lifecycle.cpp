#include "runtime/lifecycle.hpp"

#include <algorithm>

#include "runtime/events.hpp"
#include "store/store.hpp"

namespace berth::runtime {

namespace {
constexpr std::array kOperations = {Operation::start, Operation::stop,  Operation::force_stop,
                                    Operation::restart, Operation::pause, Operation::resume};
}  // namespace

std::string_view operationName(Operation op) {
  switch (op) {
    case Operation::start: return "start";
    case Operation::stop: return "stop";
    case Operation::force_stop: return "force-stop";
    case Operation::restart: return "restart";
    case Operation::pause: return "pause";
    case Operation::resume: return "resume";
  }
  return "unknown";
}

std::optional<Operation> parseOperation(std::string_view name) {
  for (Operation op : kOperations)
    if (operationName(op) == name) return op;
  return std::nullopt;
}

Trigger triggerOf(Operation op) {
  switch (op) {
    case Operation::start: return Trigger::start;
    case Operation::stop: return Trigger::stop;
    case Operation::force_stop: return Trigger::force_stop;
    case Operation::restart: return Trigger::restart;
    case Operation::pause: return Trigger::pause;
    case Operation::resume: return Trigger::resume;
  }
  return Trigger::start;
}

std::string_view triggerName(Trigger trigger) {
  switch (trigger) {
    case Trigger::create:
    case Trigger::create_interrupted: return "create";
    case Trigger::start: return "start";
    case Trigger::autostart: return "autostart";
    case Trigger::restart_policy: return "restart_policy";
    case Trigger::restart: return "restart";
    case Trigger::stop: return "stop";
    case Trigger::force_stop: return "force-stop";
    case Trigger::pause: return "pause";
    case Trigger::resume: return "resume";
    case Trigger::pause_undone: return "pause_undone";
    case Trigger::exit:
    case Trigger::oom_kill:
    case Trigger::exit_while_down: return "exit";
    case Trigger::expire: return "expire";
    case Trigger::reconcile: return "reconcile";
    case Trigger::host_boot: return "host_restart";
    case Trigger::remove: return "delete";
    case Trigger::copy_begin:
    case Trigger::copy_done:
    case Trigger::copy_abandoned: return "copy";
  }
  return "unknown";
}

store::StatusLogEntry Lifecycle::entryFor(const ContainerRecord& before, ContainerStatus to, Trigger trigger,
                                          const TransitionNote& note) const {
  store::StatusLogEntry entry;
  entry.containerId = before.id;
  entry.fromStatus = before.status;
  entry.toStatus = to;
  entry.transitionTime = note.reachedAt.value_or(clock_.now());
  entry.durationMs = std::max<int64_t>(0, clock_.monotonicMillis() - note.startedMonotonicMs);
  entry.triggeredBy = note.actor;
  entry.metadata.operation = std::string(triggerName(trigger));
  entry.metadata.exitCode = note.exitCode;
  entry.metadata.signal = note.signal;
  entry.metadata.oomKilled = note.oomKilled;
  entry.metadata.reason = note.reason;
  entry.metadata.attempt = note.attempt;
  return entry;
}

Result<ContainerRecord> Lifecycle::commit(const ContainerRecord& before, ContainerRecord after, Trigger trigger,
                                          const TransitionNote& note) {
  if (!isListed(trigger, before.status, after.status))
    return fail(Errc::internal, "the lifecycle has no " + std::string(triggerName(trigger)) + " transition from " +
                                    std::string(store::statusName(before.status)) + " to " +
                                    std::string(store::statusName(after.status)));
  after.updatedAt = clock_.now();
  if (after.status != ContainerStatus::stopped) after.restartDueAt.reset();
  auto entry = entryFor(before, after.status, trigger, note);
  auto events = eventsOfTransition(trigger, before, after, note, entry.transitionTime);
  bool ofRunning = before.status == ContainerStatus::running || before.status == ContainerStatus::paused;
  auto sync = durability_ == Durability::process && ofRunning ? store::Sync::deferred : store::Sync::now;
  BERTH_TRY(auto written, store_.commitTransition(after, std::move(entry), std::move(events), nullptr, sync));
  publish(before, after, &written);
  return after;
}

Result<ContainerRecord> Lifecycle::create(ContainerRecord record, Trigger trigger, const TransitionNote& note) {
  ContainerRecord before = record;
  before.status = ContainerStatus::creating;
  if (!isListed(trigger, ContainerStatus::creating, record.status))
    return fail(Errc::internal, "the lifecycle has no " + std::string(triggerName(trigger)) +
                                    " transition from creating to " + std::string(store::statusName(record.status)));
  auto initial = entryFor(before, record.status, trigger, note);
  auto events = eventsOfTransition(trigger, before, record, note, initial.transitionTime);
  BERTH_TRY(auto entry, store_.createContainer(record, std::move(initial), std::move(events)));
  if (!entry) return fail(Errc::internal, "the store wrote no entry for the creation of " + record.id);
  publish(before, record, &*entry);
  return record;
}

Result<ContainerRecord> Lifecycle::update(const ContainerRecord& before, ContainerRecord after) {
  after.updatedAt = clock_.now();
  BERTH_TRYV(store_.updateContainer(after, {updateEvent(after, after.updatedAt)}));
  publish(before, after, nullptr);
  return after;
}

void Lifecycle::subscribe(Listener listener) {
  std::lock_guard lock(listenersMutex_);
  listeners_.push_back(std::move(listener));
}

void Lifecycle::publish(const ContainerRecord& before, const ContainerRecord& after,
                        const store::StatusLogEntry* entry) {
  std::lock_guard lock(listenersMutex_);
  for (const auto& listener : listeners_) listener(CommittedChange{before, after, entry});
}

}  // namespace berth::runtime
