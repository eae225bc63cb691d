#include "common/name_table.hpp"
#include "oci/spec.hpp"

#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <concepts>
#include <limits>
#include <nlohmann/json.hpp>
#include <type_traits>
#include <utility>

#include "common/files.hpp"

namespace berth::oci {

namespace {

using nlohmann::json;

// ---- name tables ----------------------------------------------------------


#define BERTH_NAMED(constant) {#constant, constant}
constexpr Named<int> kCapabilities[] = {
    BERTH_NAMED(CAP_CHOWN),           BERTH_NAMED(CAP_DAC_OVERRIDE),   BERTH_NAMED(CAP_DAC_READ_SEARCH),
    BERTH_NAMED(CAP_FOWNER),          BERTH_NAMED(CAP_FSETID),         BERTH_NAMED(CAP_KILL),
    BERTH_NAMED(CAP_SETGID),          BERTH_NAMED(CAP_SETUID),         BERTH_NAMED(CAP_SETPCAP),
    BERTH_NAMED(CAP_LINUX_IMMUTABLE), BERTH_NAMED(CAP_NET_BIND_SERVICE), BERTH_NAMED(CAP_NET_BROADCAST),
    BERTH_NAMED(CAP_NET_ADMIN),       BERTH_NAMED(CAP_NET_RAW),        BERTH_NAMED(CAP_IPC_LOCK),
    BERTH_NAMED(CAP_IPC_OWNER),       BERTH_NAMED(CAP_SYS_MODULE),     BERTH_NAMED(CAP_SYS_RAWIO),
    BERTH_NAMED(CAP_SYS_CHROOT),      BERTH_NAMED(CAP_SYS_PTRACE),     BERTH_NAMED(CAP_SYS_PACCT),
    BERTH_NAMED(CAP_SYS_ADMIN),       BERTH_NAMED(CAP_SYS_BOOT),       BERTH_NAMED(CAP_SYS_NICE),
    BERTH_NAMED(CAP_SYS_RESOURCE),    BERTH_NAMED(CAP_SYS_TIME),       BERTH_NAMED(CAP_SYS_TTY_CONFIG),
    BERTH_NAMED(CAP_MKNOD),           BERTH_NAMED(CAP_LEASE),          BERTH_NAMED(CAP_AUDIT_WRITE),
    BERTH_NAMED(CAP_AUDIT_CONTROL),   BERTH_NAMED(CAP_SETFCAP),        BERTH_NAMED(CAP_MAC_OVERRIDE),
    BERTH_NAMED(CAP_MAC_ADMIN),       BERTH_NAMED(CAP_SYSLOG),         BERTH_NAMED(CAP_WAKE_ALARM),
    BERTH_NAMED(CAP_BLOCK_SUSPEND),   BERTH_NAMED(CAP_AUDIT_READ),     BERTH_NAMED(CAP_PERFMON),
    BERTH_NAMED(CAP_BPF),             BERTH_NAMED(CAP_CHECKPOINT_RESTORE),
};
static_assert(std::size(kCapabilities) == CAP_LAST_CAP + 1);

constexpr Named<int> kRlimits[] = {
    BERTH_NAMED(RLIMIT_AS),         BERTH_NAMED(RLIMIT_CORE),    BERTH_NAMED(RLIMIT_CPU),
    BERTH_NAMED(RLIMIT_DATA),       BERTH_NAMED(RLIMIT_FSIZE),   BERTH_NAMED(RLIMIT_LOCKS),
    BERTH_NAMED(RLIMIT_MEMLOCK),    BERTH_NAMED(RLIMIT_MSGQUEUE), BERTH_NAMED(RLIMIT_NICE),
    BERTH_NAMED(RLIMIT_NOFILE),     BERTH_NAMED(RLIMIT_NPROC),   BERTH_NAMED(RLIMIT_RSS),
    BERTH_NAMED(RLIMIT_RTPRIO),     BERTH_NAMED(RLIMIT_RTTIME),  BERTH_NAMED(RLIMIT_SIGPENDING),
    BERTH_NAMED(RLIMIT_STACK),
};
#undef BERTH_NAMED

// runc's table (libcontainer/specconv): an option sets or clears its flag.
struct FlagOption {
  std::string_view name;
  bool clear;
  unsigned long flag;
};

constexpr FlagOption kMountFlags[] = {
    {"defaults", false, 0},
    {"ro", false, MS_RDONLY},
    {"rw", true, MS_RDONLY},
    {"nosuid", false, MS_NOSUID},
    {"suid", true, MS_NOSUID},
    {"nodev", false, MS_NODEV},
    {"dev", true, MS_NODEV},
    {"noexec", false, MS_NOEXEC},
    {"exec", true, MS_NOEXEC},
    {"sync", false, MS_SYNCHRONOUS},
    {"async", true, MS_SYNCHRONOUS},
    {"dirsync", false, MS_DIRSYNC},
    {"remount", false, MS_REMOUNT},
    {"bind", false, MS_BIND},
    {"rbind", false, MS_BIND | MS_REC},
    {"mand", false, MS_MANDLOCK},
    {"nomand", true, MS_MANDLOCK},
    {"relatime", false, MS_RELATIME},
    {"norelatime", true, MS_RELATIME},
    {"strictatime", false, MS_STRICTATIME},
    {"nostrictatime", true, MS_STRICTATIME},
    {"noatime", false, MS_NOATIME},
    {"atime", true, MS_NOATIME},
    {"nodiratime", false, MS_NODIRATIME},
    {"diratime", true, MS_NODIRATIME},
    {"iversion", false, MS_I_VERSION},
    {"noiversion", true, MS_I_VERSION},
    {"lazytime", false, MS_LAZYTIME},
    {"nolazytime", true, MS_LAZYTIME},
    {"silent", false, MS_SILENT},
    {"loud", true, MS_SILENT},
    {"nosymfollow", false, MS_NOSYMFOLLOW},
    {"symfollow", true, MS_NOSYMFOLLOW},
};

constexpr Named<unsigned long> kPropagation[] = {
    {"private", MS_PRIVATE},
    {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},
    {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},
    {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE},
    {"runbindable", MS_UNBINDABLE | MS_REC},
};

// runc's recursive options, through mount_setattr(AT_RECURSIVE).
constexpr FlagOption kRecursiveAttrs[] = {
    {"rro", false, MOUNT_ATTR_RDONLY},
    {"rrw", true, MOUNT_ATTR_RDONLY},
    {"rnosuid", false, MOUNT_ATTR_NOSUID},
    {"rsuid", true, MOUNT_ATTR_NOSUID},
    {"rnodev", false, MOUNT_ATTR_NODEV},
    {"rdev", true, MOUNT_ATTR_NODEV},
    {"rnoexec", false, MOUNT_ATTR_NOEXEC},
    {"rexec", true, MOUNT_ATTR_NOEXEC},
    {"rnodiratime", false, MOUNT_ATTR_NODIRATIME},
    {"rdiratime", true, MOUNT_ATTR_NODIRATIME},
    {"rrelatime", false, MOUNT_ATTR_RELATIME},
    {"rnorelatime", true, MOUNT_ATTR_RELATIME},
    {"rnoatime", false, MOUNT_ATTR_NOATIME},
    {"ratime", true, MOUNT_ATTR_NOATIME},
    {"rstrictatime", false, MOUNT_ATTR_STRICTATIME},
    {"rnostrictatime", true, MOUNT_ATTR_STRICTATIME},
    {"rnosymfollow", false, MOUNT_ATTR_NOSYMFOLLOW},
    {"rsymfollow", true, MOUNT_ATTR_NOSYMFOLLOW},
};

const FlagOption* findOption(const auto& table, std::string_view name) {
  for (const FlagOption& option : table) {
    if (option.name == name) return &option;
  }
  return nullptr;
}

constexpr Named<NamespaceType> kNamespaces[] = {
    {"pid", NamespaceType::pid}, {"network", NamespaceType::network}, {"mount", NamespaceType::mount},
    {"ipc", NamespaceType::ipc}, {"uts", NamespaceType::uts},         {"user", NamespaceType::user},
    {"cgroup", NamespaceType::cgroup}, {"time", NamespaceType::time},
};

constexpr std::uint64_t kDefaultCpuPeriodUsec = 100000;

// ---- reading JSON with paths ---------------------------------------------

tl::unexpected<Error> bad(const std::string& path, const std::string& message) {
  return fail(Errc::invalid_argument, path + ": " + message);
}

std::string memberPath(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string elementPath(const std::string& path, std::size_t index) {
  return path + "[" + std::to_string(index) + "]";
}

std::string quote(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

tl::unexpected<Error> wrongType(const json& value, const std::string& path, std::string_view expected) {
  return bad(path, "expected " + std::string(expected) + ", got " + value.type_name());
}

bool isAbsolute(std::string_view path) { return !path.empty() && path.front() == '/'; }

// The field, or nullptr when absent or null (null reads as absent, as in
// the Go runtimes).
const json* find(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<void> expectObject(const json& value, const std::string& path) {
  if (!value.is_object()) return wrongType(value, path, "an object");
  return {};
}

// One overload per destination type; the templates below combine them.
Result<void> read(const json& value, const std::string& path, bool& out);
Result<void> read(const json& value, const std::string& path, std::string& out);
Result<void> read(const json& value, const std::string& path, std::map<std::string, std::string>& out);
template <std::integral T>
  requires(!std::same_as<T, bool>)
Result<void> read(const json& value, const std::string& path, T& out);
template <typename T>
Result<void> read(const json& value, const std::string& path, std::optional<T>& out);
template <typename T>
Result<void> read(const json& value, const std::string& path, std::vector<T>& out);
Result<void> read(const json& value, const std::string& path, User& out);
Result<void> read(const json& value, const std::string& path, ConsoleSize& out);
Result<void> read(const json& value, const std::string& path, Rlimit& out);
Result<void> read(const json& value, const std::string& path, Mount& out);
Result<void> read(const json& value, const std::string& path, IdMapping& out);
Result<void> read(const json& value, const std::string& path, DeviceRule& out);
Result<void> read(const json& value, const std::string& path, Device& out);
Result<void> read(const json& value, const std::string& path, Hook& out);
Result<void> read(const json& value, const std::string& path, ns::SeccompArg& out);
Result<void> read(const json& value, const std::string& path, ns::SeccompRule& out);

// An optional field: left as it was when absent.
template <typename T>
Result<void> field(const json& object, const char* key, const std::string& path, T& out) {
  const json* value = find(object, key);
  if (value == nullptr) return {};
  return read(*value, memberPath(path, key), out);
}

template <typename T>
Result<void> requiredField(const json& object, const char* key, const std::string& path, T& out) {
  const json* value = find(object, key);
  if (value == nullptr) return bad(memberPath(path, key), "is required");
  return read(*value, memberPath(path, key), out);
}

Result<void> read(const json& value, const std::string& path, bool& out) {
  if (!value.is_boolean()) return wrongType(value, path, "a boolean");
  out = value.get<bool>();
  return {};
}

Result<void> read(const json& value, const std::string& path, std::string& out) {
  if (!value.is_string()) return wrongType(value, path, "a string");
  out = value.get<std::string>();
  return {};
}

Result<void> read(const json& value, const std::string& path, std::map<std::string, std::string>& out) {
  BERTH_TRYV(expectObject(value, path));
  out.clear();
  for (const auto& [key, item] : value.items()) {
    BERTH_TRYV(read(item, path + "[" + quote(key) + "]", out[key]));
  }
  return {};
}

template <std::integral T>
  requires(!std::same_as<T, bool>)
Result<void> read(const json& value, const std::string& path, T& out) {
  using Limits = std::numeric_limits<T>;
  const auto range = [&] {
    return "an integer in " + std::to_string(Limits::min()) + ".." + std::to_string(Limits::max());
  };
  if (value.is_number_float()) return bad(path, "expected " + range() + ", got " + value.dump());
  if (!value.is_number_integer()) return wrongType(value, path, range());
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number > static_cast<std::uint64_t>(Limits::max()))
      return bad(path, "expected " + range() + ", got " + std::to_string(number));
    out = static_cast<T>(number);
    return {};
  }
  const auto number = value.get<std::int64_t>();
  if (number < 0 && (std::is_unsigned_v<T> || number < static_cast<std::int64_t>(Limits::min())))
    return bad(path, "expected " + range() + ", got " + std::to_string(number));
  if (number >= 0 && static_cast<std::uint64_t>(number) > static_cast<std::uint64_t>(Limits::max()))
    return bad(path, "expected " + range() + ", got " + std::to_string(number));
  out = static_cast<T>(number);
  return {};
}

template <typename T>
Result<void> read(const json& value, const std::string& path, std::optional<T>& out) {
  T parsed{};
  BERTH_TRYV(read(value, path, parsed));
  out = std::move(parsed);
  return {};
}

template <typename T>
Result<void> read(const json& value, const std::string& path, std::vector<T>& out) {
  if (!value.is_array()) return wrongType(value, path, "an array");
  out.clear();
  out.reserve(value.size());
  for (std::size_t i = 0; i < value.size(); ++i) {
    T item{};
    BERTH_TRYV(read(value[i], elementPath(path, i), item));
    out.push_back(std::move(item));
  }
  return {};
}

// A list of names, each resolved by `resolve` (nullopt: unknown).
template <typename Resolve>
Result<void> readNames(const json& object, const char* key, const std::string& path, std::string_view what,
                       Resolve resolve, auto&& each) {
  std::vector<std::string> names;
  BERTH_TRYV(field(object, key, path, names));
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto resolved = resolve(names[i]);
    if (!resolved) return bad(elementPath(memberPath(path, key), i), "unknown " + std::string(what) + " " + names[i]);
    each(*resolved);
  }
  return {};
}

// ---- process --------------------------------------------------------------

Result<void> read(const json& value, const std::string& path, User& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "uid", path, out.uid));
  BERTH_TRYV(requiredField(value, "gid", path, out.gid));
  BERTH_TRYV(field(value, "umask", path, out.umask));
  BERTH_TRYV(field(value, "additionalGids", path, out.additionalGids));
  return {};
}

Result<void> read(const json& value, const std::string& path, ConsoleSize& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "height", path, out.height));
  BERTH_TRYV(requiredField(value, "width", path, out.width));
  return {};
}

Result<void> read(const json& value, const std::string& path, Rlimit& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "type", path, out.type));
  auto resource = rlimitFromName(out.type);
  if (!resource) return bad(memberPath(path, "type"), "unknown rlimit " + out.type);
  out.resource = *resource;
  BERTH_TRYV(requiredField(value, "hard", path, out.hard));
  BERTH_TRYV(requiredField(value, "soft", path, out.soft));
  if (out.soft > out.hard)
    return bad(path, "soft limit " + std::to_string(out.soft) + " is above the hard limit " + std::to_string(out.hard));
  return {};
}

Result<Capabilities> parseCapabilities(const json& value, const std::string& path) {
  BERTH_TRYV(expectObject(value, path));
  Capabilities caps;
  const std::pair<const char*, std::uint64_t*> sets[] = {{"bounding", &caps.bounding},
                                                         {"effective", &caps.effective},
                                                         {"inheritable", &caps.inheritable},
                                                         {"permitted", &caps.permitted},
                                                         {"ambient", &caps.ambient}};
  for (const auto& [key, mask] : sets) {
    BERTH_TRYV(readNames(value, key, path, "capability", capabilityFromName,
                         [mask = mask](int cap) { *mask |= std::uint64_t{1} << cap; }));
  }
  return caps;
}

Result<Process> parseProcess(const json& value, const std::string& path) {
  BERTH_TRYV(expectObject(value, path));
  Process process;
  BERTH_TRYV(field(value, "terminal", path, process.terminal));
  BERTH_TRYV(field(value, "consoleSize", path, process.consoleSize));
  BERTH_TRYV(requiredField(value, "user", path, process.user));
  BERTH_TRYV(requiredField(value, "args", path, process.args));
  if (process.args.empty()) return bad(memberPath(path, "args"), "must not be empty");
  BERTH_TRYV(field(value, "env", path, process.env));
  BERTH_TRYV(requiredField(value, "cwd", path, process.cwd));
  if (!isAbsolute(process.cwd)) return bad(memberPath(path, "cwd"), "must be absolute, got " + quote(process.cwd));
  if (const json* caps = find(value, "capabilities")) {
    BERTH_TRY(process.capabilities, parseCapabilities(*caps, memberPath(path, "capabilities")));
  }
  BERTH_TRYV(field(value, "rlimits", path, process.rlimits));
  for (std::size_t i = 0; i < process.rlimits.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (process.rlimits[j].type == process.rlimits[i].type)
        return bad(elementPath(memberPath(path, "rlimits"), i), "duplicate rlimit " + process.rlimits[i].type);
    }
  }
  BERTH_TRYV(field(value, "noNewPrivileges", path, process.noNewPrivileges));
  BERTH_TRYV(field(value, "oomScoreAdj", path, process.oomScoreAdj));
  if (process.oomScoreAdj && (*process.oomScoreAdj < -1000 || *process.oomScoreAdj > 1000))
    return bad(memberPath(path, "oomScoreAdj"), "must be in -1000..1000, got " + std::to_string(*process.oomScoreAdj));
  BERTH_TRYV(field(value, "apparmorProfile", path, process.apparmorProfile));
  BERTH_TRYV(field(value, "selinuxLabel", path, process.selinuxLabel));
  return process;
}

// ---- root, mounts ---------------------------------------------------------

Result<Root> parseRoot(const json& value, const std::string& path) {
  BERTH_TRYV(expectObject(value, path));
  Root root;
  BERTH_TRYV(requiredField(value, "path", path, root.path));
  if (root.path.empty()) return bad(memberPath(path, "path"), "must not be empty");
  BERTH_TRYV(field(value, "readonly", path, root.readonly));
  return root;
}

Result<void> read(const json& value, const std::string& path, Mount& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "destination", path, out.destination));
  if (!isAbsolute(out.destination))
    return bad(memberPath(path, "destination"), "must be absolute, got " + quote(out.destination));
  BERTH_TRYV(field(value, "type", path, out.type));
  BERTH_TRYV(field(value, "source", path, out.source));
  BERTH_TRYV(field(value, "options", path, out.options));
  out.parsed = translateMountOptions(out.options);
  return {};
}

// ---- linux ----------------------------------------------------------------

Result<std::vector<Namespace>> parseNamespaces(const json& value, const std::string& path) {
  if (!value.is_array()) return wrongType(value, path, "an array");
  std::vector<Namespace> namespaces;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string itemPath = elementPath(path, i);
    const json& item = value[i];
    BERTH_TRYV(expectObject(item, itemPath));
    std::string name;
    BERTH_TRYV(requiredField(item, "type", itemPath, name));
    auto type = namespaceTypeFromName(name);
    if (!type) return bad(memberPath(itemPath, "type"), "unknown namespace type " + quote(name));
    for (const Namespace& earlier : namespaces) {
      if (earlier.type == *type) return bad(memberPath(itemPath, "type"), "duplicate namespace " + name);
    }
    Namespace entry{*type, {}};
    BERTH_TRYV(field(item, "path", itemPath, entry.path));
    if (!entry.path.empty() && !isAbsolute(entry.path))
      return bad(memberPath(itemPath, "path"), "must be absolute, got " + quote(entry.path));
    namespaces.push_back(std::move(entry));
  }
  return namespaces;
}

Result<void> read(const json& value, const std::string& path, IdMapping& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "containerID", path, out.containerID));
  BERTH_TRYV(requiredField(value, "hostID", path, out.hostID));
  BERTH_TRYV(requiredField(value, "size", path, out.size));
  if (out.size == 0) return bad(memberPath(path, "size"), "must not be 0");
  return {};
}

Result<void> read(const json& value, const std::string& path, DeviceRule& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "allow", path, out.allow));
  BERTH_TRYV(field(value, "type", path, out.type));
  if (!out.type.empty() && out.type != "a" && out.type != "c" && out.type != "b")
    return bad(memberPath(path, "type"), "expected \"a\", \"c\" or \"b\", got " + quote(out.type));
  BERTH_TRYV(field(value, "major", path, out.major));
  BERTH_TRYV(field(value, "minor", path, out.minor));
  for (const auto& [name, number] : {std::pair{"major", out.major}, std::pair{"minor", out.minor}}) {
    if (number && (*number < -1 || *number > std::numeric_limits<std::uint32_t>::max()))
      return bad(memberPath(path, name), "expected -1 (any) or a device number, got " + std::to_string(*number));
  }
  BERTH_TRYV(field(value, "access", path, out.access));
  if (out.access.find_first_not_of("rwm") != std::string::npos)
    return bad(memberPath(path, "access"), "expected some of \"rwm\", got " + quote(out.access));
  return {};
}

Result<Resources> parseResources(const json& value, const std::string& path) {
  BERTH_TRYV(expectObject(value, path));
  Resources resources;
  BERTH_TRYV(field(value, "devices", path, resources.devices));
  if (const json* memory = find(value, "memory")) {
    const std::string at = memberPath(path, "memory");
    BERTH_TRYV(expectObject(*memory, at));
    MemoryResources& out = resources.memory;
    BERTH_TRYV(field(*memory, "limit", at, out.limit));
    BERTH_TRYV(field(*memory, "reservation", at, out.reservation));
    BERTH_TRYV(field(*memory, "swap", at, out.swap));
    BERTH_TRYV(field(*memory, "swappiness", at, out.swappiness));
    BERTH_TRYV(field(*memory, "disableOOMKiller", at, out.disableOOMKiller));
  }
  if (const json* cpu = find(value, "cpu")) {
    const std::string at = memberPath(path, "cpu");
    BERTH_TRYV(expectObject(*cpu, at));
    CpuResources& out = resources.cpu;
    BERTH_TRYV(field(*cpu, "shares", at, out.shares));
    BERTH_TRYV(field(*cpu, "quota", at, out.quota));
    BERTH_TRYV(field(*cpu, "period", at, out.period));
    BERTH_TRYV(field(*cpu, "realtimeRuntime", at, out.realtimeRuntime));
    BERTH_TRYV(field(*cpu, "realtimePeriod", at, out.realtimePeriod));
    BERTH_TRYV(field(*cpu, "cpus", at, out.cpus));
    BERTH_TRYV(field(*cpu, "mems", at, out.mems));
  }
  if (const json* pids = find(value, "pids")) {
    const std::string at = memberPath(path, "pids");
    BERTH_TRYV(expectObject(*pids, at));
    std::int64_t limit = 0;
    BERTH_TRYV(requiredField(*pids, "limit", at, limit));
    resources.pids.limit = limit;
  }
  BERTH_TRYV(field(value, "unified", path, resources.unified));
  return resources;
}

Result<void> read(const json& value, const std::string& path, Device& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "path", path, out.path));
  if (!isAbsolute(out.path)) return bad(memberPath(path, "path"), "must be absolute, got " + quote(out.path));
  std::string type;
  BERTH_TRYV(requiredField(value, "type", path, type));
  if (type != "c" && type != "b" && type != "u" && type != "p")
    return bad(memberPath(path, "type"), "expected \"c\", \"b\", \"u\" or \"p\", got " + quote(type));
  out.type = type.front();
  if (out.type == 'p') {
    BERTH_TRYV(field(value, "major", path, out.major));
    BERTH_TRYV(field(value, "minor", path, out.minor));
  } else {
    BERTH_TRYV(requiredField(value, "major", path, out.major));
    BERTH_TRYV(requiredField(value, "minor", path, out.minor));
  }
  BERTH_TRYV(field(value, "fileMode", path, out.fileMode));
  BERTH_TRYV(field(value, "uid", path, out.uid));
  BERTH_TRYV(field(value, "gid", path, out.gid));
  return {};
}

Result<void> read(const json& value, const std::string& path, ns::SeccompArg& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "index", path, out.index));
  if (out.index > 5) return bad(memberPath(path, "index"), "must be in 0..5, got " + std::to_string(out.index));
  BERTH_TRYV(requiredField(value, "value", path, out.value));
  BERTH_TRYV(field(value, "valueTwo", path, out.valueTwo));
  std::string op;
  BERTH_TRYV(requiredField(value, "op", path, op));
  auto parsed = ns::seccompOpFromName(op);
  if (!parsed) return bad(memberPath(path, "op"), "unknown seccomp operator " + op);
  out.op = *parsed;
  return {};
}

Result<ns::SeccompAction> seccompAction(const json& object, const char* key, const std::string& path) {
  std::string name;
  BERTH_TRYV(requiredField(object, key, path, name));
  auto action = ns::seccompActionFromName(name);
  if (!action) return bad(memberPath(path, key), "unknown seccomp action " + name);
  return *action;
}

Result<void> read(const json& value, const std::string& path, ns::SeccompRule& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "names", path, out.names));
  if (out.names.empty()) return bad(memberPath(path, "names"), "must not be empty");
  BERTH_TRY(out.action, seccompAction(value, "action", path));
  BERTH_TRYV(field(value, "errnoRet", path, out.errnoRet));
  BERTH_TRYV(field(value, "args", path, out.args));
  return {};
}

Result<ns::SeccompProfile> parseSeccomp(const json& value, const std::string& path) {
  BERTH_TRYV(expectObject(value, path));
  ns::SeccompProfile profile;
  BERTH_TRY(profile.defaultAction, seccompAction(value, "defaultAction", path));
  BERTH_TRYV(field(value, "defaultErrnoRet", path, profile.defaultErrnoRet));
  BERTH_TRYV(readNames(value, "architectures", path, "seccomp architecture", ns::seccompArchFromName,
                       [&](ns::SeccompArch arch) { profile.architectures.push_back(arch); }));
  BERTH_TRYV(readNames(value, "flags", path, "seccomp flag", ns::seccompFilterFlagFromName,
                       [&](unsigned flag) { profile.filterFlags |= flag; }));
  std::string ignored;  // listenerPath and listenerMetadata serve SCMP_ACT_NOTIFY only
  BERTH_TRYV(field(value, "listenerPath", path, ignored));
  BERTH_TRYV(field(value, "listenerMetadata", path, ignored));
  BERTH_TRYV(field(value, "syscalls", path, profile.syscalls));
  return profile;
}

Result<Linux> parseLinux(const json& value, const std::string& path, const ParseOptions& options) {
  BERTH_TRYV(expectObject(value, path));
  Linux out;
  if (const json* namespaces = find(value, "namespaces")) {
    BERTH_TRY(out.namespaces, parseNamespaces(*namespaces, memberPath(path, "namespaces")));
  }
  BERTH_TRYV(field(value, "uidMappings", path, out.uidMappings));
  BERTH_TRYV(field(value, "gidMappings", path, out.gidMappings));
  if (!out.hasNamespace(NamespaceType::user)) {
    if (!out.uidMappings.empty()) return bad(memberPath(path, "uidMappings"), "needs a user namespace");
    if (!out.gidMappings.empty()) return bad(memberPath(path, "gidMappings"), "needs a user namespace");
  }
  if (const json* resources = find(value, "resources")) {
    BERTH_TRY(out.resources, parseResources(*resources, memberPath(path, "resources")));
  }
  BERTH_TRYV(field(value, "cgroupsPath", path, out.cgroupsPath));
  BERTH_TRY(out.cgroups, withContext(parseCgroupsPath(out.cgroupsPath, options.systemdCgroup),
                                     memberPath(path, "cgroupsPath")));
  BERTH_TRYV(field(value, "maskedPaths", path, out.maskedPaths));
  BERTH_TRYV(field(value, "readonlyPaths", path, out.readonlyPaths));
  const std::pair<const char*, const std::vector<std::string>*> pathLists[] = {{"maskedPaths", &out.maskedPaths},
                                                                                {"readonlyPaths", &out.readonlyPaths}};
  for (const auto& [key, list] : pathLists) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (!isAbsolute((*list)[i]))
        return bad(elementPath(memberPath(path, key), i), "must be absolute, got " + quote((*list)[i]));
    }
  }
  BERTH_TRYV(field(value, "sysctl", path, out.sysctl));
  if (const json* seccomp = find(value, "seccomp")) {
    BERTH_TRY(out.seccomp, parseSeccomp(*seccomp, memberPath(path, "seccomp")));
  }
  BERTH_TRYV(field(value, "devices", path, out.devices));
  std::string propagation;
  BERTH_TRYV(field(value, "rootfsPropagation", path, propagation));
  if (!propagation.empty()) {
    auto flags = lookUp(kPropagation, propagation);
    if (!flags) return bad(memberPath(path, "rootfsPropagation"), "unknown propagation " + quote(propagation));
    out.rootfsPropagation = *flags;
  }
  std::string ignored;
  BERTH_TRYV(field(value, "mountLabel", path, ignored));
  return out;
}

// ---- hooks ----------------------------------------------------------------

Result<void> read(const json& value, const std::string& path, Hook& out) {
  BERTH_TRYV(expectObject(value, path));
  BERTH_TRYV(requiredField(value, "path", path, out.path));
  if (!isAbsolute(out.path)) return bad(memberPath(path, "path"), "must be absolute, got " + quote(out.path));
  BERTH_TRYV(field(value, "args", path, out.args));
  BERTH_TRYV(field(value, "env", path, out.env));
  BERTH_TRYV(field(value, "timeout", path, out.timeout));
  if (out.timeout && *out.timeout <= 0)
    return bad(memberPath(path, "timeout"), "must be above 0, got " + std::to_string(*out.timeout));
  return {};
}

Result<Hooks> parseHooks(const json& value, const std::string& path) {
  BERTH_TRYV(expectObject(value, path));
  Hooks hooks;
  BERTH_TRYV(field(value, "prestart", path, hooks.prestart));
  BERTH_TRYV(field(value, "createRuntime", path, hooks.createRuntime));
  BERTH_TRYV(field(value, "createContainer", path, hooks.createContainer));
  BERTH_TRYV(field(value, "startContainer", path, hooks.startContainer));
  BERTH_TRYV(field(value, "poststart", path, hooks.poststart));
  BERTH_TRYV(field(value, "poststop", path, hooks.poststop));
  return hooks;
}

// ---- paths ----------------------------------------------------------------

// Lexical clean, as Go's filepath.Clean: no ".", no empty components, ".."
// removes the component before it (at the root, nothing).
std::string cleanPath(std::string_view path) {
  const bool absolute = isAbsolute(path);
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!absolute) {
        parts.push_back(part);
      }
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string out = absolute ? "/" : "";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

Result<std::string> absoluteDir(const std::string& dir) {
  if (isAbsolute(dir)) return cleanPath(dir);
  char buffer[4096];
  if (::getcwd(buffer, sizeof buffer) == nullptr) return sysFail("getcwd");
  return cleanPath(std::string(buffer) + "/" + dir);
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t end = text.find(separator, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

// ---- public ---------------------------------------------------------------

MountOptions translateMountOptions(const std::vector<std::string>& options) {
  MountOptions out;
  for (const std::string& option : options) {
    if (option.empty()) continue;
    if (const FlagOption* flag = findOption(kMountFlags, option)) {
      if (flag->clear) {
        out.flags &= ~flag->flag;
      } else {
        out.flags |= flag->flag;
      }
    } else if (auto propagation = lookUp(kPropagation, option)) {
      out.propagation = *propagation;  // one propagation type per mount(2): the last wins
    } else if (const FlagOption* attr = findOption(kRecursiveAttrs, option)) {
      if (attr->clear) {
        out.attrClear |= attr->flag;
        out.attrSet &= ~attr->flag;
      } else if ((attr->flag & MOUNT_ATTR__ATIME) == attr->flag) {
        // An atime mode replaces the current one: mount_setattr(2) wants
        // MOUNT_ATTR__ATIME cleared along with the mode set.
        out.attrSet = (out.attrSet & ~std::uint64_t{MOUNT_ATTR__ATIME}) | attr->flag;
        out.attrClear |= MOUNT_ATTR__ATIME;
      } else {
        out.attrSet |= attr->flag;
        out.attrClear &= ~attr->flag;
      }
    } else if (option == "tmpcopyup") {
      out.tmpcopyup = true;
    } else {
      if (!out.data.empty()) out.data += ',';
      out.data += option;
    }
  }
  return out;
}

bool Mount::isBind() const { return (parsed.flags & MS_BIND) != 0 || type == "bind"; }

std::optional<NamespaceType> namespaceTypeFromName(std::string_view name) { return lookUp(kNamespaces, name); }

std::string_view namespaceTypeName(NamespaceType type) {
  for (const auto& entry : kNamespaces) {
    if (entry.value == type) return entry.name;
  }
  return "unknown";
}

int cloneFlagOf(NamespaceType type) {
  switch (type) {
    case NamespaceType::pid: return CLONE_NEWPID;
    case NamespaceType::network: return CLONE_NEWNET;
    case NamespaceType::mount: return CLONE_NEWNS;
    case NamespaceType::ipc: return CLONE_NEWIPC;
    case NamespaceType::uts: return CLONE_NEWUTS;
    case NamespaceType::user: return CLONE_NEWUSER;
    case NamespaceType::cgroup: return CLONE_NEWCGROUP;
    case NamespaceType::time: return CLONE_NEWTIME;
  }
  return 0;
}

bool Linux::hasNamespace(NamespaceType type) const { return findNamespace(type) != nullptr; }

const Namespace* Linux::findNamespace(NamespaceType type) const {
  for (const Namespace& entry : namespaces) {
    if (entry.type == type) return &entry;
  }
  return nullptr;
}

cgroup::Limits limitsOf(const Resources& resources) {
  cgroup::Limits limits;
  if (const auto& memory = resources.memory.limit; memory && *memory != 0) {
    limits.memoryBytes = *memory < 0 ? 0 : static_cast<std::uint64_t>(*memory);
  }
  if (const auto& quota = resources.cpu.quota) {
    if (*quota <= 0) {
      limits.cpuMillicores = 0;
    } else {
      const std::uint64_t given = resources.cpu.period.value_or(0);
      const std::uint64_t period = given == 0 ? kDefaultCpuPeriodUsec : given;
      const auto usec = static_cast<std::uint64_t>(*quota);
      constexpr std::uint64_t kMax = std::numeric_limits<std::uint32_t>::max();
      const std::uint64_t whole = usec / period;  // whole cpus
      const std::uint64_t rest = usec % period;
      std::uint64_t millicores = kMax;
      if (whole <= kMax / 1000) {
        // ceil(rest * 1000 / period) without overflow; rest < period.
        const std::uint64_t part = period <= std::numeric_limits<std::uint64_t>::max() / 1000
                                       ? (rest * 1000 + period - 1) / period
                                       : (rest == 0 ? 0 : rest / (period / 1000) + 1);
        millicores = std::min(kMax, whole * 1000 + part);
      }
      limits.cpuMillicores = static_cast<std::uint32_t>(std::max<std::uint64_t>(millicores, 1));
    }
  }
  if (const auto& pids = resources.pids.limit; pids && *pids != 0) {
    limits.pidsMax = *pids < 0 ? 0 : static_cast<std::uint64_t>(*pids);
  }
  return limits;
}

std::vector<cgroup::DeviceRule> deviceRulesOf(const Resources& resources) {
  std::vector<cgroup::DeviceRule> rules;
  auto number = [](const std::optional<std::int64_t>& given) -> std::optional<std::uint32_t> {
    if (!given || *given < 0) return std::nullopt;  // -1: any, as unset
    return static_cast<std::uint32_t>(*given);
  };
  for (const DeviceRule& rule : resources.devices) {
    cgroup::DeviceRule out{.allow = rule.allow, .type = rule.type.empty() ? 'a' : rule.type[0]};
    out.major = number(rule.major);
    out.minor = number(rule.minor);
    out.access = 0;
    for (char letter : rule.access.empty() ? std::string("rwm") : rule.access)
      out.access |= letter == 'r' ? cgroup::kDeviceRead : letter == 'w' ? cgroup::kDeviceWrite : cgroup::kDeviceMknod;
    rules.push_back(out);
  }
  const std::vector<cgroup::DeviceRule>& defaults = cgroup::defaultDeviceRules();
  rules.insert(rules.end(), defaults.begin(), defaults.end());
  return rules;
}

std::string CgroupsPath::unitName() const {
  if (name.ends_with(".slice")) return name;
  return prefix.empty() ? name + ".scope" : prefix + "-" + name + ".scope";
}

Result<CgroupsPath> parseCgroupsPath(std::string_view text, bool systemd) {
  CgroupsPath out;
  out.systemd = systemd;
  if (text.empty()) return out;
  const std::string shown = quote(text);
  if (systemd) {
    const auto parts = split(text, ':');
    if (parts.size() != 3) return fail(Errc::invalid_argument, shown + " is not of the form slice:prefix:name");
    if (text.find('/') != std::string_view::npos)
      return fail(Errc::invalid_argument, shown + ": a systemd cgroups path holds no '/'");
    out.slice = parts[0];
    out.prefix = parts[1];
    out.name = parts[2];
    if (!out.slice.empty() && !out.slice.ends_with(".slice"))
      return fail(Errc::invalid_argument, shown + ": the slice " + quote(out.slice) + " does not end in .slice");
    if (out.name.empty()) return fail(Errc::invalid_argument, shown + ": the name is empty");
    out.path = std::string(text);
    return out;
  }
  out.absolute = isAbsolute(text);
  std::string path;
  for (std::string_view part : split(text, '/')) {
    if (part.empty()) continue;
    if (part == "." || part == "..")
      return fail(Errc::invalid_argument, shown + ": " + quote(part) + " is not allowed in a cgroups path");
    if (!path.empty()) path += '/';
    path += part;
  }
  if (path.empty()) return fail(Errc::invalid_argument, shown + " names the root cgroup");
  out.path = out.absolute ? "/" + path : std::move(path);
  return out;
}

std::optional<int> capabilityFromName(std::string_view name) { return lookUp(kCapabilities, name); }

std::optional<int> rlimitFromName(std::string_view name) { return lookUp(kRlimits, name); }

Result<Spec> parseSpec(std::string_view configJson, const ParseOptions& options) {
  json doc = json::parse(configJson, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return fail(Errc::invalid_argument, "config.json is not valid JSON");
  if (!doc.is_object()) return wrongType(doc, "config.json", "an object");
  try {
    Spec spec;
    BERTH_TRYV(requiredField(doc, "ociVersion", "", spec.ociVersion));
    if (!spec.ociVersion.starts_with("1."))
      return bad("ociVersion", "unsupported version " + quote(spec.ociVersion) + " (berth reads 1.x)");
    const json* process = find(doc, "process");
    if (process == nullptr) return bad("process", "is required");
    BERTH_TRY(spec.process, parseProcess(*process, "process"));
    const json* root = find(doc, "root");
    if (root == nullptr) return bad("root", "is required");
    BERTH_TRY(spec.root, parseRoot(*root, "root"));
    BERTH_TRYV(field(doc, "hostname", "", spec.hostname));
    BERTH_TRYV(field(doc, "domainname", "", spec.domainname));
    BERTH_TRYV(field(doc, "mounts", "", spec.mounts));
    if (const json* linuxPart = find(doc, "linux")) {
      BERTH_TRY(spec.linuxSpec, parseLinux(*linuxPart, "linux", options));
    } else {
      BERTH_TRY(spec.linuxSpec.cgroups, parseCgroupsPath("", options.systemdCgroup));
    }
    if (const json* hooks = find(doc, "hooks")) {
      BERTH_TRY(spec.hooks, parseHooks(*hooks, "hooks"));
    }
    BERTH_TRYV(field(doc, "annotations", "", spec.annotations));
    const bool ownUts = spec.linuxSpec.hasNamespace(NamespaceType::uts);
    if (!spec.hostname.empty() && !ownUts) return bad("hostname", "needs a uts namespace in linux.namespaces");
    if (!spec.domainname.empty() && !ownUts) return bad("domainname", "needs a uts namespace in linux.namespaces");
    return spec;
  } catch (const json::exception& e) {
    // Every access above checks the type first; this is a bug, not the input's fault.
    return fail(Errc::internal, std::string("config.json: ") + e.what());
  }
}

Result<Spec> loadBundleSpec(const std::string& bundleDir, const ParseOptions& options) {
  BERTH_TRY(std::string bundle, absoluteDir(bundleDir));
  const std::string configPath = bundle + "/config.json";
  auto text = readFile(configPath);
  if (!text) {
    Error error = std::move(text.error());
    if (error.sysErrno == ENOENT) error.code = Errc::not_found;
    return tl::unexpected<Error>(std::move(error));
  }
  BERTH_TRY(Spec spec, withContext(parseSpec(*text, options), configPath));
  spec.root.path = isAbsolute(spec.root.path) ? cleanPath(spec.root.path) : cleanPath(bundle + "/" + spec.root.path);
  return spec;
}

}  // namespace berth::oci
