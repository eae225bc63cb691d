#pragma once
// cgroup drivers: one interface over a pure cgroup v2 host ("unified") and a
// systemd-style hybrid host (v1 controllers at /sys/fs/cgroup/<ctrl>, a
// controller-less v2 tree at /sys/fs/cgroup/unified). Freeze, kill and
// populated events always go through the v2 group; memory, cpu and pids
// limits go to v2 or v1 by a routing table built at detection.
// Groups are created only under the driver's own root and never touch any
// other group on the host.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cgroup/devices.hpp"
#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::cgroup {

enum class Layout { unified, hybrid };

// An unset field is left as it is; 0 removes the limit ("max").
struct Limits {
  std::optional<uint64_t> memoryBytes;
  std::optional<uint32_t> cpuMillicores;  // quota over a 100 ms period; weight/shares follow it
  std::optional<uint64_t> pidsMax;
};

struct Stats {
  uint64_t memoryBytes = 0;
  uint64_t memoryLimitBytes = 0;  // 0 = unlimited
  uint64_t cpuUsageUsec = 0;
  uint64_t pidsCurrent = 0;
  uint64_t oomKills = 0;
};

// How a group's device policy is applied: the v1 devices controller (hybrid
// hosts that have it), an eBPF program on the v2 group, or not at all (only
// a test fixture, whose directories are no cgroupfs).
enum class DeviceControl { v1, ebpf, none };

// Where the driver finds the hierarchies; tests point it at a fixture.
struct Mounts {
  Layout layout = Layout::unified;
  std::string v2;                         // the cgroup2 mount
  std::map<std::string, std::string> v1;  // controller -> v1 mount (hybrid only)
  DeviceControl devices = DeviceControl::ebpf;
  // v1 mount -> every controller it holds as mounted ("cpu,cpuacct"): a
  // container mounts the same hierarchy by exactly that list. Unset for a mount: its controllers in v1.
  std::map<std::string, std::string> v1Controllers;
};

// One hierarchy as a container mounts it (read-only, from inside its cgroup
// namespace, so the container's own group is the mount's root).
struct Hierarchy {
  std::string name;                  // its dir under /sys/fs/cgroup ("memory", "cpu,cpuacct",
                                     // "unified"); "" on a pure v2 host
  std::string fstype;                // "cgroup" (v1) or "cgroup2"
  std::string controllers;           // v1: the mount's option list, exactly as the host mounted it
  std::vector<std::string> aliases;  // symlinks beside a co-mounted one ("cpu" and "cpuacct" -> "cpu,cpuacct")
  std::string mountPoint;            // where the host has it mounted ("/sys/fs/cgroup/memory")
};

// A group's dir in `hierarchy`: the dir of the one of its join files
// (Group::joinFiles) that lies under the hierarchy's mount point; "" if none.
std::string groupDirIn(const Hierarchy& hierarchy, const std::vector<std::string>& joinFiles);

// Reads /proc/self/mountinfo (or the given file) and classifies the host.
Result<Mounts> detectMounts(const std::string& mountinfoPath = "/proc/self/mountinfo");

// A handle on one group. Dropping it leaves the group on the host: only
// destroy() removes it (NewGroup removes a group it made unless committed).
class Group {
 public:
  Group(Group&&) noexcept = default;
  Group& operator=(Group&&) noexcept = default;
  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  ~Group() = default;

  const std::string& name() const { return name_; }
  const std::string& v2Path() const { return v2Path_; }
  // The files a new, single-threaded process writes "0" to, to join the v1
  // groups (empty on unified): `tasks`, which moves only the writer's own
  // thread, and so skips the global threadgroup lock that cgroup.procs takes
  // for writing and the RCU grace period (5-11 ms here) that lock waits for.
  std::vector<std::string> v1JoinFiles() const;
  // Every file a new process writes "0" to, to join the group: the v2
  // cgroup.procs, then v1JoinFiles(). A process cloned into the v2 group
  // (CLONE_INTO_CGROUP, see renewForClone) writes only v1JoinFiles().
  std::vector<std::string> joinFiles() const;
  // Linux 6.15+ kills at birth a process cloned into a group cgroup.kill was
  // ever used on (it compares kill generations), so a group that may have
  // been killed gets its v2 directory made anew, empty, before a clone into
  // it: the v1 groups stay; limits that live in v2 (unified) are set again. state_conflict while populated.
  Result<void> renewForClone(const Limits& limits);

  Result<void> setLimits(const Limits& limits);
  // Replaces the group's device policy (devices.hpp); createGroup sets defaultDeviceRules().
  Result<void> setDevices(const std::vector<DeviceRule>& rules);
  // Returns once cgroup.events says "frozen 1". On timeout the group is thawed
  // again and deadline_exceeded returned: a half-frozen group is never left.
  Result<void> freeze(std::chrono::milliseconds timeout);
  // freeze() in two halves, for a caller with other work meanwhile: the
  // kernel freezes the group from beginFreeze() on; finishFreeze() waits for
  // "frozen 1" and, on timeout, thaws again as freeze() does.
  Result<void> beginFreeze();
  Result<void> finishFreeze(std::chrono::milliseconds timeout);
  Result<void> thaw(std::chrono::milliseconds timeout);
  Result<bool> frozen() const;
  // SIGKILL to every process (cgroup.kill; freeze + kill each pid + thaw where
  // the kernel lacks it), then waits for "populated 0".
  // Linux 6.15+ then SIGKILLs any process cloned into the group with
  // CLONE_INTO_CGROUP until renewForClone; one that joins by writing (joinFiles()) is not affected.
  Result<void> killAll(std::chrono::milliseconds timeout);
  Result<bool> populated() const;
  // Waits (poll on cgroup.events, no sleep loop) until populated 0.
  Result<void> waitEmpty(std::chrono::milliseconds timeout) const;
  Result<std::vector<pid_t>> pids() const;
  Result<Stats> stats() const;
  // Removes every directory of the group; state_conflict while populated.
  Result<void> destroy();

 private:
  friend class Driver;
  Group() = default;
  // Each v1 dir once (co-mounted controllers share one).
  std::vector<std::string> v1Dirs() const;
  Result<void> setV2Limits(const Limits& limits);
  Result<void> setV1Limits(const Limits& limits);
  // killAll where cgroup.kill is missing: freeze, SIGKILL each pid, thaw.
  Result<void> killEachFrozen(std::chrono::milliseconds timeout);
  // rmdir that waits out the brief EBUSY after the last process died.
  Result<void> removeDir(const std::string& dir) const;

  std::string name_;
  Layout layout_ = Layout::unified;
  DeviceControl devices_ = DeviceControl::ebpf;
  std::string v2Path_;
  std::map<std::string, std::string> v1Paths_;  // controller -> dir
  UniqueFd v2Dir_;
  // cgroup.kill may have been used on the v2 dir: set by killAll, and for a
  // group opened rather than made (its past is unknown).
  bool mayBeKilled_ = false;
};

// A group createGroup just made: removed again when dropped (logged if that
// fails; a populated group is left in place) unless commit() takes it.
class NewGroup {
 public:
  explicit NewGroup(Group group) : group_(std::move(group)) {}
  NewGroup(NewGroup&& other) noexcept
      : group_(std::move(other.group_)), committed_(std::exchange(other.committed_, true)) {}
  NewGroup& operator=(NewGroup&&) = delete;
  NewGroup(const NewGroup&) = delete;
  NewGroup& operator=(const NewGroup&) = delete;
  ~NewGroup();

  Group& operator*() { return group_; }
  Group* operator->() { return &group_; }
  // The group stays: the caller owns its removal from now on.
  Group commit() &&;

 private:
  Group group_;
  bool committed_ = false;
};

class Driver {
 public:
  // root: a relative name ("berth", "berth-test-1234") under each hierarchy.
  static Result<Driver> create(Mounts mounts, std::string root);
  static Result<Driver> detect(std::string root);

  Layout layout() const { return mounts_.layout; }
  const std::string& root() const { return root_; }

  // Creates <root>/<name> everywhere it is needed, with the default device
  // policy (before any process can be in it); already_exists if present.
  Result<NewGroup> createGroup(const std::string& name);
  // An existing group (after a daemon restart); not_found if absent. Opening
  // never removes anything (it adds the v1 devices group with the default policy to a group made before berth had one).
  Result<Group> openGroup(const std::string& name);
  bool groupExists(const std::string& name) const;
  Result<std::vector<std::string>> listGroups() const;
  // Removes the root directories if they are empty (tests, uninstall).
  Result<void> removeRoot();
  // What a container's /sys/fs/cgroup holds: on a pure v2 host the cgroup2
  // tree alone; on a hybrid host each v1 hierarchy groups use, then the v2
  // tree as "unified" (Docker's layout on v1 hosts).
  std::vector<Hierarchy> containerHierarchies() const;

 private:
  Driver() = default;
  Mounts mounts_;
  std::string root_;
};

}  // namespace berth::cgroup
