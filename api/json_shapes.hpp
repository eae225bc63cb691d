#pragma once
// The wire shapes of API.md §3-§6: records to JSON (snake_case keys, ISO
// times with milliseconds, null for what is absent). One function per shape,
// so every endpoint renders a container or an entry the same way.
#include <string_view>

#include <nlohmann/json.hpp>

#include "iam/accounts.hpp"
#include "runtime/manager.hpp"

namespace berth::api {

nlohmann::ordered_json containerJson(const store::ContainerRecord& record);
nlohmann::ordered_json runtimeInfoJson(const runtime::RuntimeInfo& info);
nlohmann::ordered_json statusLogEntryJson(const store::StatusLogEntry& entry);
nlohmann::ordered_json paginationJson(const store::Pagination& pagination);
// The manage-response object of API.md §4 (also the `data` of a state conflict).
nlohmann::ordered_json manageResponseJson(std::string_view operation, const store::ContainerRecord& record, bool error,
                                          std::string_view message);
// "Container started successfully"
std::string operationSuccessMessage(runtime::Operation operation);

nlohmann::ordered_json userJson(const store::UserRecord& user);
nlohmann::ordered_json projectJson(const store::ProjectRecord& project);
// The project with `limits` in force and their `usage`: {containers, memory,
// cpu, disk}, null for no limit (and a usage that one unbounded container makes unbounded).
nlohmann::ordered_json projectJson(const store::ProjectRecord& project, const runtime::ProjectQuota& quota);
nlohmann::ordered_json membershipJson(const store::Membership& membership);
// {id, container_id, alias, size_bytes, created_at}
nlohmann::ordered_json snapshotJson(const store::SnapshotRecord& snapshot);
// {name, source, size_bytes, created_at, digest, config: {command, env, working_dir}}
nlohmann::ordered_json imageJson(const runtime::ImageInfo& image);
// {id, command, terminal, state, pid, exit_code, exit_signal, stdout, stderr,
//  truncated, duration_ms, started_at, finished_at} (API.md §13)
nlohmann::ordered_json execJson(const runtime::ExecRecord& exec);

}  // namespace berth::api
