#pragma once
// The domain core: containers and their lifecycle operations, serialized per
// container. It decides; the Lifecycle commits every status change and the
// ContainerInstance acts on the host. api/ calls only this (and iam/); it
// never touches the kernel or LMDB itself.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "runtime/config.hpp"
#include "runtime/exec.hpp"
#include "runtime/host.hpp"
#include "runtime/images.hpp"
#include "runtime/lifecycle.hpp"
#include "runtime/log_follow.hpp"
#include "runtime/project_limits.hpp"
#include "store/records.hpp"

namespace berth::store {
class Store;
}

namespace berth::runtime {

using store::ContainerPage;
using store::ContainerQuery;
using store::ContainerRecord;
using store::ContainerStatus;
using store::LogPage;
using store::LogQuery;
using store::Resources;

// Who asks: a user id, or kSystemActor for the service itself.
inline constexpr std::string_view kSystemActor = "system";

struct CreateRequest {
  std::string name;
  std::string projectId;  // resolved by the caller (api) to a project the actor may create in
  std::string image = "busybox";
  std::vector<std::string> command;  // empty: the image's command (none: /bin/sh)
  std::map<std::string, std::string> env;  // over the image's env
  std::string workingDir;            // empty: the image's working dir, else "/"
  std::string hostname;              // empty: the name
  bool autostart = true;
  Resources resources;
  std::string networkMode = "none";
  std::vector<store::PublishedPort> ports;  // bridge only
  std::optional<UnixMillis> expiresAt;
  store::RestartPolicy restartPolicy;
  std::optional<std::string> user;   // nullopt: the image's User, else 0:0
  std::optional<uint32_t> umask;     // nullopt: the monitor's
  std::string isolation;             // empty: config defaultIsolation
};

// A change of limits: only those it names change; a set-but-empty one is removed.
struct ResourcesChange {
  std::optional<std::optional<uint64_t>> memoryMb;
  std::optional<std::optional<uint32_t>> cpuMillicores;
  std::optional<std::optional<uint64_t>> pidsMax;
  std::optional<std::optional<uint64_t>> diskMb;
  store::Resources applyTo(store::Resources current) const;
};

struct UpdateRequest {
  std::optional<std::string> name;
  std::optional<bool> autostart;
  std::optional<std::map<std::string, std::string>> env;
  std::optional<std::vector<std::string>> command;
  std::optional<std::string> workingDir;
  // Applied to the limits the container has when the update runs (under its lock).
  std::optional<ResourcesChange> resources;
  std::optional<std::optional<UnixMillis>> expiresAt;  // set, or clear with nullopt inside
  std::optional<std::vector<store::PublishedPort>> ports;  // only while stopped or failed
  std::optional<store::RestartPolicy> restartPolicy;       // `no` ends a pending restart
  std::optional<std::string> user;                        // only while stopped or failed
  std::optional<std::optional<uint32_t>> umask;           // likewise; nullopt inside: the monitor's
};

// A created container. startError: it exists, but its autostart failed (it
// is now `failed`, the error says why).
struct Created {
  ContainerRecord record;
  std::optional<Error> startError;
};

struct UpdateResult {
  ContainerRecord container;
  bool restarted = false;
};

struct ProcessInfo {
  int pid = 0;
  std::string command;
};

struct RuntimeInfo {
  int pid = 0;
  std::vector<ProcessInfo> processes;
  uint64_t memoryBytes = 0;
  uint64_t memoryLimitBytes = 0;
  uint64_t cpuUsageUsec = 0;
  uint64_t pidsCurrent = 0;
  uint64_t oomKills = 0;
  uint64_t uptimeSeconds = 0;
  std::optional<uint64_t> diskUsedBytes;   // the writable layer
  std::optional<uint64_t> diskLimitBytes;  // its quota; nullopt: unlimited
  std::optional<uint64_t> networkRxBytes;  // of eth0 (bridge containers)
  std::optional<uint64_t> networkTxBytes;
};

// A project's limits in force (its own over the configured defaults) and
// what its containers that are not deleted take of them.
struct ProjectQuota {
  store::ProjectLimits limits;
  ProjectUsage usage;
};

// Live figures of one running or paused container for /metrics: runtimeInfo's
// without processes and disk usage, cheap enough for every live container on each scrape.
struct ContainerUsage {
  ContainerRecord container;
  uint64_t cpuUsageUsec = 0;
  uint64_t memoryBytes = 0;
  uint64_t memoryLimitBytes = 0;  // 0: unlimited
  std::optional<uint64_t> networkRxBytes;  // bridge containers only
  std::optional<uint64_t> networkTxBytes;
};

// The running and paused containers, by id, up to a limit; `omitted` counts the others.
struct UsageReport {
  std::vector<ContainerUsage> containers;
  uint64_t omitted = 0;
};

struct OperationOptions {
  std::optional<std::chrono::seconds> timeout;  // stop/restart grace period; default from config
};

// A start that found its runtime instance removed behind berth's back (its
// cgroup gone) rebuilt it from the record under a new runtime id.
struct Recreation {
  std::string oldRuntimeId;
  bool volumeKept = true;  // the writable layer was still there
};

// Errors: not_found (unknown or deleted), state_conflict (the table of
// API.md §4 refuses; the message names the current status), already_exists
// (name taken), invalid_argument, resource_exhausted (tier limits, and the
// project's limits on a create, copy or resources update: project_limits.hpp),
// container_config (the start failed because of the container's own
// configuration; it is now failed), host_refused and deadline_exceeded.
class ContainerManager {
 public:
  // On the real host (kernelHost(config)).
  static Result<std::unique_ptr<ContainerManager>> open(const RuntimeConfig& config, store::Store& store);
  // On the given host: tests pass fakes of the cgroups, monitors and clock.
  static Result<std::unique_ptr<ContainerManager>> open(const RuntimeConfig& config, store::Store& store, Host host);
  ~ContainerManager();
  ContainerManager(const ContainerManager&) = delete;
  ContainerManager& operator=(const ContainerManager&) = delete;

  // Creates the record (and its runtime instance) and starts it when autostart.
  Result<Created> create(std::string_view actor, const CreateRequest& request);
  // not_found for unknown and for deleted containers. Never waits for an operation.
  Result<ContainerRecord> get(const std::string& id) const;
  // Like get, but deleted containers are returned too (audit reads).
  Result<ContainerRecord> getIncludingDeleted(const std::string& id) const;
  Result<ContainerPage> list(const ContainerQuery& query) const;
  Result<UpdateResult> update(std::string_view actor, const std::string& id, const UpdateRequest& request);
  // Runs one lifecycle operation synchronously on the container the caller
  // was authorized on (re-read only under its lock); returns the record in its new status.
  // A stop or force-stop of a stopped container whose restart is pending
  // (restart policy) cancels the restart and answers the record, stopped.
  // A start (or restart) that recreated the instance says so in `recreated`.
  Result<ContainerRecord> operate(std::string_view actor, const ContainerRecord& container, Operation op,
                                  const OperationOptions& options = {}, std::optional<Recreation>* recreated = nullptr);
  // A container named by its id, its runtime id or its name, among the live
  // containers of `projects` (nullopt: every project). not_found when none
  // matches; already_exists when the name is used in more than one of them.
  Result<ContainerRecord> findByReference(const std::string& reference,
                                          const std::optional<std::vector<std::string>>& projects) const;
  // Soft delete: from stopped/failed, or with force from running/paused too.
  Result<ContainerRecord> remove(std::string_view actor, const std::string& id, bool force, bool keepVolume);
  Result<LogPage> statusLogs(const std::string& id, const LogQuery& query) const;

  // Snapshots of the writable layer (API.md §12), of a stopped or failed
  // container (state_conflict otherwise); alias taken: already_exists.
  Result<store::SnapshotRecord> createSnapshot(const ContainerRecord& container, const std::string& alias);
  Result<std::vector<store::SnapshotRecord>> listSnapshots(const ContainerRecord& container) const;
  // The layer becomes exactly the snapshot; answers the container.
  Result<ContainerRecord> restoreSnapshot(const ContainerRecord& container, const std::string& snapshotId);
  Result<store::SnapshotRecord> deleteSnapshot(const ContainerRecord& container, const std::string& snapshotId);
  // A new stopped container in `projectId` with the source's configuration
  // (a new address, no published ports, autostart off) and a copy of its
  // layer; `copying` while the copy runs. The source must be stopped or failed.
  Result<ContainerRecord> copy(std::string_view actor, const ContainerRecord& source, const std::string& name,
                               const std::string& projectId);
  // Live figures of a running or paused container, as the caller read it.
  Result<RuntimeInfo> runtimeInfo(const ContainerRecord& container) const;
  // The container's stdout and stderr as written (one rotation kept): the
  // last tailLines lines, or all when nullopt.
  Result<std::string> logs(const ContainerRecord& container, std::optional<size_t> tailLines) const;
  // For `follow`: `initial` gets the tail, the follower what comes after it.
  // The caller ends the stream once get(id) is no longer running or paused
  // and next() comes back empty.
  Result<LogFollower> followLogs(const ContainerRecord& container, std::optional<size_t> tailLines,
                                 std::string& initial) const;
  // Processes inside a running container (API.md §13), refused with
  // state_conflict unless it is running. The exec runs on in its monitor
  // whatever becomes of the handle; wait() gives its record.
  Result<std::unique_ptr<ExecHandle>> startExec(const ContainerRecord& container, const ExecRequest& request);
  // The container's exec records (the last kKeptExecRecords), newest first; one by id (not_found).
  Result<std::vector<ExecRecord>> listExecs(const ContainerRecord& container) const;
  Result<ExecRecord> getExec(const ContainerRecord& container, const std::string& execId) const;
  // Whether an image of that name exists on this host (create answers IMAGE_NOT_FOUND otherwise).
  bool hasImage(const std::string& name) const;
  // Images (API.md §12): busybox (builtin) and the imported ones, by name.
  Result<std::vector<ImageInfo>> listImages() const;
  // Streams an archive (config imageMaxBytes) into a new image; see importImageInto.
  Result<ImageInfo> importImage(const std::string& name, const std::string& ref, const BodyReader& read);
  // state_conflict + Detail::image_in_use while a container that is not
  // deleted uses it; busybox: invalid_argument; unknown: not_found.
  Result<ImageInfo> deleteImage(const std::string& name);
  // The project's quota as it stands (GET /api/v1/projects/{id}).
  Result<ProjectQuota> projectQuota(const store::ProjectRecord& project) const;
  // Counts by status, for /metrics.
  Result<std::map<ContainerStatus, uint64_t>> countByStatus() const;
  // For /metrics: the first `limit` running or paused containers by id (a
  // container whose group cannot be read is shown with zeros).
  Result<UsageReport> liveUsage(size_t limit) const;

  // Every committed change (transition, creation, update), after its commit.
  void onChange(Lifecycle::Listener listener);
  // The event log (API.md §8): events after an id, in id order; and the newest id.
  Result<store::EventPage> eventsAfter(const std::string& afterId, size_t limit) const;
  Result<std::optional<std::string>> lastEventId() const;

  const RuntimeConfig& config() const;

 private:
  struct Impl;
  explicit ContainerManager(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::runtime
