#pragma once
// The lifecycle authority: one table of every status transition a container
// can make, each row naming its trigger, and the one place that commits them.
// Nothing else changes a container's status (the store refuses a status
// change that does not come with a status-log entry), and a transition the
// table does not list cannot be committed. Every committed change (a
// transition, a creation, an update) is written with its events (API.md §8)
// in one transaction and leaves through here, with the record before and
// after, for its listeners.
#include <array>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "runtime/config.hpp"
#include "store/records.hpp"

namespace berth::store {
class Store;
}

namespace berth::runtime {

using store::ContainerRecord;
using store::ContainerStatus;

// The operations of API.md §4.
enum class Operation { start, stop, force_stop, restart, pause, resume };
std::string_view operationName(Operation op);              // "force-stop"
std::optional<Operation> parseOperation(std::string_view);  // accepts the wire names

// What makes a container change status.
enum class Trigger {
  create,              // the record is made
  create_interrupted,  // a create cut off by a crash of the service
  start,
  autostart,           // the service starts an autostart container after a host boot
  restart,
  stop,
  force_stop,
  pause,
  resume,
  pause_undone,        // a pause recorded while the kernel froze, whose freeze did not finish and was undone
  exit,                // init exited by itself
  restart_policy,      // the restart policy starts a container that exited by itself
  oom_kill,            // init was killed by the OOM killer
  expire,              // expires_at passed
  reconcile,           // after a service restart the kernel's freezer disagreed with the record
  exit_while_down,     // init exited, or its instance vanished, while the service was down
  host_boot,           // the host booted since the container was running
  remove,              // a soft delete
  copy_begin,          // a copy of another container's layer starts
  copy_done,
  copy_abandoned,      // a copy cut off by a crash of the service, removed on restart
};

// The name a status-log entry records as its `operation`.
std::string_view triggerName(Trigger trigger);
Trigger triggerOf(Operation op);

struct TransitionRule {
  Trigger trigger;
  ContainerStatus from;
  ContainerStatus to;
};

// Every transition there is. A start may end running or failed; an operation
// is allowed from a status exactly when its trigger has a row from it.
inline constexpr std::array kTransitions = {
    TransitionRule{Trigger::create, ContainerStatus::creating, ContainerStatus::stopped},
    TransitionRule{Trigger::create_interrupted, ContainerStatus::creating, ContainerStatus::failed},
    TransitionRule{Trigger::start, ContainerStatus::stopped, ContainerStatus::running},
    TransitionRule{Trigger::start, ContainerStatus::failed, ContainerStatus::running},
    TransitionRule{Trigger::start, ContainerStatus::stopped, ContainerStatus::failed},
    TransitionRule{Trigger::start, ContainerStatus::failed, ContainerStatus::failed},
    TransitionRule{Trigger::restart_policy, ContainerStatus::stopped, ContainerStatus::running},
    TransitionRule{Trigger::restart_policy, ContainerStatus::stopped, ContainerStatus::failed},
    TransitionRule{Trigger::autostart, ContainerStatus::stopped, ContainerStatus::running},
    TransitionRule{Trigger::autostart, ContainerStatus::stopped, ContainerStatus::failed},
    TransitionRule{Trigger::restart, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::restart, ContainerStatus::stopped, ContainerStatus::running},
    TransitionRule{Trigger::restart, ContainerStatus::stopped, ContainerStatus::failed},
    TransitionRule{Trigger::stop, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::stop, ContainerStatus::paused, ContainerStatus::stopped},
    TransitionRule{Trigger::force_stop, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::force_stop, ContainerStatus::paused, ContainerStatus::stopped},
    TransitionRule{Trigger::pause, ContainerStatus::running, ContainerStatus::paused},
    TransitionRule{Trigger::resume, ContainerStatus::paused, ContainerStatus::running},
    TransitionRule{Trigger::pause_undone, ContainerStatus::paused, ContainerStatus::running},
    TransitionRule{Trigger::exit, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::exit, ContainerStatus::paused, ContainerStatus::stopped},
    TransitionRule{Trigger::oom_kill, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::oom_kill, ContainerStatus::paused, ContainerStatus::stopped},
    TransitionRule{Trigger::expire, ContainerStatus::running, ContainerStatus::expired},
    TransitionRule{Trigger::expire, ContainerStatus::paused, ContainerStatus::expired},
    TransitionRule{Trigger::expire, ContainerStatus::stopped, ContainerStatus::expired},
    TransitionRule{Trigger::expire, ContainerStatus::failed, ContainerStatus::expired},
    TransitionRule{Trigger::reconcile, ContainerStatus::running, ContainerStatus::paused},
    TransitionRule{Trigger::reconcile, ContainerStatus::paused, ContainerStatus::running},
    TransitionRule{Trigger::exit_while_down, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::exit_while_down, ContainerStatus::paused, ContainerStatus::stopped},
    TransitionRule{Trigger::host_boot, ContainerStatus::running, ContainerStatus::stopped},
    TransitionRule{Trigger::host_boot, ContainerStatus::paused, ContainerStatus::stopped},
    TransitionRule{Trigger::remove, ContainerStatus::stopped, ContainerStatus::deleted},
    TransitionRule{Trigger::remove, ContainerStatus::failed, ContainerStatus::deleted},
    TransitionRule{Trigger::remove, ContainerStatus::expired, ContainerStatus::deleted},
    TransitionRule{Trigger::copy_begin, ContainerStatus::creating, ContainerStatus::copying},
    TransitionRule{Trigger::copy_done, ContainerStatus::copying, ContainerStatus::stopped},
    TransitionRule{Trigger::copy_abandoned, ContainerStatus::copying, ContainerStatus::deleted},
};

constexpr bool isListed(Trigger trigger, ContainerStatus from, ContainerStatus to) {
  for (const auto& rule : kTransitions)
    if (rule.trigger == trigger && rule.from == from && rule.to == to) return true;
  return false;
}

// Whether `trigger` can act on a container in status `from` at all.
constexpr bool acceptsFrom(Trigger trigger, ContainerStatus from) {
  for (const auto& rule : kTransitions)
    if (rule.trigger == trigger && rule.from == from) return true;
  return false;
}

// What a transition records beside the statuses.
struct TransitionNote {
  std::string actor;                        // a user id or "system"
  int64_t startedMonotonicMs = 0;           // when the work began, for durationMs
  std::optional<UnixMillis> reachedAt;      // when the status was reached; default: now
  std::optional<int> exitCode;
  std::optional<std::string> signal;
  std::optional<bool> oomKilled;
  std::optional<std::string> reason;
  std::optional<uint32_t> attempt;          // a restart by the restart policy
};

// A committed change, as listeners see it.
struct CommittedChange {
  const ContainerRecord& before;
  const ContainerRecord& after;
  const store::StatusLogEntry* entry;  // null for an update that kept the status
};

class Lifecycle {
 public:
  Lifecycle(store::Store& store, const Clock& clock, Durability durability = Durability::host)
      : store_(store), clock_(clock), durability_(durability) {}

  // Commits `after` (carrying the new status) as what `trigger` made of
  // `before`, with its status-log entry, in one store transaction. internal
  // when the table does not list the transition; the store refuses it too
  // when `before` is no longer what it holds. A restart stays pending only
  // on a container that is stopped: any other status clears it. Under Durability::process a
  // transition from running or paused is committed deferred (store::Sync):
  // a host crash loses nothing else, since such a container is recorded
  // stopped (host_boot) after the boot anyway; everything else is synced.
  Result<ContainerRecord> commit(const ContainerRecord& before, ContainerRecord after, Trigger trigger,
                                 const TransitionNote& note);
  // The first transition of a new record (`record.status` is the target):
  // the record and its entry from `creating` in one transaction.
  Result<ContainerRecord> create(ContainerRecord record, Trigger trigger, const TransitionNote& note);
  // A change that keeps the status (name, limits, expiry...): container_updated.
  Result<ContainerRecord> update(const ContainerRecord& before, ContainerRecord after);

  using Listener = std::function<void(const CommittedChange&)>;
  // Called after every commit, on the committing thread, in commit order per container.
  void subscribe(Listener listener);

 private:
  void publish(const ContainerRecord& before, const ContainerRecord& after, const store::StatusLogEntry* entry);
  store::StatusLogEntry entryFor(const ContainerRecord& before, ContainerStatus to, Trigger trigger,
                                 const TransitionNote& note) const;

  store::Store& store_;
  const Clock& clock_;
  const Durability durability_;
  std::mutex listenersMutex_;
  std::vector<Listener> listeners_;
};

}  // namespace berth::runtime
