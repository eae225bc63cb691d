// What an operator relies on around the API (issue 22), against the real
// berthd: READY=1 to systemd's notify socket once /healthz answers, /metrics
// that promtool accepts with per-container series, and the OpenAPI document
// served without a token.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "e2e/cli_runner.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

// A datagram socket like systemd's $NOTIFY_SOCKET; closed with the object.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.size() < sizeof address.sun_path);
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, or "" when none came within `limit`.
  std::string receive(std::chrono::milliseconds limit) {
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(limit.count())) <= 0) return {};
    char buffer[4096];
    ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    return got > 0 ? std::string(buffer, static_cast<size_t>(got)) : std::string();
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("berthd sends READY=1 to $NOTIFY_SOCKET once it serves, STOPPING=1 when it stops") {
  testing::TempDir scratch("berth-notify");
  NotifySocket notify(scratch.sub("notify.sock"));
  // berthd inherits the test's environment; the variable goes again at the end of the case.
  REQUIRE(::setenv("NOTIFY_SOCKET", scratch.sub("notify.sock").c_str(), 1) == 0);
  struct Unset {
    ~Unset() { ::unsetenv("NOTIFY_SOCKET"); }
  } unset;
  Service service;
  std::string ready = notify.receive(std::chrono::seconds(20));
  INFO(ready);
  CHECK(contains(ready, "READY=1"));
  CHECK(contains(ready, "STATUS=serving on 127.0.0.1:" + std::to_string(service.port())));
  CHECK(service.get("/healthz", "").status == 200);

  service.restart();
  std::string stopping = notify.receive(std::chrono::seconds(20));
  CHECK(contains(stopping, "STOPPING=1"));
  CHECK(contains(notify.receive(std::chrono::seconds(20)), "READY=1"));
}

TEST_CASE("/metrics passes promtool check metrics and has series of the live containers only") {
  Service service;
  const std::string& admin = service.adminToken();
  Json web = service.createContainer(admin, {{"name", "web"}, {"command", kTermInit}, {"network", "bridge"}});
  Json idle = service.createContainer(admin, {{"name", "idle"}, {"command", kTermInit}, {"autostart", false}});
  Json limited = service.createContainer(
      admin, {{"name", "limited"}, {"command", kTermInit}, {"resources", {{"memory_mb", 64}}}});
  service.operate(admin, limited["id"], "pause");

  Reply metrics = service.get("/metrics", "");
  REQUIRE(metrics.status == 200);
  const std::string& text = metrics.text;
  auto labels = [](const Json& c) {
    return "{container=\"" + c["id"].get<std::string>() + "\",name=\"" + c["name"].get<std::string>() + "\"}";
  };
  CHECK(contains(text, "berth_container_cpu_seconds_total" + labels(web) + " "));
  CHECK(contains(text, "berth_container_memory_bytes" + labels(web) + " "));
  CHECK(contains(text, "berth_container_network_receive_bytes_total" + labels(web) + " "));
  CHECK(contains(text, "berth_container_network_transmit_bytes_total" + labels(web) + " "));
  // Paused counts as live; its limit is shown; no network series without a bridge.
  CHECK(contains(text, "berth_container_memory_limit_bytes" + labels(limited) + " 67108864\n"));
  CHECK_FALSE(contains(text, "berth_container_network_receive_bytes_total" + labels(limited)));
  CHECK_FALSE(contains(text, idle["id"].get<std::string>()));
  CHECK(contains(text, "berth_container_series_omitted 0\n"));

  if (::access("/usr/bin/promtool", X_OK) != 0) {
    WARN("promtool is not installed (Debian: prometheus): the text format is not validated");
    return;
  }
  testing::TempDir scratch("berth-promtool");
  ProgramRun checked = runProgram({"promtool", "check", "metrics"}, {}, text);
  INFO(checked.out << checked.err);
  CHECK(checked.exitCode == 0);
  CHECK(checked.out.empty());
  CHECK(checked.err.empty());
}

TEST_CASE("GET /api/v1/openapi.json answers the document without a token") {
  Service service;
  Reply reply = service.get("/api/v1/openapi.json", "");
  REQUIRE(reply.status == 200);
  CHECK(contains(reply.headers["Content-Type"], "application/json"));
  REQUIRE(reply.body.is_object());
  CHECK(reply.body["openapi"] == "3.1.0");
  CHECK(reply.body["paths"].contains("/api/v1/containers/{id}/{operation}"));
  // The same bytes as `berthd --openapi`.
  ProgramRun printed = runProgram({std::string(BERTH_BUILD_DIR) + "/cmd/berthd", "--openapi"}, {});
  REQUIRE(printed.exitCode == 0);
  CHECK(Json::parse(printed.out) == reply.body);
}
