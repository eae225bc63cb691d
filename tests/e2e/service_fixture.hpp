#pragma once
// End-to-end fixture: the real berthd (BERTH_BUILD_DIR/cmd/berthd) on a free
// loopback port with its own temp data dir, run dir and cgroup root, driven
// over HTTP. Teardown force-deletes every container through the API, stops
// the daemon with SIGTERM and then checks that no container cgroup, no
// mount, no link with its bridge prefix and no firewall table of it is left
// on the host (and removes whatever is).
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace berth::e2e {

using Json = nlohmann::json;

// An init that exits at once on SIGTERM (a graceful stop takes < 0.2 s).
extern const std::vector<std::string> kTermInit;
// An init that ignores SIGTERM (pid 1 without a handler): a stop waits out its timeout.
extern const std::vector<std::string> kStubbornInit;

struct Reply {
  int status = 0;
  std::string text;
  Json body;  // the parsed body, null if it is not JSON
  std::map<std::string, std::string> headers;

  std::string code() const { return body.is_object() ? body.value("code", "") : ""; }
  std::string message() const { return body.is_object() ? body.value("message", "") : ""; }
  const Json& data() const { return body.at("data"); }
};

struct ServiceOptions {
  std::string configYaml;      // when set, written to a file passed with --config
  bool withUnixSocket = false; // also serve on <tmp>/api.sock
  bool withTls = false;        // HTTPS with a self-signed certificate made for the test (openssl CLI)
};

struct TestUser {
  std::string id;
  std::string username;
  std::string password;
  std::string token;
  std::string personalProjectId;
};

class Service {
 public:
  explicit Service(ServiceOptions options = {});
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // One request on a fresh connection. body nullopt: no body at all.
  Reply call(const std::string& method, const std::string& path, const std::string& token = {},
             const std::optional<std::string>& body = std::nullopt,
             const std::map<std::string, std::string>& headers = {}) const;
  Reply get(const std::string& path, const std::string& token) const { return call("GET", path, token); }
  Reply post(const std::string& path, const std::string& token, const std::optional<std::string>& body = std::nullopt) const {
    return call("POST", path, token, body);
  }
  Reply patch(const std::string& path, const std::string& token, const std::string& body) const {
    return call("PATCH", path, token, body);
  }
  Reply del(const std::string& path, const std::string& token) const { return call("DELETE", path, token); }

  const std::string& adminToken() const { return adminToken_; }
  const std::string& adminId() const { return adminId_; }
  // From <data-dir>/admin.password, written by the first start.
  std::string adminPassword() const;
  std::string login(const std::string& username, const std::string& password) const;
  // Creates a user through the admin API and logs it in.
  TestUser createUser(const std::string& username, const std::string& role = "user") const;

  // POST /api/v1/containers; REQUIREs `expectStatus`; returns the reply's data.
  Json createContainer(const std::string& token, const Json& body, int expectStatus = 201) const;
  // POST /api/v1/containers/{id}/{operation}; REQUIREs `expectStatus`.
  Reply operate(const std::string& token, const std::string& id, const std::string& operation,
                int expectStatus = 200, const std::string& query = "") const;
  Json getContainer(const std::string& id, const std::string& token) const;
  // The container's console log (GET .../logs as admin); REQUIREs 200.
  std::string logsOf(const std::string& id) const;
  // Polls the console log until it holds `text`; false after the limit.
  bool awaitLog(const std::string& id, const std::string& text,
                std::chrono::milliseconds limit = std::chrono::seconds(20)) const;
  // Polls GET until the container has the status; FAILs after the timeout.
  // How many times the container's kTermInit has set its TERM trap (its "ready" lines).
  size_t trapsSet(const std::string& id) const;
  void awaitTrap(const Json& container, size_t before) const;
  Json waitForStatus(const std::string& id, const std::string& status,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;

  // SIGTERM and start again on the same directories (containers keep running).
  void restart();
  // SIGKILL, as a crash would; start() runs it again on the same directories.
  void crash();
  void start() { launch(); }
  // With the service down: what a host reboot leaves of the given containers
  // (monitors and inits killed by pid, their groups and the run dir removed).
  void simulateHostBoot(const std::vector<Json>& containers);
  // With the service down: removes one container's runtime instance (its
  // groups and its run dir), as an operator cleaning up by hand would.
  void removeRuntimeInstance(const std::string& runtimeId);

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& dataDir() const { return dataDir_; }
  const std::string& runDir() const { return runDir_; }
  // Everything berthd wrote to stderr (its log) so far.
  std::string logText() const;
  std::string socketPath() const { return temp_.sub("api.sock"); }
  // This service's bridge_prefix (unique per fixture) and bridge_subnet (inside 10.200.0.0/13).
  const std::string& bridgePrefix() const { return bridgePrefix_; }
  const std::string& bridgeSubnet() const { return bridgeSubnet_; }
  // Links on the host named with this service's prefix (bridges and veths).
  std::vector<std::string> hostLinks() const;
  std::string tlsCertPath() const { return temp_.sub("tls.crt"); }

 private:
  void launch();
  // SIGTERM, then waits for the exit; true if it exited 0 in time.
  bool terminate();
  void deleteAllContainers();
  void checkAndRemoveLeftovers();
  void checkAndRemoveNetworkLeftovers(bool checking);

  ServiceOptions options_;
  testing::TempDir temp_;
  std::string dataDir_;
  std::string runDir_;
  std::string cgroupRoot_;
  std::string bridgePrefix_;
  std::string bridgeSubnet_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string adminToken_;
  std::string adminId_;
};

// "/api/v1/containers/<id>"
std::string containerPath(const std::string& id);

}  // namespace berth::e2e
