#pragma once
// The seams between the lifecycle logic and the host: the cgroup controller
// and the monitor launcher. The kernel's implementations are made by
// kernelHost(); tests hand ContainerManager fakes instead, so stop
// escalation, freeze undo, recovery and expiry run without root.
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "runtime/config.hpp"
#include "runtime/exec.hpp"
#include "runtime/network.hpp"
#include "runtime/shim.hpp"

namespace berth::runtime {

// One container's cgroup, as the runtime drives it (cgroup::Group on the host).
class ContainerGroup {
 public:
  virtual ~ContainerGroup() = default;
  // Every file the init writes "0" to, to join the group before it runs
  // container code (cgroup::Group::joinFiles).
  virtual std::vector<std::string> joinFiles() const = 0;
  // Readies the empty group for an init cloned into it (cgroup::Group::renewForClone).
  virtual Result<void> renewForClone(const cgroup::Limits& limits) = 0;
  virtual Result<void> setLimits(const cgroup::Limits& limits) = 0;
  // Returns once the whole group is frozen; on deadline_exceeded it has been
  // thawed again, so a half-frozen group is never left.
  Result<void> freeze(std::chrono::milliseconds timeout) {
    BERTH_TRYV(beginFreeze());
    return finishFreeze(timeout);
  }
  // freeze() in two halves: the kernel freezes from beginFreeze() on, while
  // the caller does other work; finishFreeze() waits (and undoes on timeout).
  virtual Result<void> beginFreeze() = 0;
  virtual Result<void> finishFreeze(std::chrono::milliseconds timeout) = 0;
  virtual Result<void> thaw(std::chrono::milliseconds timeout) = 0;
  virtual Result<bool> frozen() const = 0;
  // SIGKILL to every process of the group, then a wait for it to be empty.
  virtual Result<void> killAll(std::chrono::milliseconds timeout) = 0;
  virtual Result<void> waitEmpty(std::chrono::milliseconds timeout) const = 0;
  virtual Result<std::vector<pid_t>> pids() const = 0;
  virtual Result<cgroup::Stats> stats() const = 0;
  // Removes the group from the host; state_conflict while populated.
  virtual Result<void> destroy() = 0;
};

class CgroupController {
 public:
  virtual ~CgroupController() = default;
  // A new group; already_exists if the name is taken. The caller removes it
  // (destroy) on its own failure paths.
  virtual Result<std::unique_ptr<ContainerGroup>> create(const std::string& name) = 0;
  // The group of that name, nullopt if there is none. Opening removes nothing.
  virtual Result<std::optional<std::unique_ptr<ContainerGroup>>> open(const std::string& name) = 0;
  // What a container's /sys/fs/cgroup holds (the same for every container:
  // its cgroup namespace makes each one see its own groups).
  virtual std::vector<cgroup::Hierarchy> containerHierarchies() const = 0;
};

// One running monitor (berth-shim) and the init it holds, as berthd sees it.
class Monitor {
 public:
  virtual ~Monitor() = default;
  virtual const ShimState& state() const = 0;
  // Becomes readable once the monitor is gone (its pidfd on the host); the
  // supervisor's epoll and the stop's poll wait on it.
  virtual int exitFd() const = 0;
  // Signals the container's init; one already gone is no error.
  virtual Result<void> signalInit(int signal) = 0;
  // Once exitFd() is readable: reaps the monitor if it is our child and reads
  // the exit it recorded (nullopt if it recorded none).
  virtual Result<std::optional<ExitRecord>> collectExit() = 0;
  // Has the monitor start a process inside the container (runtime/exec.hpp),
  // recorded under execDir; the handle outlives this object.
  virtual Result<std::unique_ptr<ExecHandle>> exec(const std::string& execDir, const std::string& execId,
                                                   const ExecRequest& request) const = 0;
};

class MonitorLauncher {
 public:
  virtual ~MonitorLauncher() = default;
  // Starts a monitor for the instance and returns once the init exec'd the
  // container's command, or with the error the start ran into
  // (container_config for the container's own fault, host_refused otherwise).
  virtual Result<std::unique_ptr<Monitor>> launch(const InstancePaths& paths, ShimSpec spec) = 0;

  // What a service start finds of an instance it did not launch: the monitor
  // if it still runs, else the exit it recorded.
  struct Found {
    std::unique_ptr<Monitor> running;
    std::optional<ExitRecord> exit;
  };
  virtual Result<Found> find(const InstancePaths& paths) = 0;
};

// Bytes through a container's eth0, as the container sees them.
struct LinkTraffic {
  uint64_t rxBytes = 0;
  uint64_t txBytes = 0;
};

// The host side of bridge networking (net/ on the host): bridges with their
// isolation, one veth pair per running bridge container.
class NetworkController {
 public:
  virtual ~NetworkController() = default;
  // A network namespace for the init to join: lo up and eth0 on the link's
  // bridge (made, with its isolation rules, when it is new). On failure
  // nothing of the link is left.
  virtual Result<UniqueFd> attach(const BridgeLink& link) = 0;
  // The same into the network namespace of a running init (recovery, when its veth is gone).
  virtual Result<void> reattach(const BridgeLink& link, pid_t initPid) = 0;
  // Removes the host end, and with it eth0; one already gone is no error.
  virtual Result<void> detach(const std::string& hostVeth) = 0;
  // Removes a bridge no container needs any more, and its isolation rules.
  virtual Result<void> dropBridge(const std::string& bridge) = 0;
  // This service's host veths as the host has them now.
  virtual Result<std::vector<std::string>> hostVeths() = 0;
  // nullopt when the veth is not there.
  virtual Result<std::optional<LinkTraffic>> traffic(const std::string& hostVeth) = 0;
  // Whether the host lets a container publish this port now: already_exists
  // with Detail::port_conflict when something holds it, invalid_argument
  // when host_ip is not an address of this host.
  virtual Result<void> checkHostPort(const store::PublishedPort& port) = 0;
};

// Containers' writable layers and their snapshots (storage::Pool on the host:
// a btrfs subvolume per layer, its quota a qgroup limit).
class LayerStore {
 public:
  virtual ~LayerStore() = default;
  virtual Result<void> create(const std::string& id) = 0;   // already_exists when present
  virtual Result<void> destroy(const std::string& id) = 0;  // with its snapshots kept; absent: fine
  virtual bool exists(const std::string& id) const = 0;
  // overlayfs' upper and work dirs, on one filesystem.
  virtual std::string upperDir(const std::string& id) const = 0;
  virtual std::string workDir(const std::string& id) const = 0;
  // The layer's quota, live; nullopt: none.
  virtual Result<void> setLimit(const std::string& id, std::optional<uint64_t> bytes) = 0;
  virtual Result<uint64_t> usage(const std::string& id) = 0;
  // Who owns the upper and work dirs themselves (a user namespace's root: the
  // overlay creates as the container's ids in them); a new layer's is host root.
  virtual Result<void> setOwner(const std::string& id, uint32_t uid, uint32_t gid) = 0;
  // A snapshot outside the layer's quota; returns its size.
  virtual Result<uint64_t> snapshot(const std::string& id, const std::string& snapshotId) = 0;
  // The layer becomes exactly the snapshot, keeping its quota.
  virtual Result<void> restore(const std::string& id, const std::string& snapshotId) = 0;
  virtual Result<void> deleteSnapshot(const std::string& id, const std::string& snapshotId) = 0;
  virtual Result<void> deleteSnapshots(const std::string& id) = 0;
  // A new layer toId with fromId's content and no quota.
  virtual Result<void> copy(const std::string& fromId, const std::string& toId) = 0;
};

struct Host {
  std::unique_ptr<CgroupController> cgroups;
  std::unique_ptr<MonitorLauncher> monitors;
  std::unique_ptr<NetworkController> network;
  std::unique_ptr<LayerStore> layers;
  const Clock* clock = &systemClock();
  // Whether this kernel runs containers in user namespaces with idmapped
  // roots: host_refused naming what it lacks. Empty: it does (fakes).
  std::function<Result<void>()> userNamespaceSupport;
};

// The real host: the cgroup driver detected under config.cgroupRoot and the
// berth-shim binary (config.shimPath, else next to the running binary); the
// default seccomp filter is compiled here once and handed to every shim.
Result<Host> kernelHost(const RuntimeConfig& config);

}  // namespace berth::runtime
