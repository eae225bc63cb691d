#include "api/validation.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <set>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/errors.hpp"
#include "common/ids.hpp"
#include "runtime/events.hpp"

namespace berth::api {

namespace {

using Json = nlohmann::json;

// Bounds that keep one request's strings sane; the body limit bounds the rest.
constexpr size_t kMaxStringBytes = 4096;
constexpr size_t kMaxCommandArgs = 256;
constexpr size_t kMaxCommandArgBytes = 64 * 1024;
constexpr size_t kMaxEnvEntries = 256;
constexpr size_t kMaxEnvValueBytes = 64 * 1024;
constexpr size_t kMaxEnvNameBytes = 256;
constexpr size_t kMaxHostnameBytes = 64;
// Megabyte values are multiplied by 2^20 on their way to the kernel.
constexpr uint64_t kMaxMegabytes = std::numeric_limits<int64_t>::max() >> 20;
constexpr uint64_t kMaxPids = std::numeric_limits<int32_t>::max();
// A project's limits: no sum of its containers' values can reach these.
constexpr uint64_t kMaxContainersLimit = 1'000'000'000;
constexpr uint64_t kMaxMillicoresLimit = uint64_t{1} << 50;

// Client-chosen names echoed in a message are cut to this length.
constexpr size_t kMaxEchoedName = 64;

std::string echoed(std::string_view name) { return std::string(name.substr(0, kMaxEchoedName)); }

// --- bodies ---

// Refuses duplicate keys at any depth, which nlohmann would silently merge.
class DuplicateKeyCheck {
 public:
  bool operator()(int /*depth*/, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        keys_.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        if (!keys_.empty()) keys_.pop_back();
        break;
      case Json::parse_event_t::key:
        if (!keys_.empty() && !keys_.back().insert(parsed.get<std::string>()).second && !duplicate_) {
          duplicate_ = parsed.get<std::string>();
        }
        break;
      default:
        break;
    }
    return true;
  }
  const std::optional<std::string>& duplicate() const { return duplicate_; }

 private:
  std::vector<std::set<std::string>> keys_;
  std::optional<std::string> duplicate_;
};

Result<Json> parseObject(std::string_view body) {
  if (body.size() > kMaxBodyBytes)
    return fail(Errc::invalid_argument, Detail::payload_too_large,
                "request body exceeds " + std::to_string(kMaxBodyBytes) + " bytes");
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return validationError("request body must be a JSON object");
  DuplicateKeyCheck duplicates;
  Json document;
  try {
    document = Json::parse(body, std::ref(duplicates));
  } catch (const Json::exception& e) {
    // nlohmann's text names the byte offset and what it expected.
    return validationError(std::string("malformed JSON body: ") + e.what());
  }
  if (duplicates.duplicate()) return validationError("duplicate field: " + echoed(*duplicates.duplicate()));
  if (!document.is_object()) return validationError("request body must be a JSON object");
  return document;
}

Result<void> rejectUnknownFields(const Json& object, std::initializer_list<std::string_view> known,
                                 std::string_view prefix = "") {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      return validationError("unknown field: " + std::string(prefix) + echoed(key));
  }
  return {};
}

const Json* field(const Json& object, std::string_view name) {
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

Result<std::string> readString(const Json& value, std::string_view name, size_t maxBytes = kMaxStringBytes) {
  if (!value.is_string()) return validationError(std::string(name) + " must be a string");
  const auto& text = value.get_ref<const std::string&>();
  if (text.size() > maxBytes)
    return validationError(std::string(name) + " must be at most " + std::to_string(maxBytes) + " bytes");
  if (text.find('\0') != std::string::npos) return validationError(std::string(name) + " must not contain NUL");
  return text;
}

Result<std::string> requireString(const Json& object, std::string_view name, size_t maxBytes = kMaxStringBytes) {
  const Json* value = field(object, name);
  if (!value) return validationError(std::string(name) + " is required");
  return readString(*value, name, maxBytes);
}

Result<bool> readBool(const Json& value, std::string_view name) {
  if (!value.is_boolean()) return validationError(std::string(name) + " must be true or false");
  return value.get<bool>();
}

Result<uint64_t> readUnsigned(const Json& value, std::string_view name, uint64_t min, uint64_t max) {
  auto outOfRange = [&] {
    return validationError(std::string(name) + " must be an integer between " + std::to_string(min) + " and " +
                           std::to_string(max));
  };
  if (value.is_number_unsigned()) {
    uint64_t number = value.get<uint64_t>();
    if (number < min || number > max) return outOfRange();
    return number;
  }
  if (value.is_number_integer()) return outOfRange();  // negative
  if (value.is_number_float()) {
    // 5.0 counts as 5; 1.5 and 1e30 are refused.
    double number = value.get<double>();
    if (std::isfinite(number) && number == std::floor(number)) {
      if (number >= 0 && number <= static_cast<double>(max) && number >= static_cast<double>(min))
        return static_cast<uint64_t>(number);
      return outOfRange();
    }
  }
  return outOfRange();
}

Result<UnixMillis> readTime(const Json& value, std::string_view name) {
  BERTH_TRY(std::string text, readString(value, name, 64));
  auto parsed = parseIsoMillis(text);
  if (!parsed) return validationError(std::string(name) + " must be an ISO-8601 UTC time like 2025-01-15T10:30:00.000Z");
  return *parsed;
}

Result<UnixMillis> readFutureTime(const Json& value, std::string_view name, UnixMillis now) {
  BERTH_TRY(UnixMillis time, readTime(value, name));
  if (time <= now) return validationError(std::string(name) + " must be in the future");
  return time;
}

// null clears; otherwise a time in the future.
Result<std::optional<UnixMillis>> readOptionalFutureTime(const Json& value, std::string_view name, UnixMillis now) {
  if (value.is_null()) return std::optional<UnixMillis>();
  BERTH_TRY(UnixMillis time, readFutureTime(value, name, now));
  return std::optional<UnixMillis>(time);
}

Result<std::string> readName(const Json& value, std::string_view name) {
  BERTH_TRY(std::string text, readString(value, name, 64));
  if (!isValidName(text)) return validationError(std::string(name) + " must be 1-64 characters of [A-Za-z0-9-]");
  return text;
}

Result<std::vector<std::string>> readCommand(const Json& value) {
  if (!value.is_array()) return validationError("command must be an array of strings");
  if (value.size() > kMaxCommandArgs)
    return validationError("command must have at most " + std::to_string(kMaxCommandArgs) + " elements");
  std::vector<std::string> command;
  for (size_t i = 0; i < value.size(); ++i) {
    BERTH_TRY(std::string arg, readString(value[i], "command[" + std::to_string(i) + "]", kMaxCommandArgBytes));
    command.push_back(std::move(arg));
  }
  if (!command.empty() && command.front().empty()) return validationError("command[0] must not be empty");
  return command;
}

bool isEnvName(std::string_view name) {
  if (name.empty() || name.size() > kMaxEnvNameBytes) return false;
  if (name.front() >= '0' && name.front() <= '9') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

Result<std::map<std::string, std::string>> readEnv(const Json& value) {
  if (!value.is_object()) return validationError("env must be an object of string values");
  if (value.size() > kMaxEnvEntries)
    return validationError("env must have at most " + std::to_string(kMaxEnvEntries) + " entries");
  std::map<std::string, std::string> env;
  for (const auto& [key, entry] : value.items()) {
    if (!isEnvName(key)) return validationError("env key " + echoed(key) + " must match [A-Za-z_][A-Za-z0-9_]*");
    BERTH_TRY(std::string text, readString(entry, "env." + key, kMaxEnvValueBytes));
    env.emplace(key, std::move(text));
  }
  return env;
}

Result<std::string> readWorkingDir(const Json& value) {
  BERTH_TRY(std::string dir, readString(value, "working_dir"));
  if (dir.empty() || dir.front() != '/') return validationError("working_dir must be an absolute path");
  // Harmless after pivot_root, but never what a client means: refuse it plainly.
  for (size_t start = 0; start <= dir.size();) {
    size_t end = dir.find('/', start);
    if (end == std::string::npos) end = dir.size();
    if (std::string_view(dir).substr(start, end - start) == "..")
      return validationError("working_dir must not contain a .. component");
    start = end + 1;
  }
  return dir;
}

Result<std::string> readHostname(const Json& value) {
  BERTH_TRY(std::string name, readString(value, "hostname", kMaxHostnameBytes));
  bool valid = !name.empty() && name.front() != '-' && name.front() != '.' &&
               std::all_of(name.begin(), name.end(), [](char c) {
                 return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                        c == '.';
               });
  if (!valid) return validationError("hostname must be 1-64 characters of [A-Za-z0-9.-], not starting with - or .");
  return name;
}

Result<std::string> readObjectId(const Json& value, std::string_view name) {
  BERTH_TRY(std::string id, readString(value, name, 64));
  if (!isObjectId(id)) return invalidIdFormat(name);
  return id;
}

// One resource limit: a positive integer, or null (no limit).
template <typename T>
Result<std::optional<T>> readLimit(const Json& object, std::string_view key, uint64_t max) {
  const Json& value = object.at(std::string(key));
  if (value.is_null()) return std::optional<T>();
  BERTH_TRY(uint64_t number, readUnsigned(value, "resources." + std::string(key), 1, max));
  return std::optional<T>(static_cast<T>(number));
}

Result<runtime::ResourcesChange> readResources(const Json& value) {
  if (!value.is_object()) return validationError("resources must be an object");
  BERTH_TRYV(rejectUnknownFields(value, {"memory_mb", "cpu_millicores", "pids_max", "disk_mb"}, "resources."));
  runtime::ResourcesChange patch;
  if (value.contains("memory_mb")) {
    BERTH_TRY(patch.memoryMb, readLimit<uint64_t>(value, "memory_mb", kMaxMegabytes));
  }
  if (value.contains("cpu_millicores")) {
    BERTH_TRY(patch.cpuMillicores, readLimit<uint32_t>(value, "cpu_millicores", std::numeric_limits<uint32_t>::max()));
  }
  if (value.contains("pids_max")) {
    BERTH_TRY(patch.pidsMax, readLimit<uint64_t>(value, "pids_max", kMaxPids));
  }
  if (value.contains("disk_mb")) {
    BERTH_TRY(patch.diskMb, readLimit<uint64_t>(value, "disk_mb", kMaxMegabytes));
  }
  return patch;
}

Result<store::RestartPolicy> readRestartPolicy(const Json& value) {
  BERTH_TRY(std::string text, readString(value, "restart_policy", 64));
  auto policy = store::parseRestartPolicy(text);
  if (!policy)
    return validationError("restart_policy must be \"no\", \"on-failure\", \"on-failure:N\" (N 1-" +
                           std::to_string(store::kMaxRestartRetries) + "), \"always\" or \"unless-stopped\"");
  return *policy;
}

// API.md §14: "uid", "uid:gid", "name" or "name:group"; the runtime resolves it in the image.
Result<std::string> readUser(const Json& value) {
  BERTH_TRY(std::string user, readString(value, "user", 256));
  if (user.empty()) return validationError("user must not be empty");
  for (char c : user) {
    if (static_cast<unsigned char>(c) < 0x20 || c == '\x7f')
      return validationError("user must not contain control characters");
  }
  return user;
}

// "0022": three or four octal digits.
Result<uint32_t> readUmask(const Json& value) {
  BERTH_TRY(std::string text, readString(value, "umask", 8));
  bool octal = text.size() >= 3 && text.size() <= 4;
  uint32_t umask = 0;
  for (char c : text) {
    octal = octal && c >= '0' && c <= '7';
    umask = umask * 8 + static_cast<uint32_t>(c - '0');
  }
  if (!octal || umask > 0777) return validationError("umask must be octal digits like \"0022\" (at most 0777)");
  return umask;
}

Result<std::string> readIsolation(const Json& value) {
  BERTH_TRY(std::string isolation, readString(value, "isolation", 64));
  if (isolation == store::kHostRoot || isolation == store::kUserNamespace) return isolation;
  return validationError("isolation must be \"host-root\" or \"user-namespace\"");
}

Result<std::string> readNetworkMode(const Json& value) {
  BERTH_TRY(std::string mode, readString(value, "network", 64));
  if (mode == "none" || mode == "bridge") return mode;
  return validationError("network must be \"none\" or \"bridge\"");
}

// API.md §11: [{"container_port", "host_port", "protocol", "host_ip"}]; the
// runtime judges what the values mean (protocol, address, duplicates).
Result<std::vector<store::PublishedPort>> readPorts(const Json& value) {
  if (!value.is_array()) return validationError("ports must be an array");
  if (value.size() > 64) return validationError("ports may publish at most 64 ports");
  std::vector<store::PublishedPort> ports;
  for (size_t i = 0; i < value.size(); ++i) {
    const Json& entry = value[i];
    std::string name = "ports[" + std::to_string(i) + "]";
    if (!entry.is_object()) return validationError(name + " must be an object");
    BERTH_TRYV(rejectUnknownFields(entry, {"container_port", "host_port", "protocol", "host_ip"}, name + "."));
    store::PublishedPort port;
    for (auto [key, out] : {std::pair{"container_port", &port.containerPort}, std::pair{"host_port", &port.hostPort}}) {
      const Json* number = field(entry, key);
      if (!number) return validationError(name + "." + key + " is required");
      BERTH_TRY(uint64_t read, readUnsigned(*number, name + "." + key, 1, 65535));
      *out = static_cast<uint16_t>(read);
    }
    if (const Json* protocol = field(entry, "protocol")) {
      BERTH_TRY(port.protocol, readString(*protocol, name + ".protocol", 16));
    }
    if (const Json* hostIp = field(entry, "host_ip")) {
      BERTH_TRY(port.hostIp, readString(*hostIp, name + ".host_ip", 64));
    }
    ports.push_back(std::move(port));
  }
  return ports;
}

Result<store::UserRole> readUserRole(const Json& value) {
  BERTH_TRY(std::string name, readString(value, "role", 64));
  auto role = store::parseRole(name);
  if (!role) return validationError("role must be one of admin, user, guest");
  return *role;
}

// --- query strings ---

Result<void> rejectUnknownParams(const QueryParams& query, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : query) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      return validationError("unknown query parameter: " + echoed(key));
  }
  return {};
}

Result<std::optional<std::string>> singleParam(const QueryParams& query, const std::string& name) {
  auto [first, last] = query.equal_range(name);
  if (first == last) return std::optional<std::string>();
  if (std::next(first) != last) return validationError("query parameter " + name + " given more than once");
  return std::optional<std::string>(first->second);
}

Result<uint64_t> parseDecimal(std::string_view text, std::string_view name, uint64_t min, uint64_t max) {
  auto bad = [&] {
    return validationError(std::string(name) + " must be an integer between " + std::to_string(min) + " and " +
                           std::to_string(max));
  };
  uint64_t value = 0;
  // Digits only: no sign, no spaces, no hex; from_chars reports overflow.
  if (text.empty() || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return bad();
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) return bad();
  return value;
}

Result<std::optional<uint64_t>> decimalParam(const QueryParams& query, const std::string& name, uint64_t min,
                                             uint64_t max) {
  BERTH_TRY(auto text, singleParam(query, name));
  if (!text) return std::optional<uint64_t>();
  BERTH_TRY(uint64_t value, parseDecimal(*text, name, min, max));
  return std::optional<uint64_t>(value);
}

Result<bool> boolParam(const QueryParams& query, const std::string& name) {
  BERTH_TRY(auto text, singleParam(query, name));
  if (!text) return false;
  if (*text == "true") return true;
  if (*text == "false") return false;
  return validationError(name + " must be true or false");
}

Result<store::PageRequest> pageParams(const QueryParams& query) {
  store::PageRequest page;
  BERTH_TRY(auto number, decimalParam(query, "page", 1, kMaxPage));
  BERTH_TRY(auto limit, decimalParam(query, "limit", 1, kMaxPageLimit));
  if (number) page.page = *number;
  if (limit) page.limit = *limit;
  return page;
}

template <typename Enum, size_t N>
std::optional<Enum> lookup(const std::pair<std::string_view, Enum> (&table)[N], std::string_view name) {
  for (const auto& [text, value] : table)
    if (text == name) return value;
  return std::nullopt;
}

constexpr std::pair<std::string_view, store::LogSortBy> kSortFields[] = {
    {"transition_time", store::LogSortBy::transition_time},
    {"created_at", store::LogSortBy::created_at},
    {"to_status", store::LogSortBy::to_status},
    {"from_status", store::LogSortBy::from_status},
};
constexpr std::pair<std::string_view, store::SortOrder> kSortOrders[] = {
    {"asc", store::SortOrder::asc},
    {"desc", store::SortOrder::desc},
};

}  // namespace

// --- query strings ---

Result<ContainerListQuery> parseContainerListQuery(const QueryParams& query, bool allowProjectId) {
  if (allowProjectId) {
    BERTH_TRYV(rejectUnknownParams(query, {"page", "limit", "status", "project_id"}));
  } else {
    BERTH_TRYV(rejectUnknownParams(query, {"page", "limit", "status"}));
  }
  ContainerListQuery parsed;
  BERTH_TRY(parsed.page, pageParams(query));
  BERTH_TRY(auto status, singleParam(query, "status"));
  if (status) {
    auto value = store::parseStatus(*status);
    // Deleted containers are never listed; asking for them is a mistake.
    if (!value || *value == store::ContainerStatus::deleted)
      return validationError("status must be one of creating, running, paused, stopped, failed, copying, expired");
    parsed.status = *value;
  }
  BERTH_TRY(auto projectId, singleParam(query, "project_id"));
  if (projectId) {
    if (!isObjectId(*projectId)) return invalidIdFormat("project_id");
    parsed.projectId = *projectId;
  }
  return parsed;
}

Result<store::LogQuery> parseStatusLogQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"page", "limit", "sort_by", "sort_order"}));
  store::LogQuery parsed;
  BERTH_TRY(parsed.page, pageParams(query));
  BERTH_TRY(auto sortBy, singleParam(query, "sort_by"));
  if (sortBy) {
    auto value = lookup(kSortFields, *sortBy);
    if (!value) return validationError("sort_by must be one of transition_time, created_at, to_status, from_status");
    parsed.sortBy = *value;
  }
  BERTH_TRY(auto order, singleParam(query, "sort_order"));
  if (order) {
    auto value = lookup(kSortOrders, *order);
    if (!value) return validationError("sort_order must be asc or desc");
    parsed.order = *value;
  }
  return parsed;
}

Result<TerminalQuery> parseTerminalQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"command", "cols", "rows", "token"}));
  TerminalQuery parsed;
  parsed.command = {"/bin/sh"};
  BERTH_TRY(auto command, singleParam(query, "command"));
  if (command) {
    Json value = Json::parse(*command, nullptr, false);
    if (value.is_discarded()) return validationError("command must be a JSON array of strings");
    BERTH_TRY(parsed.command, readCommand(value));
    if (parsed.command.empty()) return validationError("command must not be empty");
  }
  BERTH_TRY(auto cols, decimalParam(query, "cols", 1, kMaxTerminalCells));
  BERTH_TRY(auto rows, decimalParam(query, "rows", 1, kMaxTerminalCells));
  if (cols) parsed.size.cols = static_cast<uint16_t>(*cols);
  if (rows) parsed.size.rows = static_cast<uint16_t>(*rows);
  BERTH_TRYV(singleParam(query, "token"));
  return parsed;
}

Result<runtime::OperationOptions> parseOperationQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"timeout"}));
  runtime::OperationOptions options;
  BERTH_TRY(auto timeout, decimalParam(query, "timeout", 0, kMaxOperationTimeoutSeconds));
  if (timeout) options.timeout = std::chrono::seconds(*timeout);
  return options;
}

Result<DeleteOptions> parseDeleteQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"force", "keep_volume"}));
  DeleteOptions options;
  BERTH_TRY(options.force, boolParam(query, "force"));
  BERTH_TRY(options.keepVolume, boolParam(query, "keep_volume"));
  return options;
}

Result<bool> parseGetContainerQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"runtime"}));
  return boolParam(query, "runtime");
}

Result<LogsQuery> parseLogsQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"tail", "follow"}));
  LogsQuery logs;
  BERTH_TRY(auto tail, decimalParam(query, "tail", 0, kMaxLogTailLines));
  if (tail) logs.tailLines = static_cast<size_t>(*tail);
  BERTH_TRY(logs.follow, boolParam(query, "follow"));
  return logs;
}

Result<void> expectNoQuery(const QueryParams& query) { return rejectUnknownParams(query, {}); }

Result<EventsQuery> parseEventsQuery(const QueryParams& query, std::string_view lastEventIdHeader) {
  BERTH_TRYV(rejectUnknownParams(query, {"since", "container_id", "type"}));
  EventsQuery events;
  BERTH_TRY(auto since, singleParam(query, "since"));
  if (!since && !lastEventIdHeader.empty()) since = std::string(lastEventIdHeader);
  if (since) {
    // Event ids are the store's: 24 lowercase hex, like every id of the API.
    if (!isObjectId(*since)) return validationError("since (or Last-Event-ID) must be an event id: 24 lowercase hex characters");
    events.afterId = *since;
  }
  BERTH_TRY(events.containerId, singleParam(query, "container_id"));
  if (events.containerId && !isObjectId(*events.containerId)) return invalidIdFormat("container_id");
  BERTH_TRY(auto types, singleParam(query, "type"));
  if (types) {
    std::string_view rest = *types;
    for (;;) {
      std::string_view type = rest.substr(0, rest.find(','));
      if (!runtime::isEventType(type)) return validationError("unknown event type " + echoed(type));
      events.types.emplace_back(type);
      if (type.size() == rest.size()) break;
      rest.remove_prefix(type.size() + 1);
    }
  }
  return events;
}

Result<std::string> parseEnvironmentQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"env"}));
  BERTH_TRY(auto environment, singleParam(query, "env"));
  if (!environment || environment->empty() || environment->size() > 9 ||
      environment->find_first_not_of("0123456789") != std::string::npos)
    return validationError("env must be the number of an environment");
  return *environment;
}

Result<void> checkImageName(std::string_view name) {
  if (!isValidName(name)) return validationError("image name must be 1-64 characters of [A-Za-z0-9-]");
  return {};
}

Result<ImageImportQuery> parseImageImportQuery(const QueryParams& query) {
  BERTH_TRYV(rejectUnknownParams(query, {"name", "ref"}));
  BERTH_TRY(auto name, singleParam(query, "name"));
  if (!name) return validationError("query parameter name is required");
  BERTH_TRYV(checkImageName(*name));
  BERTH_TRY(auto ref, singleParam(query, "ref"));
  if (ref && (ref->empty() || ref->size() > kMaxImageRefBytes))
    return validationError("ref must be 1-" + std::to_string(kMaxImageRefBytes) + " bytes");
  return ImageImportQuery{*name, ref.value_or("")};
}

Result<std::optional<uint64_t>> parseContentLength(std::string_view header) {
  if (header.empty()) return std::optional<uint64_t>();
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(header.data(), header.data() + header.size(), value);
  if (ec != std::errc() || end != header.data() + header.size()) return validationError("malformed Content-Length");
  return std::optional<uint64_t>(value);
}

// --- path segments ---

Result<runtime::Operation> parseOperationName(std::string_view name) {
  auto op = runtime::parseOperation(name);
  if (!op) {
    return validationError("unknown operation " + echoed(name) +
                           "; expected one of start, stop, force-stop, restart, pause, resume");
  }
  return *op;
}

// --- bodies ---

Result<void> expectEmptyBody(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return {};
  BERTH_TRY(Json object, parseObject(body));
  if (!object.empty()) return validationError("this endpoint takes no request body (unknown field: " + echoed(object.begin().key()) + ")");
  return {};
}

Result<runtime::ExecRequest> parseExecBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"command", "env", "working_dir", "timeout_s"}));
  runtime::ExecRequest request;
  const Json* command = field(object, "command");
  if (!command) return validationError("command is required");
  BERTH_TRY(request.command, readCommand(*command));
  if (request.command.empty()) return validationError("command must not be empty");
  if (const Json* value = field(object, "env")) {
    BERTH_TRY(request.env, readEnv(*value));
  }
  if (const Json* value = field(object, "working_dir")) {
    BERTH_TRY(request.workingDir, readWorkingDir(*value));
  }
  uint64_t timeout = kDefaultExecTimeoutSeconds;
  if (const Json* value = field(object, "timeout_s")) {
    BERTH_TRY(timeout, readUnsigned(*value, "timeout_s", 1, kMaxExecTimeoutSeconds));
  }
  request.timeout = std::chrono::seconds(timeout);
  return request;
}

Result<runtime::TerminalSize> parseTerminalMessage(std::string_view text) {
  BERTH_TRY(Json object, parseObject(text));
  BERTH_TRYV(rejectUnknownFields(object, {"type", "cols", "rows"}));
  BERTH_TRY(std::string type, requireString(object, "type", 64));
  if (type != "resize") return validationError("type must be resize");
  const Json* cols = field(object, "cols");
  const Json* rows = field(object, "rows");
  if (!cols || !rows) return validationError("a resize needs cols and rows");
  BERTH_TRY(uint64_t width, readUnsigned(*cols, "cols", 1, kMaxTerminalCells));
  BERTH_TRY(uint64_t height, readUnsigned(*rows, "rows", 1, kMaxTerminalCells));
  return runtime::TerminalSize{static_cast<uint16_t>(width), static_cast<uint16_t>(height)};
}

Result<runtime::CreateRequest> parseCreateContainerBody(std::string_view body, UnixMillis now) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"name", "image", "command", "env", "working_dir", "hostname", "project_id",
                                          "autostart", "resources", "network", "ports", "expires_at",
                                          "restart_policy", "user", "umask", "isolation"}));
  runtime::CreateRequest request;
  const Json* name = field(object, "name");
  if (!name) return validationError("name is required");
  BERTH_TRY(request.name, readName(*name, "name"));
  if (const Json* value = field(object, "image")) {
    BERTH_TRY(request.image, readString(*value, "image", 256));
    if (request.image.empty()) return validationError("image must not be empty");
  }
  if (const Json* value = field(object, "command")) {
    BERTH_TRY(request.command, readCommand(*value));
  }
  if (const Json* value = field(object, "env")) {
    BERTH_TRY(request.env, readEnv(*value));
  }
  if (const Json* value = field(object, "working_dir")) {
    BERTH_TRY(request.workingDir, readWorkingDir(*value));
  }
  if (const Json* value = field(object, "hostname")) {
    BERTH_TRY(request.hostname, readHostname(*value));
  }
  if (const Json* value = field(object, "project_id")) {
    BERTH_TRY(request.projectId, readObjectId(*value, "project_id"));
  }
  if (const Json* value = field(object, "autostart")) {
    BERTH_TRY(request.autostart, readBool(*value, "autostart"));
  }
  if (const Json* value = field(object, "resources")) {
    BERTH_TRY(runtime::ResourcesChange patch, readResources(*value));
    request.resources = patch.applyTo({});
  }
  if (const Json* value = field(object, "network")) {
    BERTH_TRY(request.networkMode, readNetworkMode(*value));
  }
  if (const Json* value = field(object, "ports")) {
    BERTH_TRY(request.ports, readPorts(*value));
  }
  if (const Json* value = field(object, "expires_at")) {
    BERTH_TRY(request.expiresAt, readOptionalFutureTime(*value, "expires_at", now));
  }
  if (const Json* value = field(object, "restart_policy")) {
    BERTH_TRY(request.restartPolicy, readRestartPolicy(*value));
  }
  if (const Json* value = field(object, "user")) {
    BERTH_TRY(request.user, readUser(*value));
  }
  if (const Json* value = field(object, "umask")) {
    BERTH_TRY(request.umask, readUmask(*value));
  }
  if (const Json* value = field(object, "isolation")) {
    BERTH_TRY(request.isolation, readIsolation(*value));
  }
  return request;
}

Result<runtime::UpdateRequest> parseUpdateContainerBody(std::string_view body, UnixMillis now) {
  BERTH_TRY(Json object, parseObject(body));
  for (std::string_view fixed : {"image", "hostname", "project_id", "network", "isolation"}) {
    if (object.contains(fixed)) return validationError(std::string(fixed) + " cannot be changed after creation");
  }
  BERTH_TRYV(rejectUnknownFields(object,
                                 {"name", "autostart", "env", "command", "working_dir", "resources", "ports",
                                  "expires_at", "restart_policy", "user", "umask"}));
  runtime::UpdateRequest request;
  if (const Json* value = field(object, "name")) {
    BERTH_TRY(request.name, readName(*value, "name"));
  }
  if (const Json* value = field(object, "autostart")) {
    BERTH_TRY(request.autostart, readBool(*value, "autostart"));
  }
  if (const Json* value = field(object, "env")) {
    BERTH_TRY(request.env, readEnv(*value));
  }
  if (const Json* value = field(object, "command")) {
    BERTH_TRY(request.command, readCommand(*value));
  }
  if (const Json* value = field(object, "working_dir")) {
    BERTH_TRY(request.workingDir, readWorkingDir(*value));
  }
  if (const Json* value = field(object, "resources")) {
    BERTH_TRY(request.resources, readResources(*value));
  }
  if (const Json* value = field(object, "expires_at")) {
    BERTH_TRY(request.expiresAt, readOptionalFutureTime(*value, "expires_at", now));
  }
  if (const Json* value = field(object, "ports")) {
    BERTH_TRY(request.ports, readPorts(*value));
  }
  if (const Json* value = field(object, "restart_policy")) {
    BERTH_TRY(request.restartPolicy, readRestartPolicy(*value));
  }
  if (const Json* value = field(object, "user")) {
    BERTH_TRY(request.user, readUser(*value));
  }
  if (const Json* value = field(object, "umask")) {
    if (value->is_null()) {
      request.umask = std::optional<uint32_t>{};
    } else {
      BERTH_TRY(uint32_t umask, readUmask(*value));
      request.umask = std::optional<uint32_t>{umask};
    }
  }
  return request;
}

Result<runtime::UpdateRequest> parseSettingsBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"name", "memory_mb", "cpu_shares", "disk_mb"}));
  runtime::UpdateRequest request;
  if (const Json* value = field(object, "name")) {
    BERTH_TRY(request.name, readName(*value, "name"));
  }
  // The seeds' limits are plain numbers (cpu_shares in millicores); null is refused like any other type.
  auto limit = [&](const char* key, uint64_t max) -> Result<std::optional<uint64_t>> {
    const Json* value = field(object, key);
    if (!value) return std::optional<uint64_t>();
    BERTH_TRY(uint64_t number, readUnsigned(*value, key, 1, max));
    return std::optional<uint64_t>(number);
  };
  BERTH_TRY(auto memoryMb, limit("memory_mb", kMaxMegabytes));
  BERTH_TRY(auto cpuShares, limit("cpu_shares", std::numeric_limits<uint32_t>::max()));
  BERTH_TRY(auto diskMb, limit("disk_mb", kMaxMegabytes));
  if (memoryMb || cpuShares || diskMb) {
    runtime::ResourcesChange change;
    if (memoryMb) change.memoryMb = std::optional<uint64_t>(*memoryMb);
    if (cpuShares) change.cpuMillicores = std::optional<uint32_t>(static_cast<uint32_t>(*cpuShares));
    if (diskMb) change.diskMb = std::optional<uint64_t>(*diskMb);
    request.resources = change;
  }
  return request;
}

Result<Credentials> parseLoginBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"username", "password"}));
  Credentials credentials;
  BERTH_TRY(credentials.username, requireString(object, "username", 256));
  BERTH_TRY(credentials.password, requireString(object, "password", 1024));
  return credentials;
}

Result<iam::NewUser> parseNewUserBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"username", "password", "role", "guest_expires_at"}));
  iam::NewUser user;
  BERTH_TRY(user.username, requireString(object, "username", 256));
  BERTH_TRY(user.password, requireString(object, "password", 1024));
  if (const Json* value = field(object, "role")) {
    BERTH_TRY(user.role, readUserRole(*value));
  }
  if (const Json* value = field(object, "guest_expires_at"); value && !value->is_null()) {
    BERTH_TRY(user.guestExpiresAt, readTime(*value, "guest_expires_at"));
  }
  return user;
}

Result<iam::UserChange> parseUserChangeBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"password", "role", "banned", "guest_expires_at"}));
  iam::UserChange change;
  if (const Json* value = field(object, "password")) {
    BERTH_TRY(change.password, readString(*value, "password", 1024));
  }
  if (const Json* value = field(object, "role")) {
    BERTH_TRY(change.role, readUserRole(*value));
  }
  if (const Json* value = field(object, "banned")) {
    BERTH_TRY(change.banned, readBool(*value, "banned"));
  }
  if (const Json* value = field(object, "guest_expires_at")) {
    // null takes the expiry away; a past time is allowed (it ends a guest's session now).
    std::optional<UnixMillis> expiresAt;
    if (!value->is_null()) {
      BERTH_TRY(expiresAt, readTime(*value, "guest_expires_at"));
    }
    change.guestExpiresAt = expiresAt;
  }
  return change;
}

Result<std::string> parseNewProjectBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"name"}));
  const Json* name = field(object, "name");
  if (!name) return validationError("name is required");
  return readName(*name, "name");
}

Result<store::ProjectLimitOverrides> parseProjectChangeBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"limits"}));
  const Json* limits = field(object, "limits");
  if (!limits) return validationError("limits is required");
  if (!limits->is_object()) return validationError("limits must be an object");
  BERTH_TRYV(rejectUnknownFields(*limits, {"containers", "memory", "cpu", "disk"}, "limits."));
  store::ProjectLimitOverrides overrides;
  for (auto [key, out, max] : {std::tuple{"containers", &overrides.containers, kMaxContainersLimit},
                               std::tuple{"memory", &overrides.memoryMb, kMaxMegabytes},
                               std::tuple{"cpu", &overrides.cpuMillicores, kMaxMillicoresLimit},
                               std::tuple{"disk", &overrides.diskMb, kMaxMegabytes}}) {
    const Json* value = field(*limits, key);
    if (!value) continue;
    std::optional<uint64_t> limit;
    if (!value->is_null()) {
      BERTH_TRY(limit, readUnsigned(*value, std::string("limits.") + key, 0, max));
    }
    *out = limit;
  }
  return overrides;
}

Result<std::string> parseNewSnapshotBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"alias"}));
  const Json* alias = field(object, "alias");
  if (!alias) return validationError("alias is required");
  return readName(*alias, "alias");
}

Result<CopyRequest> parseCopyBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"name", "project_id"}));
  CopyRequest request;
  const Json* name = field(object, "name");
  if (!name) return validationError("name is required");
  BERTH_TRY(request.name, readName(*name, "name"));
  if (const Json* project = field(object, "project_id")) {
    BERTH_TRY(request.projectId, readObjectId(*project, "project_id"));
  }
  return request;
}

Result<void> checkSnapshotId(std::string_view id) {
  if (!isObjectId(id))
    return fail(Errc::invalid_argument, Detail::invalid_id_format, "snapshot id must be 24 lowercase hex characters");
  return {};
}

Result<NewMember> parseNewMemberBody(std::string_view body) {
  BERTH_TRY(Json object, parseObject(body));
  BERTH_TRYV(rejectUnknownFields(object, {"user_id", "role"}));
  NewMember member;
  const Json* userId = field(object, "user_id");
  if (!userId) return validationError("user_id is required");
  BERTH_TRY(member.userId, readObjectId(*userId, "user_id"));
  BERTH_TRY(std::string roleName, requireString(object, "role", 64));
  auto role = store::parseProjectRole(roleName);
  if (!role) return validationError("role must be one of viewer, operator, owner");
  member.role = *role;
  return member;
}

}  // namespace berth::api
