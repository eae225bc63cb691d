#include "api/json_shapes.hpp"

#include "common/clock.hpp"
#include "runtime/network.hpp"
#include "runtime/users.hpp"

namespace berth::api {

using Json = nlohmann::ordered_json;

namespace {

template <typename T>
Json orNull(const std::optional<T>& value) {
  return value ? Json(*value) : Json(nullptr);
}

Json timeOrNull(const std::optional<UnixMillis>& millis) {
  return millis ? Json(formatIsoMillis(*millis)) : Json(nullptr);
}

// API.md §11: {"mode", "ip", "gateway", "mac"}; for "none" only mode and a null ip.
Json networkJson(const runtime::NetworkView& view) {
  Json network{{"mode", view.mode}, {"ip", orNull(view.ip)}};
  if (view.gateway) network["gateway"] = *view.gateway;
  if (view.mac) network["mac"] = *view.mac;
  return network;
}

Json portsJson(const std::vector<store::PublishedPort>& ports) {
  Json list = Json::array();
  for (const store::PublishedPort& port : ports)
    list.push_back({{"container_port", port.containerPort},
                    {"host_port", port.hostPort},
                    {"protocol", port.protocol},
                    {"host_ip", port.hostIp}});
  return list;
}

Json idMapJson(const std::optional<store::IdMap>& map) {
  if (!map) return nullptr;
  return Json{{"host_uid", map->hostUid}, {"host_gid", map->hostGid}, {"size", map->size}};
}

}  // namespace

Json containerJson(const store::ContainerRecord& record) {
  return Json{
      {"id", record.id},
      {"runtime_id", record.runtimeId},
      {"name", record.name},
      {"project_id", record.projectId},
      {"owner_id", record.ownerId},
      {"image", record.image},
      {"command", record.command},
      {"env", record.env},
      {"working_dir", record.workingDir},
      // The hostname the container gets: its name unless one was given.
      {"hostname", record.hostname.empty() ? record.name : record.hostname},
      {"status", store::statusName(record.status)},
      {"exit_code", orNull(record.exitCode)},
      {"exit_signal", orNull(record.exitSignal)},
      {"oom_killed", record.oomKilled},
      {"pid", orNull(record.pid)},
      {"resources",
       {{"memory_mb", orNull(record.resources.memoryMb)},
        {"cpu_millicores", orNull(record.resources.cpuMillicores)},
        {"pids_max", orNull(record.resources.pidsMax)},
        {"disk_mb", orNull(record.resources.diskMb)}}},
      {"network", networkJson(runtime::networkViewOf(record))},
      {"ports", portsJson(record.ports)},
      // Records from before `user` run as root.
      {"user", record.user ? record.user->name : std::string("0:0")},
      {"umask", record.umask ? Json(runtime::formatUmask(*record.umask)) : Json()},
      {"isolation", record.isolation},
      {"id_map", idMapJson(record.idMap)},
      {"autostart", record.autostart},
      {"created_at", formatIsoMillis(record.createdAt)},
      {"updated_at", formatIsoMillis(record.updatedAt)},
      {"started_at", timeOrNull(record.startedAt)},
      {"finished_at", timeOrNull(record.finishedAt)},
      {"expires_at", timeOrNull(record.expiresAt)},
      {"restart_policy", store::restartPolicyName(record.restartPolicy)},
      {"restart_count", record.restartCount},
      {"next_restart_at", timeOrNull(record.restartDueAt)},
  };
}

Json runtimeInfoJson(const runtime::RuntimeInfo& info) {
  Json processes = Json::array();
  for (const auto& process : info.processes) processes.push_back({{"pid", process.pid}, {"command", process.command}});
  return Json{
      {"pid", info.pid},
      {"processes", std::move(processes)},
      {"memory_bytes", info.memoryBytes},
      {"memory_limit_bytes", info.memoryLimitBytes},
      {"cpu_usage_usec", info.cpuUsageUsec},
      {"pids_current", info.pidsCurrent},
      {"oom_kills", info.oomKills},
      {"uptime_s", info.uptimeSeconds},
      {"disk_used_bytes", orNull(info.diskUsedBytes)},
      {"disk_limit_bytes", orNull(info.diskLimitBytes)},
      {"network_rx_bytes", orNull(info.networkRxBytes)},
      {"network_tx_bytes", orNull(info.networkTxBytes)},
  };
}

Json statusLogEntryJson(const store::StatusLogEntry& entry) {
  // Metadata carries only what the transition has (API.md §5 example).
  Json metadata{{"operation", entry.metadata.operation}};
  if (entry.metadata.exitCode) metadata["exit_code"] = *entry.metadata.exitCode;
  if (entry.metadata.signal) metadata["signal"] = *entry.metadata.signal;
  if (entry.metadata.oomKilled) metadata["oom_killed"] = *entry.metadata.oomKilled;
  if (entry.metadata.reason) metadata["reason"] = *entry.metadata.reason;
  if (entry.metadata.attempt) metadata["attempt"] = *entry.metadata.attempt;
  return Json{
      {"id", entry.id},
      {"container_id", entry.containerId},
      {"from_status", store::statusName(entry.fromStatus)},
      {"to_status", store::statusName(entry.toStatus)},
      {"transition_time", formatIsoMillis(entry.transitionTime)},
      {"created_at", formatIsoMillis(entry.createdAt)},
      {"duration_ms", entry.durationMs},
      {"triggered_by", entry.triggeredBy},
      {"metadata", std::move(metadata)},
  };
}

Json paginationJson(const store::Pagination& pagination) {
  return Json{{"total", pagination.total},
              {"page", pagination.page},
              {"limit", pagination.limit},
              {"totalPages", pagination.totalPages}};
}

std::string operationSuccessMessage(runtime::Operation operation) {
  switch (operation) {
    case runtime::Operation::start: return "Container started successfully";
    case runtime::Operation::stop: return "Container stopped successfully";
    case runtime::Operation::force_stop: return "Container force-stopped successfully";
    case runtime::Operation::restart: return "Container restarted successfully";
    case runtime::Operation::pause: return "Container paused successfully";
    case runtime::Operation::resume: return "Container resumed successfully";
  }
  return "Container operation completed successfully";
}

Json manageResponseJson(std::string_view operation, const store::ContainerRecord& record, bool error,
                        std::string_view message) {
  return Json{
      {"error", error},
      {"operation", operation},
      {"container_id", record.id},
      {"project_id", record.projectId},
      {"message", message},
      {"status", store::statusName(record.status)},
  };
}

Json userJson(const store::UserRecord& user) {
  return Json{
      {"id", user.id},
      {"username", user.username},
      {"role", store::roleName(user.role)},
      {"banned", user.banned},
      {"guest_expires_at", timeOrNull(user.guestExpiresAt)},
      {"created_at", formatIsoMillis(user.createdAt)},
  };
}

Json projectJson(const store::ProjectRecord& project) {
  return Json{
      {"id", project.id},
      {"name", project.name},
      {"owner_id", project.ownerId},
      {"created_at", formatIsoMillis(project.createdAt)},
  };
}

Json projectJson(const store::ProjectRecord& project, const runtime::ProjectQuota& quota) {
  Json json = projectJson(project);
  json["limits"] = Json{{"containers", orNull(quota.limits.containers)},
                        {"memory", orNull(quota.limits.memoryMb)},
                        {"cpu", orNull(quota.limits.cpuMillicores)},
                        {"disk", orNull(quota.limits.diskMb)}};
  json["usage"] = Json{{"containers", quota.usage.containers},
                       {"memory", orNull(quota.usage.memoryMb)},
                       {"cpu", orNull(quota.usage.cpuMillicores)},
                       {"disk", orNull(quota.usage.diskMb)}};
  return json;
}

Json membershipJson(const store::Membership& membership) {
  return Json{
      {"project_id", membership.projectId},
      {"user_id", membership.userId},
      {"role", store::projectRoleName(membership.role)},
  };
}

Json snapshotJson(const store::SnapshotRecord& snapshot) {
  return Json{{"id", snapshot.id},
              {"container_id", snapshot.containerId},
              {"alias", snapshot.alias},
              {"size_bytes", snapshot.sizeBytes},
              {"created_at", formatIsoMillis(snapshot.createdAt)}};
}

Json execJson(const runtime::ExecRecord& exec) {
  return Json{{"id", exec.id},
              {"command", exec.command},
              {"terminal", exec.terminal},
              {"state", exec.running ? "running" : "exited"},
              {"pid", exec.pid},
              {"exit_code", exec.running ? Json(nullptr) : Json(exec.exitCode)},
              {"exit_signal", exec.exitSignal ? Json(*exec.exitSignal) : Json(nullptr)},
              {"stdout", exec.stdoutText},
              {"stderr", exec.stderrText},
              {"truncated", exec.truncated},
              {"duration_ms", exec.durationMs},
              {"started_at", formatIsoMillis(exec.startedAt)},
              {"finished_at", exec.finishedAt ? Json(formatIsoMillis(*exec.finishedAt)) : Json(nullptr)}};
}

Json imageJson(const runtime::ImageInfo& image) {
  // env as an object, like a container's (a later entry of a key wins, as in a process environment).
  Json env = Json::object();
  for (const auto& entry : image.config.env) {
    size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return Json{{"name", image.name},
              {"source", image.source},
              {"size_bytes", image.sizeBytes},
              {"created_at", formatIsoMillis(image.createdAt)},
              {"digest", image.digest ? Json(*image.digest) : Json(nullptr)},
              {"config",
               {{"command", image.config.command},
                {"env", std::move(env)},
                {"working_dir", image.config.workingDir.empty() ? "/" : image.config.workingDir}}}};
}

}  // namespace berth::api
