#pragma once
// The inside of ContainerManager, shared by its three files: manager.cpp (the
// operations), recovery.cpp (a service start) and expiry.cpp. Not for use
// outside runtime/.
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <optional>
#include <string>

#include "runtime/event_pruner.hpp"
#include "runtime/due_scheduler.hpp"
#include "runtime/instance.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/manager.hpp"
#include "runtime/supervisor.hpp"

namespace berth::runtime {

// The in-memory side of one container. opMutex serializes operations; the
// record itself lives in the store, so reads never wait for an operation.
class Slot {
 public:
  std::mutex opMutex;

  // The instance, if one was opened or made. Read without opMutex too (a
  // force-stop escalates a stop in flight); replaced only under opMutex.
  std::shared_ptr<ContainerInstance> instance() const {
    std::lock_guard lock(instanceMutex_);
    return instance_;
  }
  void setInstance(std::shared_ptr<ContainerInstance> instance) {
    std::lock_guard lock(instanceMutex_);
    instance_ = std::move(instance);
  }

 private:
  mutable std::mutex instanceMutex_;
  std::shared_ptr<ContainerInstance> instance_;
};

// How a running container ended when the service ended it.
struct Halted {
  ExitFacts exit;
  bool exitedInGrace = false;  // init went on its own after SIGTERM
};

struct ContainerManager::Impl {
  Impl(RuntimeConfig cfg, store::Store& s, Host h, NetworkPlan plan);

  RuntimeConfig config;
  store::Store& store;
  Host host;
  const Clock& clock;
  Lifecycle lifecycle;
  std::string imagesDir;
  // Shared by creates from the image check to the record's commit, exclusive
  // for a delete's in-use check and removal: no container is created from an
  // image being deleted.
  std::shared_mutex imagesMutex;
  std::string containersDir;
  std::unique_ptr<LogWatch> logWatch;
  NetworkPlan network;
  // Held from choosing a bridge container's address to committing its record
  // (or its ports): two creates never pick one address.
  std::mutex networkClaimMutex;

  std::mutex slotsMutex;
  std::map<std::string, std::shared_ptr<Slot>> slots;
  std::unique_ptr<Supervisor> supervisor;
  std::unique_ptr<EventPruner> eventPruner;
  std::unique_ptr<DueScheduler> expiry;  // last to start, first to stop

  // Pending restarts by container id, as committed (a listener of the
  // lifecycle keeps it), swept by `restarts` when due.
  std::mutex restartsMutex;
  std::map<std::string, UnixMillis> pendingRestarts;
  std::unique_ptr<DueScheduler> restarts;  // guarded by restartsMutex

  // One lock per project, held from the count of its use to the commit of
  // the change that adds to it.
  std::mutex quotaLocksMutex;
  std::map<std::string, std::unique_ptr<std::mutex>> quotaLocks;

  std::shared_ptr<Slot> slotFor(const std::string& id);
  std::string containerDir(const std::string& id) const { return containersDir + "/" + id; }
  std::string consoleLogPath(const std::string& id) const { return containerDir(id) + "/console.log"; }
  std::string execDir(const std::string& id) const { return containerDir(id) + "/execs"; }
  InstancePaths instancePaths(const std::string& runtimeId) const { return {config.runDir + "/" + runtimeId}; }
  TransitionNote noteBy(std::string_view actor, int64_t startedMonotonicMs) const;

  Result<void> checkResources(const Resources& resources) const;
  // The merged dir and, when missing, the writable layer with its quota.
  Result<void> makeContainerDirs(const ContainerRecord& record);
  // disk_mb, else the tier's cap; nullopt when neither bounds it.
  std::optional<uint64_t> diskLimitBytes(const Resources& resources) const;
  // The slot's instance, opened from the host or, if its group is gone
  // (first start, or removed behind berth's back), rebuilt under a new
  // runtime id in `record`; the writable layer is kept.
  Result<std::shared_ptr<ContainerInstance>> ensureInstance(Slot& slot, ContainerRecord& record,
                                                            std::optional<Recreation>* recreated = nullptr);
  ShimSpec shimSpecFor(const ContainerRecord& record, const ContainerGroup& group) const;
  Result<void> watch(const std::string& id, const ContainerInstance& instance);

  // Starts init; a failed start is committed as `failed` with the reason.
  Result<ContainerRecord> doStart(Slot& slot, const ContainerRecord& record, Trigger trigger, std::string_view actor,
                                  int64_t startedMonotonicMs, std::optional<Recreation>* recreated = nullptr);
  // Ends the running init: with a grace period (SIGTERM first) or at once
  // (nullopt), then the whole group is killed.
  Result<Halted> halt(ContainerInstance& instance, const ContainerRecord& record,
                      std::optional<std::chrono::seconds> grace);
  Result<ContainerRecord> doStop(Slot& slot, const ContainerRecord& record, Trigger trigger, std::string_view actor,
                                 int64_t startedMonotonicMs, std::optional<std::chrono::seconds> grace);
  // The pause is committed while the kernel freezes, so it costs the longer
  // of the two rather than their sum, and answered once both are done. A
  // freeze that does not finish is undone, and so is its record (pause_undone).
  Result<ContainerRecord> doPause(ContainerInstance& instance, const ContainerRecord& record, std::string_view actor,
                                  int64_t startedMonotonicMs);
  // A thaw the kernel reports done at once: it is confirmed, then committed.
  Result<ContainerRecord> doResume(ContainerInstance& instance, const ContainerRecord& record, std::string_view actor,
                                   int64_t startedMonotonicMs);
  // The supervisor saw a monitor go: init exited by itself (or was OOM-killed).
  void onMonitorExit(const std::string& id);

  // networking.cpp
  // A new bridge container's address (and the check of its ports); the
  // caller holds networkClaimMutex until the record is committed.
  Result<void> claimNetwork(ContainerRecord& record);
  // The host side of a record's published ports: free on the host, or
  // held by this very container's listeners.
  Result<void> checkHostPorts(const ContainerRecord& record) const;
  // The network namespace init joins with eth0 attached, and the /etc files
  // it sees (bridge); an invalid fd for none: init makes its own namespace.
  Result<UniqueFd> prepareNetwork(const ContainerRecord& record, ShimSpec& spec);
  // Once init is gone: the host veth goes (logged, never fails the caller).
  void releaseLink(const ContainerRecord& record);
  // After a delete: the project's bridge goes when no live container needs it.
  void releaseBridgeIfUnused(const ContainerRecord& deleted);
  // At recovery: veths of containers that do not run are removed, a running
  // container whose veth is gone gets it back.
  void reconcileLinks();

  // isolation.cpp
  // The isolation a create asks for, checked against its network and this kernel.
  Result<std::string> isolationFor(const CreateRequest& request) const;
  // A new user-namespace container's host id range; the caller holds
  // networkClaimMutex until the record is committed.
  Result<void> claimIdRange(ContainerRecord& record);
  // A user-namespace container's writable layer belongs to its root (the
  // two top directories: overlayfs creates as the container's ids in them).
  Result<void> ownLayer(const ContainerRecord& record) const;

  // layers.cpp: a copy cut off by a crash of the service is removed.
  void abandonCopy(const ContainerRecord& record);

  // The project's limits in force, and what its containers but one take.
  Result<store::ProjectLimits> projectLimits(const std::string& projectId) const;
  Result<ProjectUsage> projectUsage(const std::string& projectId, const std::string& exceptId) const;
  // Checks a create (before: nullopt) or a change of resources against the
  // project's limits; the caller holds the returned lock (of the project,
  // when it has a limit) until the change is committed, so that two changes
  // cannot both pass the last free place.
  Result<std::unique_lock<std::mutex>> claimQuota(const std::string& projectId, const std::string& containerId,
                                                  const std::optional<Resources>& before, const Resources& after);

  // restarts.cpp
  // After an exit by the container itself: the restart its policy wants,
  // set in `after` (due time, attempt, backoff) and told in the note.
  void planRestartAfterExit(ContainerRecord& after, TransitionNote& note, const ExitFacts& exit) const;
  // A listener of every commit: pendingRestarts follows the records.
  void trackRestart(const ContainerRecord& after);
  void startRestartScheduler();
  void stopRestartScheduler();
  // Starts what is due (each through doStart, as any start); returns the next due time.
  std::optional<UnixMillis> restartDue();
  void restartByPolicy(const std::string& id);
  // A stop during a backoff: the pending restart is dropped, the container stays stopped.
  Result<ContainerRecord> cancelRestart(const ContainerRecord& record);

  // expiry.cpp
  std::optional<UnixMillis> expireDue();
  Result<void> expire(const std::string& id);

  // recovery.cpp
  Result<void> recover();
  void adoptOrSettle(const ContainerRecord& record, bool hostBoot);
  void reconcileFrozen(ContainerInstance& instance, const ContainerRecord& record, int64_t startedMonotonicMs);
};

// The cgroup limits of a container's resources.
cgroup::Limits cgroupLimitsFor(const Resources& resources, uint64_t defaultPidsMax);

// The exit fields of a record (and its transition's note) from how init ended.
void recordExit(ContainerRecord& record, TransitionNote& note, const ExitFacts& exit);

}  // namespace berth::runtime
