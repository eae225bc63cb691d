#pragma once
// The service configuration: /etc/berth/berthd.yaml (yaml-cpp), every key
// optional, then command-line flags on top (cmd/berthd.cpp). A bad file is
// refused with a message naming the key, before anything starts.
//
//   listen: "127.0.0.1:8080"        # HOST:PORT; port 0 = any free port
//   socket: /run/berth/berthd.sock  # unix socket (mode 0600); default <run_dir>/berthd.sock, "" for none
//   data_dir: /var/lib/berth
//   run_dir: /run/berth
//   cgroup_root: berth
//   default_stop_timeout_s: 10      # 0..3600
//   tier_limits: {memory_mb: 16384, cpu_millicores: 4000, pids_max: 32768, disk_mb: 65536}
//   token_lifetime_s: 86400
//   log_level: info                 # trace, debug, info, warn, error, critical, off
//   container_log_max_bytes: 8388608  # console.log rotates to console.log.1 past this; 0: unbounded
//   http_workers: 256               # threads serving TCP connections (2..4096)
//   log_followers_max: 1024         # clients following container logs at once (1..65536); more get 503
//   image_max_mb: 2048             # largest body of POST /api/v1/images (1..1048576), streamed to disk
//   tls_cert: /etc/berth/tls.crt    # with tls_key: HTTPS on `listen` (PEM); unset: plain HTTP
//   max_connections_per_client: 256 # open TCP connections per client IP (0..1048576, 0: no cap); past it 503
//   header_timeout_s: 10            # a whole request header (1..3600); then 408
//   body_timeout_s: 10              # a request body, plus 1 s per KiB received (1..3600); then 408
//   keep_alive_timeout_s: 5         # an idle keep-alive connection waits this long for its next request (1..3600)
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "iam/accounts.hpp"
#include "runtime/config.hpp"

namespace berth::api {

inline constexpr const char* kDefaultConfigFile = "/etc/berth/berthd.yaml";

struct ServiceConfig {
  std::string listen = "127.0.0.1:8080";
  // The root-only unix socket: unset means <run_dir>/berthd.sock (finalize
  // fills it in), an empty string means none.
  std::optional<std::string> socketPath;
  // TLS on the TCP listener: both set, or neither (plain HTTP). PEM files.
  std::string tlsCert;
  std::string tlsKey;
  size_t httpWorkers = 256;  // threads serving TCP requests (from a complete header to the end of the response)
  size_t maxConnectionsPerClient = 256;  // 0: no cap
  std::chrono::seconds headerTimeout{10};
  std::chrono::seconds bodyTimeout{10};
  std::chrono::seconds keepAliveTimeout{5};
  runtime::RuntimeConfig runtime;
  iam::AccountsConfig accounts;  // accounts.dataDir follows runtime.dataDir (see finalize)
  std::string logLevel = "info";
};

struct ListenAddress {
  std::string host;  // "127.0.0.1", "::1" (written "[::1]:8080")
  int port = 0;
};
Result<ListenAddress> parseListenAddress(std::string_view text);
bool isLogLevel(std::string_view name);

// Applies the YAML document on top of `base`. Unknown keys, wrong types and
// out-of-range values are invalid_argument errors that name the key.
Result<ServiceConfig> parseConfigYaml(std::string_view yaml, ServiceConfig base = {});
Result<ServiceConfig> loadConfigFile(const std::string& path, ServiceConfig base = {});
// Cross-field checks and derived values, once flags are applied too.
Result<ServiceConfig> finalize(ServiceConfig config);

}  // namespace berth::api
