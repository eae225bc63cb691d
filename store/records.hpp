#pragma once
// The records berth keeps. Plain data; the store persists them, the runtime decides.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"

namespace berth::store {

enum class ContainerStatus { creating, running, paused, stopped, failed, copying, expired, deleted };
std::string_view statusName(ContainerStatus status);
std::optional<ContainerStatus> parseStatus(std::string_view name);

struct Resources {
  std::optional<uint64_t> memoryMb;
  std::optional<uint32_t> cpuMillicores;
  std::optional<uint64_t> pidsMax;
  std::optional<uint64_t> diskMb;
  bool operator==(const Resources&) const = default;
};

// What the service does when a container exits by itself (not through the
// API), as Docker's --restart: no, on-failure[:max], always, unless-stopped.
enum class RestartMode { no, on_failure, always, unless_stopped };

struct RestartPolicy {
  RestartMode mode = RestartMode::no;
  uint32_t maxRetries = 0;  // on-failure only; 0: no bound
  bool operator==(const RestartPolicy&) const = default;
};
// "no", "on-failure", "on-failure:3", "always", "unless-stopped"; nullopt for
// anything else (a max below 1 or above kMaxRestartRetries included).
inline constexpr uint32_t kMaxRestartRetries = 1000000;
std::string restartPolicyName(const RestartPolicy& policy);
std::optional<RestartPolicy> parseRestartPolicy(std::string_view text);

// A published port (API.md §11): host_ip:host_port on the host reaches the
// container's container_port while it runs.
struct PublishedPort {
  uint16_t containerPort = 0;
  uint16_t hostPort = 0;
  std::string protocol = "tcp";
  std::string hostIp = "127.0.0.1";
  bool operator==(const PublishedPort&) const = default;
};

// Who the container's processes run as (API.md §14), resolved in the image
// when it was asked for; `name` is what was asked ("1000", "app:staff").
struct ProcessUser {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary, from the image's /etc/group
  bool operator==(const ProcessUser&) const = default;
};

// A user-namespace container's ids 0..size-1 are the host's hostUid.. and
// hostGid..: a range no other live container of the service holds.
struct IdMap {
  uint32_t hostUid = 0;
  uint32_t hostGid = 0;
  uint32_t size = 0;
  bool operator==(const IdMap&) const = default;
};

inline constexpr std::string_view kHostRoot = "host-root";
inline constexpr std::string_view kUserNamespace = "user-namespace";

struct ContainerRecord {
  std::string id;         // 24 hex
  std::string runtimeId;  // 12 hex, changes when the runtime instance is recreated
  std::string name;
  std::string projectId;
  std::string ownerId;
  std::string image = "busybox";
  std::vector<std::string> command;
  std::map<std::string, std::string> env;
  std::string workingDir = "/";
  std::string hostname;
  ContainerStatus status = ContainerStatus::creating;
  std::optional<int> exitCode;
  std::optional<std::string> exitSignal;  // "SIGKILL"
  bool oomKilled = false;
  std::optional<int> pid;                 // host pid of init while running/paused
  Resources resources;
  std::string networkMode = "none";
  std::optional<std::string> networkIp;  // bridge: the container's address for its whole life
  std::vector<PublishedPort> ports;       // bridge only; reserved until the container is deleted
  // nullopt in records from before `user`: root, with the monitor's groups.
  std::optional<ProcessUser> user;
  std::optional<uint32_t> umask;
  std::string isolation = std::string(kHostRoot);
  std::optional<IdMap> idMap;  // user-namespace only; held until the container is deleted
  bool autostart = true;
  UnixMillis createdAt = 0;
  UnixMillis updatedAt = 0;
  std::optional<UnixMillis> startedAt;
  std::optional<UnixMillis> finishedAt;
  std::optional<UnixMillis> expiresAt;
  RestartPolicy restartPolicy;
  // The restart policy's loop: restarts since the last start by a user (or
  // the service), the backoff the last one waited, and when the next is due
  // (set only while stopped; kept here so that it survives a service restart).
  uint32_t restartCount = 0;
  int64_t restartBackoffMs = 0;
  std::optional<UnixMillis> restartDueAt;
  bool stoppedByUser = false;  // its last stop came through the API (unless-stopped)
  bool operator==(const ContainerRecord&) const = default;
};

struct TransitionMetadata {
  std::string operation;                  // "start", "stop", "exit", "expire", "host_restart", ...
  std::optional<int> exitCode;
  std::optional<std::string> signal;      // "SIGTERM"
  std::optional<bool> oomKilled;
  std::optional<std::string> reason;
  std::optional<uint32_t> attempt;        // a restart by the restart policy: its number in the loop
  bool operator==(const TransitionMetadata&) const = default;
};

struct StatusLogEntry {
  std::string id;           // 24 hex, strictly increasing in write order (assigned by the store)
  std::string containerId;
  ContainerStatus fromStatus = ContainerStatus::creating;
  ContainerStatus toStatus = ContainerStatus::creating;
  UnixMillis transitionTime = 0;  // when the status was reached
  UnixMillis createdAt = 0;       // when the entry was written (assigned by the store)
  int64_t durationMs = 0;
  std::string triggeredBy;        // user id or "system"
  TransitionMetadata metadata;
  bool operator==(const StatusLogEntry&) const = default;
};

// One entry of the event log (API.md §8). The runtime decides the type and
// renders `data`; the store assigns the id and keeps the log in id order.
struct EventRecord {
  std::string id;           // 24 hex; assigned by the store (it refuses one that is set)
  std::string type;         // "container_started", ...
  std::string containerId;  // the store fills it in with the record's id when empty
  std::string projectId;    // for visibility filtering; the record's project when empty
  UnixMillis time = 0;      // 0: the store sets the time of the write
  std::string data;         // the event's payload as JSON text, opaque to the store
  bool operator==(const EventRecord&) const = default;
};

struct EventPage {
  std::vector<EventRecord> events;  // id order, all with id > the asked one
  bool reset = false;               // events after the asked id were pruned already: the page starts at the oldest kept
};

// API.md §8. Store::pruneEvents removes an event when more than maxEvents
// are kept or when it is older than maxAgeMs.
struct EventRetention {
  uint64_t maxEvents = 100000;
  int64_t maxAgeMs = 7LL * 24 * 3600 * 1000;
};

enum class UserRole { admin, user, guest };
std::string_view roleName(UserRole role);
std::optional<UserRole> parseRole(std::string_view name);

struct UserRecord {
  std::string id;
  std::string username;
  std::string passwordHash;  // libsodium argon2id string
  UserRole role = UserRole::user;
  bool banned = false;
  std::optional<UnixMillis> guestExpiresAt;
  std::string personalProjectId;
  UnixMillis createdAt = 0;
  bool operator==(const UserRecord&) const = default;
};

// A snapshot of a container's writable layer (API.md §12); its content lives in the storage pool.
struct SnapshotRecord {
  std::string id;           // 24 hex
  std::string containerId;
  std::string alias;        // unique per container
  uint64_t sizeBytes = 0;
  UnixMillis createdAt = 0;
  bool operator==(const SnapshotRecord&) const = default;
};

// A project's quota over its containers that are not deleted (nullopt: no
// limit): how many, and the sums of their memory_mb, cpu_millicores and disk_mb.
struct ProjectLimits {
  std::optional<uint64_t> containers;
  std::optional<uint64_t> memoryMb;
  std::optional<uint64_t> cpuMillicores;
  std::optional<uint64_t> diskMb;
  bool operator==(const ProjectLimits&) const = default;
};

// An admin's overrides of the configured defaults, per limit: unset, the
// default applies; set, this limit (or none) does.
struct ProjectLimitOverrides {
  std::optional<std::optional<uint64_t>> containers;
  std::optional<std::optional<uint64_t>> memoryMb;
  std::optional<std::optional<uint64_t>> cpuMillicores;
  std::optional<std::optional<uint64_t>> diskMb;
  ProjectLimits over(ProjectLimits defaults) const;
  bool operator==(const ProjectLimitOverrides&) const = default;
};

struct ProjectRecord {
  std::string id;
  std::string name;
  std::string ownerId;
  UnixMillis createdAt = 0;
  ProjectLimitOverrides limits;
  bool operator==(const ProjectRecord&) const = default;
};

enum class ProjectRole { viewer, operator_, owner };  // ordered: each includes the ones before
std::string_view projectRoleName(ProjectRole role);
std::optional<ProjectRole> parseProjectRole(std::string_view name);

struct Membership {
  std::string projectId;
  std::string userId;
  ProjectRole role = ProjectRole::viewer;
  bool operator==(const Membership&) const = default;
};

// Paging of API.md §5.
struct PageRequest {
  uint64_t page = 1;   // >= 1
  uint64_t limit = 10; // 1..100
};
struct Pagination {
  uint64_t total = 0;
  uint64_t page = 1;
  uint64_t limit = 10;
  uint64_t totalPages = 0;
};

enum class LogSortBy { transition_time, created_at, to_status, from_status };
enum class SortOrder { asc, desc };

struct LogQuery {
  PageRequest page;
  LogSortBy sortBy = LogSortBy::transition_time;
  SortOrder order = SortOrder::desc;
};

struct LogPage {
  std::vector<StatusLogEntry> logs;
  Pagination pagination;
};

struct ContainerQuery {
  PageRequest page;
  std::optional<ContainerStatus> status;
  // Only these projects; nullopt = all (admins). Deleted containers are never listed.
  std::optional<std::vector<std::string>> projectIds;
};

struct ContainerPage {
  std::vector<ContainerRecord> containers;
  Pagination pagination;
};

}  // namespace berth::store
