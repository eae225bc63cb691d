#include "api/config.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <tuple>

#include <yaml-cpp/yaml.h>

#include "common/files.hpp"
#include "runtime/network.hpp"

namespace berth::api {

namespace {

tl::unexpected<Error> badKey(std::string_view key, std::string_view what) {
  return fail(Errc::invalid_argument, "config key " + std::string(key) + ": " + std::string(what));
}

Result<std::string> scalarText(const YAML::Node& node, std::string_view key) {
  if (!node.IsScalar()) return badKey(key, "must be a single value");
  return node.Scalar();
}

Result<std::string> readText(const YAML::Node& node, std::string_view key) {
  BERTH_TRY(std::string text, scalarText(node, key));
  if (text.empty()) return badKey(key, "must not be empty");
  return text;
}

Result<uint64_t> readUnsigned(const YAML::Node& node, std::string_view key, uint64_t min, uint64_t max) {
  BERTH_TRY(std::string text, scalarText(node, key));
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
    return badKey(key, "must be an integer between " + std::to_string(min) + " and " + std::to_string(max) +
                           " (got \"" + text + "\")");
  return value;
}

Result<bool> readFlag(const YAML::Node& node, std::string_view key) {
  BERTH_TRY(std::string text, scalarText(node, key));
  if (text == "true") return true;
  if (text == "false") return false;
  return badKey(key, "must be true or false (got \"" + text + "\")");
}

Result<void> rejectUnknownKeys(const YAML::Node& map, std::initializer_list<std::string_view> known,
                               std::string_view prefix) {
  for (const auto& entry : map) {
    if (!entry.first.IsScalar()) return badKey(prefix, "keys must be plain names");
    const std::string& key = entry.first.Scalar();
    if (std::find(known.begin(), known.end(), key) == known.end())
      return fail(Errc::invalid_argument, "unknown config key " + std::string(prefix) + key);
  }
  return {};
}

Result<void> applyTierLimits(const YAML::Node& node, runtime::TierLimits& tier) {
  if (!node.IsMap()) return badKey("tier_limits", "must be a map of memory_mb, cpu_millicores, pids_max, disk_mb");
  BERTH_TRYV(rejectUnknownKeys(node, {"memory_mb", "cpu_millicores", "pids_max", "disk_mb"}, "tier_limits."));
  constexpr uint64_t kMaxMegabytes = std::numeric_limits<int64_t>::max() >> 20;
  if (node["memory_mb"]) {
    BERTH_TRY(tier.maxMemoryMb, readUnsigned(node["memory_mb"], "tier_limits.memory_mb", 1, kMaxMegabytes));
  }
  if (node["cpu_millicores"]) {
    BERTH_TRY(uint64_t millicores, readUnsigned(node["cpu_millicores"], "tier_limits.cpu_millicores", 1,
                                                std::numeric_limits<uint32_t>::max()));
    tier.maxCpuMillicores = static_cast<uint32_t>(millicores);
  }
  if (node["pids_max"]) {
    BERTH_TRY(tier.maxPidsMax, readUnsigned(node["pids_max"], "tier_limits.pids_max", 1, std::numeric_limits<int32_t>::max()));
  }
  if (node["disk_mb"]) {
    BERTH_TRY(tier.maxDiskMb, readUnsigned(node["disk_mb"], "tier_limits.disk_mb", 1, kMaxMegabytes));
  }
  return {};
}

// project_limits: {containers, memory, cpu, disk}: a key absent is no limit.
Result<void> applyProjectLimits(const YAML::Node& node, store::ProjectLimits& limits) {
  if (!node.IsMap()) return badKey("project_limits", "must be a map of containers, memory, cpu, disk");
  BERTH_TRYV(rejectUnknownKeys(node, {"containers", "memory", "cpu", "disk"}, "project_limits."));
  constexpr uint64_t kMaxMegabytes = std::numeric_limits<int64_t>::max() >> 20;
  for (auto [key, out, max] : {std::tuple{"containers", &limits.containers, uint64_t{1'000'000'000}},
                               std::tuple{"memory", &limits.memoryMb, kMaxMegabytes},
                               std::tuple{"cpu", &limits.cpuMillicores, uint64_t{1} << 50},
                               std::tuple{"disk", &limits.diskMb, kMaxMegabytes}}) {
    if (!node[key]) continue;
    BERTH_TRY(*out, readUnsigned(node[key], std::string("project_limits.") + key, 0, max));
  }
  return {};
}

Result<void> applyEventsRetention(const YAML::Node& node, store::EventRetention& retention) {
  if (!node.IsMap()) return badKey("events_retention", "must be a map of max_events, max_age_s");
  BERTH_TRYV(rejectUnknownKeys(node, {"max_events", "max_age_s"}, "events_retention."));
  // API.md §8 keeps at least 100,000 events or 7 days: less may not be configured.
  if (node["max_events"]) {
    BERTH_TRY(retention.maxEvents, readUnsigned(node["max_events"], "events_retention.max_events", 100000,
                                                std::numeric_limits<uint32_t>::max()));
  }
  if (node["max_age_s"]) {
    BERTH_TRY(uint64_t seconds, readUnsigned(node["max_age_s"], "events_retention.max_age_s", 7 * 24 * 3600,
                                             10ull * 366 * 24 * 3600));
    retention.maxAgeMs = static_cast<int64_t>(seconds) * 1000;
  }
  return {};
}

Result<ServiceConfig> applyDocument(const YAML::Node& root, ServiceConfig config) {
  if (!root || root.IsNull()) return config;  // an empty file: every default
  if (!root.IsMap()) return fail(Errc::invalid_argument, "config: the document must be a map of keys");
  BERTH_TRYV(rejectUnknownKeys(root,
                               {"listen", "socket", "data_dir", "run_dir", "cgroup_root", "default_stop_timeout_s",
                                "tier_limits", "token_lifetime_s", "log_level", "tls_cert", "tls_key",
                                "container_log_max_bytes", "log_followers_max", "image_max_mb", "http_workers",
                                "events_retention", "bridge_prefix", "bridge_subnet", "bridge_masquerade",
                                "storage_pool_gb", "max_connections_per_client", "header_timeout_s",
                                "body_timeout_s", "keep_alive_timeout_s", "project_limits",
                                "default_isolation", "durability"},
                               ""));
  if (root["listen"]) {
    BERTH_TRY(config.listen, readText(root["listen"], "listen"));
    if (auto address = parseListenAddress(config.listen); !address) return badKey("listen", address.error().message);
  }
  if (root["socket"]) {
    BERTH_TRY(config.socketPath, scalarText(root["socket"], "socket"));  // "" turns it off
  }
  if (root["tls_cert"]) {
    BERTH_TRY(config.tlsCert, readText(root["tls_cert"], "tls_cert"));
  }
  if (root["tls_key"]) {
    BERTH_TRY(config.tlsKey, readText(root["tls_key"], "tls_key"));
  }
  if (root["data_dir"]) {
    BERTH_TRY(config.runtime.dataDir, readText(root["data_dir"], "data_dir"));
  }
  if (root["run_dir"]) {
    BERTH_TRY(config.runtime.runDir, readText(root["run_dir"], "run_dir"));
  }
  if (root["cgroup_root"]) {
    BERTH_TRY(config.runtime.cgroupRoot, readText(root["cgroup_root"], "cgroup_root"));
  }
  if (root["default_stop_timeout_s"]) {
    BERTH_TRY(uint64_t seconds, readUnsigned(root["default_stop_timeout_s"], "default_stop_timeout_s", 0, 3600));
    config.runtime.defaultStopTimeout = std::chrono::seconds(seconds);
  }
  if (root["storage_pool_gb"]) {
    BERTH_TRY(uint64_t gigabytes, readUnsigned(root["storage_pool_gb"], "storage_pool_gb", 1, 1u << 20));
    config.runtime.storagePoolBytes = gigabytes << 30;
  }
  if (root["durability"]) {
    BERTH_TRY(std::string mode, readText(root["durability"], "durability"));
    if (mode == "host") {
      config.runtime.durability = runtime::Durability::host;
    } else if (mode == "process") {
      config.runtime.durability = runtime::Durability::process;
    } else {
      return badKey("durability", "must be host or process (got \"" + mode + "\")");
    }
  }
  if (root["bridge_prefix"]) {
    BERTH_TRY(config.runtime.network.bridgePrefix, readText(root["bridge_prefix"], "bridge_prefix"));
  }
  if (root["bridge_subnet"]) {
    BERTH_TRY(config.runtime.network.bridgeSubnet, readText(root["bridge_subnet"], "bridge_subnet"));
  }
  if (root["bridge_masquerade"]) {
    BERTH_TRY(config.runtime.network.masquerade, readFlag(root["bridge_masquerade"], "bridge_masquerade"));
  }
  if (root["tier_limits"]) BERTH_TRYV(applyTierLimits(root["tier_limits"], config.runtime.tierLimits));
  if (root["project_limits"]) BERTH_TRYV(applyProjectLimits(root["project_limits"], config.runtime.projectLimits));
  if (root["events_retention"]) BERTH_TRYV(applyEventsRetention(root["events_retention"], config.runtime.eventsRetention));
  if (root["token_lifetime_s"]) {
    BERTH_TRY(uint64_t seconds, readUnsigned(root["token_lifetime_s"], "token_lifetime_s", 1, 366ull * 24 * 3600));
    config.accounts.tokenLifetimeSeconds = static_cast<int64_t>(seconds);
  }
  if (root["container_log_max_bytes"]) {
    // 0: unbounded; otherwise at least a page, at most 1 GiB per file (two files kept).
    BERTH_TRY(uint64_t bytes, readUnsigned(root["container_log_max_bytes"], "container_log_max_bytes", 0, 1ull << 30));
    if (bytes != 0 && bytes < 4096) return badKey("container_log_max_bytes", "must be 0 or at least 4096");
    config.runtime.logMaxBytes = bytes;
  }
  if (root["http_workers"]) {
    BERTH_TRY(uint64_t workers, readUnsigned(root["http_workers"], "http_workers", 2, 4096));
    config.httpWorkers = static_cast<size_t>(workers);
  }
  if (root["max_connections_per_client"]) {
    BERTH_TRY(uint64_t connections,
              readUnsigned(root["max_connections_per_client"], "max_connections_per_client", 0, 1u << 20));
    config.maxConnectionsPerClient = static_cast<size_t>(connections);
  }
  for (auto [key, target] : {std::pair{"header_timeout_s", &config.headerTimeout},
                             std::pair{"body_timeout_s", &config.bodyTimeout},
                             std::pair{"keep_alive_timeout_s", &config.keepAliveTimeout}}) {
    if (!root[key]) continue;
    BERTH_TRY(uint64_t seconds, readUnsigned(root[key], key, 1, 3600));
    *target = std::chrono::seconds(seconds);
  }
  if (root["image_max_mb"]) {
    BERTH_TRY(uint64_t mb, readUnsigned(root["image_max_mb"], "image_max_mb", 1, 1048576));
    config.runtime.imageMaxBytes = mb << 20;
  }
  if (root["log_followers_max"]) {
    BERTH_TRY(uint64_t followers, readUnsigned(root["log_followers_max"], "log_followers_max", 1, 65536));
    config.runtime.logFollowersMax = static_cast<size_t>(followers);
  }
  if (root["default_isolation"]) {
    BERTH_TRY(config.runtime.defaultIsolation, readText(root["default_isolation"], "default_isolation"));
    if (config.runtime.defaultIsolation != store::kHostRoot && config.runtime.defaultIsolation != store::kUserNamespace)
      return badKey("default_isolation", "must be host-root or user-namespace");
  }
  if (root["log_level"]) {
    BERTH_TRY(config.logLevel, readText(root["log_level"], "log_level"));
    if (!isLogLevel(config.logLevel))
      return badKey("log_level", "must be one of trace, debug, info, warn, error, critical, off");
  }
  return config;
}

bool isAbsolutePath(const std::string& path) { return !path.empty() && path.front() == '/'; }

}  // namespace

Result<ListenAddress> parseListenAddress(std::string_view text) {
  auto bad = [&] { return fail(Errc::invalid_argument, "listen address must be HOST:PORT, got \"" + std::string(text) + "\""); };
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) return bad();
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return bad();  // an IPv6 address needs brackets
  }
  int value = -1;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value < 0 || value > 65535) return bad();
  return ListenAddress{std::string(host), value};
}

bool isLogLevel(std::string_view name) {
  for (std::string_view level : {"trace", "debug", "info", "warn", "error", "critical", "off"})
    if (name == level) return true;
  return false;
}

Result<ServiceConfig> parseConfigYaml(std::string_view yaml, ServiceConfig base) {
  // yaml-cpp reports everything by exception; they stop here.
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    return applyDocument(root, std::move(base));
  } catch (const YAML::Exception& e) {
    return fail(Errc::invalid_argument, std::string("config: ") + e.what());
  }
}

Result<ServiceConfig> loadConfigFile(const std::string& path, ServiceConfig base) {
  BERTH_TRY(std::string text, withContext(readFile(path), "config file"));
  return withContext(parseConfigYaml(text, std::move(base)), path);
}

Result<ServiceConfig> finalize(ServiceConfig config) {
  BERTH_TRYV(parseListenAddress(config.listen));
  if (!isLogLevel(config.logLevel))
    return fail(Errc::invalid_argument, "log level must be one of trace, debug, info, warn, error, critical, off");
  if (!isAbsolutePath(config.runtime.dataDir)) return fail(Errc::invalid_argument, "data_dir must be an absolute path");
  if (!isAbsolutePath(config.runtime.runDir)) return fail(Errc::invalid_argument, "run_dir must be an absolute path");
  if (config.tlsCert.empty() != config.tlsKey.empty())
    return fail(Errc::invalid_argument, "tls_cert and tls_key must be given together");
  if (!config.socketPath) config.socketPath = config.runtime.runDir + "/berthd.sock";
  if (!config.socketPath->empty()) {
    if (!isAbsolutePath(*config.socketPath)) return fail(Errc::invalid_argument, "socket must be an absolute path");
    // sockaddr_un holds 108 bytes including the terminating NUL.
    if (config.socketPath->size() >= 108) return fail(Errc::invalid_argument, "socket path must be shorter than 108 bytes");
  }
  const std::string& root = config.runtime.cgroupRoot;
  // A name below the hierarchy roots, never a path out of them.
  if (root.empty() || root.front() == '/' || root.find("..") != std::string::npos)
    return fail(Errc::invalid_argument, "cgroup_root must be a relative name like \"berth\"");
  // The pool's overlap with the host's routes is the kernel's to judge, at start (kernelNetwork).
  BERTH_TRYV(runtime::NetworkPlan::make(config.runtime.network));
  config.accounts.dataDir = config.runtime.dataDir;
  return config;
}

}  // namespace berth::api
