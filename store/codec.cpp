#include "store/codec.hpp"

#include <array>
#include <exception>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace berth::store::codec {

namespace {

using json = nlohmann::json;

// --- field helpers -----------------------------------------------------------

template <typename T>
void putOpt(json& j, const char* key, const std::optional<T>& value) {
  if (value)
    j[key] = *value;
  else
    j[key] = nullptr;
}

// Assigns when present and not null; leaves the default otherwise.
template <typename T>
void getField(const json& j, const char* key, T& out) {
  auto it = j.find(key);
  if (it != j.end() && !it->is_null()) out = it->template get<T>();
}

template <typename T>
void getOpt(const json& j, const char* key, std::optional<T>& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    out.reset();
  else
    out = it->template get<T>();
}

// A field the record cannot be without.
template <typename T>
void getRequired(const json& j, const char* key, T& out) {
  out = j.at(key).template get<T>();
}

ContainerStatus statusFrom(const json& j, const char* key) {
  auto name = j.at(key).get<std::string>();
  auto status = parseStatus(name);
  if (!status) throw std::runtime_error(std::string("unknown status '") + name + "' in " + key);
  return *status;
}

// --- records -----------------------------------------------------------------

json resourcesToJson(const Resources& r) {
  json j = json::object();
  putOpt(j, "memory_mb", r.memoryMb);
  putOpt(j, "cpu_millicores", r.cpuMillicores);
  putOpt(j, "pids_max", r.pidsMax);
  putOpt(j, "disk_mb", r.diskMb);
  return j;
}

Resources resourcesFromJson(const json& j) {
  Resources r;
  if (j.is_null()) return r;
  if (!j.is_object()) throw std::runtime_error("resources is not an object");
  getOpt(j, "memory_mb", r.memoryMb);
  getOpt(j, "cpu_millicores", r.cpuMillicores);
  getOpt(j, "pids_max", r.pidsMax);
  getOpt(j, "disk_mb", r.diskMb);
  return r;
}

json containerToJson(const ContainerRecord& r) {
  json j = json::object();
  j["id"] = r.id;
  j["runtime_id"] = r.runtimeId;
  j["name"] = r.name;
  j["project_id"] = r.projectId;
  j["owner_id"] = r.ownerId;
  j["image"] = r.image;
  j["command"] = r.command;
  j["env"] = r.env;
  j["working_dir"] = r.workingDir;
  j["hostname"] = r.hostname;
  j["status"] = statusName(r.status);
  putOpt(j, "exit_code", r.exitCode);
  putOpt(j, "exit_signal", r.exitSignal);
  j["oom_killed"] = r.oomKilled;
  putOpt(j, "pid", r.pid);
  j["resources"] = resourcesToJson(r.resources);
  j["network_mode"] = r.networkMode;
  putOpt(j, "network_ip", r.networkIp);
  if (!r.ports.empty()) {
    json ports = json::array();
    for (const PublishedPort& port : r.ports)
      ports.push_back({{"container_port", port.containerPort}, {"host_port", port.hostPort},
                       {"protocol", port.protocol}, {"host_ip", port.hostIp}});
    j["ports"] = std::move(ports);
  }
  if (r.user)
    j["user"] = {{"name", r.user->name}, {"uid", r.user->uid}, {"gid", r.user->gid}, {"groups", r.user->groups}};
  putOpt(j, "umask", r.umask);
  j["isolation"] = r.isolation;
  if (r.idMap) j["id_map"] = {{"host_uid", r.idMap->hostUid}, {"host_gid", r.idMap->hostGid}, {"size", r.idMap->size}};
  j["autostart"] = r.autostart;
  j["created_at"] = r.createdAt;
  j["updated_at"] = r.updatedAt;
  putOpt(j, "started_at", r.startedAt);
  putOpt(j, "finished_at", r.finishedAt);
  putOpt(j, "expires_at", r.expiresAt);
  j["restart_policy"] = restartPolicyName(r.restartPolicy);
  j["restart_count"] = r.restartCount;
  j["restart_backoff_ms"] = r.restartBackoffMs;
  putOpt(j, "restart_due_at", r.restartDueAt);
  j["stopped_by_user"] = r.stoppedByUser;
  return j;
}

ContainerRecord containerFromJson(const json& j) {
  ContainerRecord r;
  getRequired(j, "id", r.id);
  getField(j, "runtime_id", r.runtimeId);
  getField(j, "name", r.name);
  getField(j, "project_id", r.projectId);
  getField(j, "owner_id", r.ownerId);
  getField(j, "image", r.image);
  getField(j, "command", r.command);
  getField(j, "env", r.env);
  getField(j, "working_dir", r.workingDir);
  getField(j, "hostname", r.hostname);
  r.status = statusFrom(j, "status");
  getOpt(j, "exit_code", r.exitCode);
  getOpt(j, "exit_signal", r.exitSignal);
  getField(j, "oom_killed", r.oomKilled);
  getOpt(j, "pid", r.pid);
  if (auto it = j.find("resources"); it != j.end()) r.resources = resourcesFromJson(*it);
  getField(j, "network_mode", r.networkMode);
  getOpt(j, "network_ip", r.networkIp);
  if (auto it = j.find("ports"); it != j.end()) {
    for (const json& port : *it) {
      PublishedPort published;
      getRequired(port, "container_port", published.containerPort);
      getRequired(port, "host_port", published.hostPort);
      getField(port, "protocol", published.protocol);
      getField(port, "host_ip", published.hostIp);
      r.ports.push_back(std::move(published));
    }
  }
  if (auto it = j.find("user"); it != j.end() && !it->is_null()) {
    ProcessUser user;
    getField(*it, "name", user.name);
    getRequired(*it, "uid", user.uid);
    getRequired(*it, "gid", user.gid);
    getField(*it, "groups", user.groups);
    r.user = std::move(user);
  }
  getOpt(j, "umask", r.umask);
  getField(j, "isolation", r.isolation);
  if (auto it = j.find("id_map"); it != j.end() && !it->is_null()) {
    IdMap map;
    getRequired(*it, "host_uid", map.hostUid);
    getRequired(*it, "host_gid", map.hostGid);
    getRequired(*it, "size", map.size);
    r.idMap = map;
  }
  getField(j, "autostart", r.autostart);
  getField(j, "created_at", r.createdAt);
  getField(j, "updated_at", r.updatedAt);
  getOpt(j, "started_at", r.startedAt);
  getOpt(j, "finished_at", r.finishedAt);
  getOpt(j, "expires_at", r.expiresAt);
  // Records written before restart policies lack these fields: policy no, no loop.
  if (auto it = j.find("restart_policy"); it != j.end() && !it->is_null()) {
    auto policy = parseRestartPolicy(it->get<std::string>());
    if (!policy) throw std::runtime_error("unknown restart policy " + it->dump());
    r.restartPolicy = *policy;
  }
  getField(j, "restart_count", r.restartCount);
  getField(j, "restart_backoff_ms", r.restartBackoffMs);
  getOpt(j, "restart_due_at", r.restartDueAt);
  getField(j, "stopped_by_user", r.stoppedByUser);
  return r;
}

json metadataToJson(const TransitionMetadata& m) {
  json j = json::object();
  j["operation"] = m.operation;
  putOpt(j, "exit_code", m.exitCode);
  putOpt(j, "signal", m.signal);
  putOpt(j, "oom_killed", m.oomKilled);
  putOpt(j, "reason", m.reason);
  if (m.attempt) j["attempt"] = *m.attempt;
  return j;
}

TransitionMetadata metadataFromJson(const json& j) {
  TransitionMetadata m;
  if (j.is_null()) return m;
  if (!j.is_object()) throw std::runtime_error("metadata is not an object");
  getField(j, "operation", m.operation);
  getOpt(j, "exit_code", m.exitCode);
  getOpt(j, "signal", m.signal);
  getOpt(j, "oom_killed", m.oomKilled);
  getOpt(j, "reason", m.reason);
  getOpt(j, "attempt", m.attempt);
  return m;
}

json entryToJson(const StatusLogEntry& e) {
  json j = json::object();
  j["id"] = e.id;
  j["container_id"] = e.containerId;
  j["from_status"] = statusName(e.fromStatus);
  j["to_status"] = statusName(e.toStatus);
  j["transition_time"] = e.transitionTime;
  j["created_at"] = e.createdAt;
  j["duration_ms"] = e.durationMs;
  j["triggered_by"] = e.triggeredBy;
  j["metadata"] = metadataToJson(e.metadata);
  return j;
}

StatusLogEntry entryFromJson(const json& j) {
  StatusLogEntry e;
  getRequired(j, "id", e.id);
  getRequired(j, "container_id", e.containerId);
  e.fromStatus = statusFrom(j, "from_status");
  e.toStatus = statusFrom(j, "to_status");
  getRequired(j, "transition_time", e.transitionTime);
  getField(j, "created_at", e.createdAt);
  getField(j, "duration_ms", e.durationMs);
  getField(j, "triggered_by", e.triggeredBy);
  if (auto it = j.find("metadata"); it != j.end()) e.metadata = metadataFromJson(*it);
  return e;
}

json userToJson(const UserRecord& u) {
  json j = json::object();
  j["id"] = u.id;
  j["username"] = u.username;
  j["password_hash"] = u.passwordHash;
  j["role"] = roleName(u.role);
  j["banned"] = u.banned;
  putOpt(j, "guest_expires_at", u.guestExpiresAt);
  j["personal_project_id"] = u.personalProjectId;
  j["created_at"] = u.createdAt;
  return j;
}

UserRecord userFromJson(const json& j) {
  UserRecord u;
  getRequired(j, "id", u.id);
  getRequired(j, "username", u.username);
  getField(j, "password_hash", u.passwordHash);
  auto role = parseRole(j.at("role").get<std::string>());
  if (!role) throw std::runtime_error("unknown user role " + j.at("role").dump());
  u.role = *role;
  getField(j, "banned", u.banned);
  getOpt(j, "guest_expires_at", u.guestExpiresAt);
  getField(j, "personal_project_id", u.personalProjectId);
  getField(j, "created_at", u.createdAt);
  return u;
}

json snapshotToJson(const SnapshotRecord& s) {
  return json{{"id", s.id}, {"container_id", s.containerId}, {"alias", s.alias}, {"size_bytes", s.sizeBytes},
              {"created_at", s.createdAt}};
}

SnapshotRecord snapshotFromJson(const json& j) {
  SnapshotRecord s;
  getRequired(j, "id", s.id);
  getRequired(j, "container_id", s.containerId);
  getRequired(j, "alias", s.alias);
  getField(j, "size_bytes", s.sizeBytes);
  getField(j, "created_at", s.createdAt);
  return s;
}

// The limits the admin set, by name; a name absent follows the configured default, null is no limit.
constexpr std::array<std::pair<const char*, std::optional<std::optional<uint64_t>> ProjectLimitOverrides::*>, 4>
    kLimitFields{{{"containers", &ProjectLimitOverrides::containers},
                  {"memory", &ProjectLimitOverrides::memoryMb},
                  {"cpu", &ProjectLimitOverrides::cpuMillicores},
                  {"disk", &ProjectLimitOverrides::diskMb}}};

json projectToJson(const ProjectRecord& p) {
  json j = json::object();
  j["id"] = p.id;
  j["name"] = p.name;
  j["owner_id"] = p.ownerId;
  j["created_at"] = p.createdAt;
  json limits = json::object();
  for (const auto& [key, member] : kLimitFields)
    if (const auto& limit = p.limits.*member) putOpt(limits, key, *limit);
  if (!limits.empty()) j["limits"] = std::move(limits);
  return j;
}

ProjectRecord projectFromJson(const json& j) {
  ProjectRecord p;
  getRequired(j, "id", p.id);
  getField(j, "name", p.name);
  getField(j, "owner_id", p.ownerId);
  getField(j, "created_at", p.createdAt);
  // Records written before project limits have none: the defaults apply.
  if (auto it = j.find("limits"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) throw std::runtime_error("limits is not an object");
    for (const auto& [key, member] : kLimitFields) {
      auto limit = it->find(key);
      if (limit == it->end()) continue;
      std::optional<uint64_t> value;
      if (!limit->is_null()) value = limit->get<uint64_t>();
      p.limits.*member = value;
    }
  }
  return p;
}

json membershipToJson(const Membership& m) {
  json j = json::object();
  j["project_id"] = m.projectId;
  j["user_id"] = m.userId;
  j["role"] = projectRoleName(m.role);
  return j;
}

Membership membershipFromJson(const json& j) {
  Membership m;
  getRequired(j, "project_id", m.projectId);
  getRequired(j, "user_id", m.userId);
  auto role = parseProjectRole(j.at("role").get<std::string>());
  if (!role) throw std::runtime_error("unknown project role " + j.at("role").dump());
  m.role = *role;
  return m;
}

json eventToJson(const EventRecord& e) {
  json j = json::object();
  j["id"] = e.id;
  j["type"] = e.type;
  j["container_id"] = e.containerId;
  j["project_id"] = e.projectId;
  j["time"] = e.time;
  j["data"] = e.data;
  return j;
}

EventRecord eventFromJson(const json& j) {
  EventRecord e;
  getRequired(j, "id", e.id);
  getRequired(j, "type", e.type);
  getField(j, "container_id", e.containerId);
  getField(j, "project_id", e.projectId);
  getField(j, "time", e.time);
  getField(j, "data", e.data);
  return e;
}

// --- the boundary: no exception leaves this file ------------------------------

template <typename Record, typename ToJson>
Result<std::string> encodeWith(const Record& record, ToJson toJson, const char* what) {
  try {
    return toJson(record).dump();
  } catch (const std::exception& e) {
    // dump() refuses strings that are not UTF-8.
    return fail(Errc::invalid_argument, std::string("cannot encode ") + what + ": " + e.what());
  }
}

template <typename FromJson>
auto decodeWith(std::string_view bytes, FromJson fromJson, const char* what)
    -> Result<decltype(fromJson(std::declval<const json&>()))> {
  try {
    json j = json::parse(bytes.begin(), bytes.end());
    if (!j.is_object()) return fail(Errc::internal, std::string("corrupt ") + what + " record: not a JSON object");
    return fromJson(j);
  } catch (const std::exception& e) {
    return fail(Errc::internal, std::string("corrupt ") + what + " record: " + e.what());
  }
}

}  // namespace

Result<std::string> encode(const ContainerRecord& record) { return encodeWith(record, containerToJson, "container"); }
Result<std::string> encode(const StatusLogEntry& entry) { return encodeWith(entry, entryToJson, "status-log entry"); }
Result<std::string> encode(const UserRecord& user) { return encodeWith(user, userToJson, "user"); }
Result<std::string> encode(const ProjectRecord& project) { return encodeWith(project, projectToJson, "project"); }
Result<std::string> encode(const SnapshotRecord& snapshot) { return encodeWith(snapshot, snapshotToJson, "snapshot"); }
Result<std::string> encode(const Membership& membership) {
  return encodeWith(membership, membershipToJson, "membership");
}
Result<std::string> encode(const EventRecord& event) { return encodeWith(event, eventToJson, "event"); }

Result<ContainerRecord> decodeContainer(std::string_view bytes) { return decodeWith(bytes, containerFromJson, "container"); }
Result<StatusLogEntry> decodeEntry(std::string_view bytes) { return decodeWith(bytes, entryFromJson, "status-log entry"); }
Result<UserRecord> decodeUser(std::string_view bytes) { return decodeWith(bytes, userFromJson, "user"); }
Result<ProjectRecord> decodeProject(std::string_view bytes) { return decodeWith(bytes, projectFromJson, "project"); }
Result<SnapshotRecord> decodeSnapshot(std::string_view bytes) { return decodeWith(bytes, snapshotFromJson, "snapshot"); }
Result<Membership> decodeMembership(std::string_view bytes) {
  return decodeWith(bytes, membershipFromJson, "membership");
}
Result<EventRecord> decodeEvent(std::string_view bytes) { return decodeWith(bytes, eventFromJson, "event"); }

}  // namespace berth::store::codec
