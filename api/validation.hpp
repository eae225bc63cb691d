#pragma once
// Strict parsing of request bodies and query strings into the runtime's
// request types (API.md §3-§6). Pure functions without I/O or state, so they
// are unit-tested and fuzzed (tests/fuzz/request_validation_fuzz.cpp) alone.
//
// Every refusal is Errc::invalid_argument with a message that names the field
// (detail invalid_id_format for a malformed id, payload_too_large for a body
// over kMaxBodyBytes). Bodies are JSON objects; unknown, duplicate, missing
// required and mistyped fields are refused, as are out-of-range numbers.
// Query parameters must be known to the endpoint and given at most once.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "api/http_types.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "iam/accounts.hpp"
#include "runtime/manager.hpp"

namespace berth::api {

inline constexpr size_t kMaxBodyBytes = 1u << 20;
inline constexpr uint64_t kMaxPage = 1'000'000'000;
inline constexpr uint64_t kMaxPageLimit = 100;
inline constexpr uint64_t kMaxOperationTimeoutSeconds = 3600;
inline constexpr uint64_t kMaxExecTimeoutSeconds = 3600;
inline constexpr uint64_t kDefaultExecTimeoutSeconds = 60;
inline constexpr uint64_t kMaxTerminalCells = 1000;  // columns or rows

// --- query strings ---

// GET /api/v1/containers (?page&limit&status&project_id) and, without
// project_id, GET /api/v1/projects/{id}/containers.
struct ContainerListQuery {
  store::PageRequest page;
  std::optional<store::ContainerStatus> status;
  std::optional<std::string> projectId;
};
Result<ContainerListQuery> parseContainerListQuery(const QueryParams& query, bool allowProjectId);
// ?page&limit&sort_by&sort_order
Result<store::LogQuery> parseStatusLogQuery(const QueryParams& query);
// ?timeout=0..3600 (seconds)
Result<runtime::OperationOptions> parseOperationQuery(const QueryParams& query);
struct DeleteOptions {
  bool force = false;
  bool keepVolume = false;
};
// ?force=true&keep_volume=true
Result<DeleteOptions> parseDeleteQuery(const QueryParams& query);
// ?runtime=true: whether to add runtime_info.
Result<bool> parseGetContainerQuery(const QueryParams& query);
// ?tail=0..100000&follow=true
struct LogsQuery {
  std::optional<size_t> tailLines;  // nullopt: all that is kept
  bool follow = false;
};
inline constexpr uint64_t kMaxLogTailLines = 100000;
Result<LogsQuery> parseLogsQuery(const QueryParams& query);
Result<void> expectNoQuery(const QueryParams& query);
// GET /api/v1/events[/ws]: ?since=ID&container_id=ID&type=a,b and the Last-Event-ID header (since wins).
struct EventsQuery {
  std::optional<std::string> afterId;  // replay after this event id; nullopt: live events only
  std::optional<std::string> containerId;
  std::vector<std::string> types;      // empty: every type
};
Result<EventsQuery> parseEventsQuery(const QueryParams& query, std::string_view lastEventIdHeader);
// POST /api/v1/images: ?name=NAME (1-64 of [A-Za-z0-9-], required) &ref=REF (optional, 1-256 bytes).
struct ImageImportQuery {
  std::string name;
  std::string ref;  // empty: the layout's only image
};
inline constexpr size_t kMaxImageRefBytes = 256;
Result<ImageImportQuery> parseImageImportQuery(const QueryParams& query);
// The {name} of /api/v1/images/{name}.
Result<void> checkImageName(std::string_view name);
// A body's declared Content-Length ("" when absent): nullopt when absent;
// invalid_argument when it is not a decimal.
Result<std::optional<uint64_t>> parseContentLength(std::string_view header);
// GET /api/v1/containers/{id}/terminal: ?command=<JSON array of strings>
// (default ["/bin/sh"]) &cols=1..1000&rows=1..1000 (default 80x24), and
// ?token= (read by the dispatcher, only named here).
struct TerminalQuery {
  std::vector<std::string> command;
  runtime::TerminalSize size;
};
Result<TerminalQuery> parseTerminalQuery(const QueryParams& query);
// The seed-003 dialect's query: exactly `env`, a decimal environment id.
Result<std::string> parseEnvironmentQuery(const QueryParams& query);
// PATCH /api/containers/{ref} of seeds 001/004: name, memory_mb, cpu_shares (millicores), disk_mb.
Result<runtime::UpdateRequest> parseSettingsBody(std::string_view body);

// --- path segments ---

// The {operation} of POST /api/v1/containers/{id}/{operation}.
Result<runtime::Operation> parseOperationName(std::string_view name);

// --- bodies ---

// Endpoints that take no body accept an empty one or `{}`.
Result<void> expectEmptyBody(std::string_view body);

// POST /api/v1/containers. request.projectId stays empty when project_id is
// absent (the handler puts the caller's personal project there). `now` bounds
// expires_at, which must lie in the future.
Result<runtime::CreateRequest> parseCreateContainerBody(std::string_view body, UnixMillis now);

// PATCH /api/v1/containers/{id}. `resources` changes only the limits it
// names; null removes one.
Result<runtime::UpdateRequest> parseUpdateContainerBody(std::string_view body, UnixMillis now);

struct Credentials {
  std::string username;
  std::string password;
};
// POST /api/v1/containers/{id}/exec: command (required, non-empty), env,
// working_dir, timeout_s (1..3600, default 60).
Result<runtime::ExecRequest> parseExecBody(std::string_view body);
// A terminal's text message: {"type":"resize","cols":N,"rows":M}.
Result<runtime::TerminalSize> parseTerminalMessage(std::string_view text);

// POST /api/v1/auth/login
Result<Credentials> parseLoginBody(std::string_view body);
// POST /api/v1/users
Result<iam::NewUser> parseNewUserBody(std::string_view body);
// PATCH /api/v1/users/{id}
Result<iam::UserChange> parseUserChangeBody(std::string_view body);
// POST /api/v1/projects: the project name.
Result<std::string> parseNewProjectBody(std::string_view body);
// POST /api/v1/containers/{id}/snapshots: the alias.
Result<std::string> parseNewSnapshotBody(std::string_view body);
struct CopyRequest {
  std::string name;
  std::optional<std::string> projectId;  // the source's when absent
};
// POST /api/v1/containers/{id}/copy
Result<CopyRequest> parseCopyBody(std::string_view body);
// A {sid} path segment: 24 lowercase hex, else INVALID_ID_FORMAT.
Result<void> checkSnapshotId(std::string_view id);

// PATCH /api/v1/projects/{id}: {"limits": {containers, memory, cpu, disk}},
// each a whole number or null (no limit); the set given replaces the
// project's own, a limit not named follows the configured default.
Result<store::ProjectLimitOverrides> parseProjectChangeBody(std::string_view body);

struct NewMember {
  std::string userId;
  store::ProjectRole role = store::ProjectRole::viewer;
};
// POST /api/v1/projects/{id}/members
Result<NewMember> parseNewMemberBody(std::string_view body);

}  // namespace berth::api
