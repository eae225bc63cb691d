// Containers outlive the service: kill -9 and restart, exits while it was
// down, a simulated host boot with autostart, recreation of a removed
// runtime instance, and container logs across all of it (issue 5).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/scope_guard.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

Json createRunning(Service& service, const std::string& name, const std::vector<std::string>& command = kTermInit) {
  return service.createContainer(service.adminToken(), Json{{"name", name}, {"command", command}});
}

std::string logsOf(Service& service, const std::string& id, const std::string& query = "") {
  Reply reply = service.get(containerPath(id) + "/logs" + query, service.adminToken());
  REQUIRE(reply.status == 200);
  CHECK(reply.headers["Content-Type"].rfind("text/plain", 0) == 0);
  return reply.text;
}

Json lastLogEntry(Service& service, const std::string& id) {
  Reply reply = service.get(containerPath(id) + "/status-logs?limit=1&sort_order=desc&sort_by=created_at",
                            service.adminToken());
  REQUIRE(reply.status == 200);
  REQUIRE(reply.data()["logs"].size() == 1);
  return reply.data()["logs"][0];
}

}  // namespace

TEST_CASE("kill -9 of the service: every container found again with its pid and state; exits meanwhile recorded") {
  Service service;
  std::vector<Json> containers;
  for (int i = 0; i < 20; ++i) containers.push_back(createRunning(service, "c" + std::to_string(i)));
  for (int i = 0; i < 5; ++i) service.operate(service.adminToken(), containers[i]["id"], "pause");
  Json leaving =
      createRunning(service, "leaving", {"/bin/sh", "-c", "trap 'exit 42' TERM; echo trapped; while true; do sleep 0.05; done"});
  // An init ignores a signal it has no handler for: wait until the trap is set.
  for (int i = 0; i < 100 && logsOf(service, leaving["id"]) != "trapped\n"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(logsOf(service, leaving["id"]) == "trapped\n");

  service.crash();
  // The container exits while nobody watches.
  REQUIRE(::kill(leaving["pid"].get<pid_t>(), SIGTERM) == 0);
  UnixMillis exitedAround = nowMillis();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  service.start();

  for (int i = 0; i < 20; ++i) {
    Json now = service.getContainer(containers[i]["id"], service.adminToken());
    CHECK(now["status"] == (i < 5 ? "paused" : "running"));
    CHECK(now["pid"] == containers[i]["pid"]);
    CHECK(::kill(containers[i]["pid"].get<pid_t>(), 0) == 0);
  }
  Json exited = service.waitForStatus(leaving["id"], "stopped");
  CHECK(exited["exit_code"] == 42);
  Json entry = lastLogEntry(service, leaving["id"]);
  CHECK(entry["triggered_by"] == "system");
  CHECK(entry["metadata"]["exit_code"] == 42);
  auto finished = parseIsoMillis(exited["finished_at"].get<std::string>());
  REQUIRE(finished);
  CHECK(std::abs(*finished - exitedAround) <= 1000);

  // Still under control after the crash.
  service.operate(service.adminToken(), containers[0]["id"], "resume");
  service.operate(service.adminToken(), containers[5]["id"], "stop");
  CHECK(service.getContainer(containers[5]["id"], service.adminToken())["status"] == "stopped");
}

TEST_CASE("a host boot records running containers stopped, then starts the autostart ones") {
  Service service;
  Json autostarted = createRunning(service, "auto");
  Json manual = service.createContainer(service.adminToken(), Json{{"name", "manual"}, {"command", kTermInit}, {"autostart", false}});
  service.operate(service.adminToken(), manual["id"], "start");
  manual = service.getContainer(manual["id"], service.adminToken());
  Json paused = createRunning(service, "paused");
  service.operate(service.adminToken(), paused["id"], "pause");
  paused = service.getContainer(paused["id"], service.adminToken());

  service.crash();
  service.simulateHostBoot({autostarted, manual, paused});
  service.start();

  Json restarted = service.waitForStatus(autostarted["id"], "running");
  CHECK(restarted["pid"] != autostarted["pid"]);
  CHECK(service.waitForStatus(paused["id"], "running")["pid"] != paused["pid"]);
  Json notStarted = service.getContainer(manual["id"], service.adminToken());
  CHECK(notStarted["status"] == "stopped");
  Json entry = lastLogEntry(service, manual["id"]);
  CHECK(entry["metadata"]["reason"] == "host_restart");
  CHECK(entry["from_status"] == "running");
  CHECK(entry["triggered_by"] == "system");
}

TEST_CASE("a start rebuilds a runtime instance removed by hand, keeping the writable layer") {
  Service service;
  Json record = createRunning(service, "rebuilt", {"/bin/sh", "-c", "cat /mark 2>/dev/null || echo first > /mark; exec sleep 1000"});
  std::string mark = service.dataDir() + "/storage/pool/layers/" + record["id"].get<std::string>() + "/upper/mark";
  int64_t end = monotonicMillis() + 5000;
  while (!pathExists(mark) && monotonicMillis() < end) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  REQUIRE(pathExists(mark));
  service.operate(service.adminToken(), record["id"], "force-stop");
  service.crash();
  service.removeRuntimeInstance(record["runtime_id"]);
  service.start();

  service.operate(service.adminToken(), record["id"], "start");
  Json now = service.getContainer(record["id"], service.adminToken());
  CHECK(now["status"] == "running");
  CHECK(now["runtime_id"] != record["runtime_id"]);
  end = monotonicMillis() + 5000;
  while (logsOf(service, record["id"]).find("first") == std::string::npos && monotonicMillis() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(logsOf(service, record["id"]) == "first\n");  // the second run found the first run's file
}

TEST_CASE("logs: tail, follow until the container stops, and across a service restart") {
  Service service;
  Json ticker = createRunning(service, "ticker",
                              {"/bin/sh", "-c", "i=0; while [ $i -lt 8 ]; do echo tick $i; i=$((i+1)); sleep 0.25; done"});
  service.waitForStatus(ticker["id"], "running");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  service.restart();
  // Followed from here, through to the end of the container.
  Reply followed = service.get(containerPath(ticker["id"]) + "/logs?follow=true&tail=100", service.adminToken());
  REQUIRE(followed.status == 200);
  std::string expected;
  for (int i = 0; i < 8; ++i) expected += "tick " + std::to_string(i) + "\n";
  CHECK(followed.text == expected);
  CHECK(service.getContainer(ticker["id"], service.adminToken())["status"] == "stopped");

  CHECK(logsOf(service, ticker["id"], "?tail=2") == "tick 6\ntick 7\n");
  CHECK(logsOf(service, ticker["id"], "?tail=0").empty());
  CHECK(logsOf(service, ticker["id"]) == expected);

  CHECK(service.get(containerPath(ticker["id"]) + "/logs?tail=-1", service.adminToken()).code() == "VALIDATION_ERROR");
  CHECK(service.get(containerPath(ticker["id"]) + "/logs?follow=yes", service.adminToken()).code() == "VALIDATION_ERROR");
  CHECK(service.get(containerPath(ticker["id"]) + "/logs?lines=3", service.adminToken()).code() == "VALIDATION_ERROR");
  CHECK(service.get(containerPath("000000000000000000000000") + "/logs", service.adminToken()).code() == "CONTAINER_NOT_FOUND");
  CHECK(service.get(containerPath(ticker["id"]) + "/logs", "").code() == "MISSING_TOKEN");
  TestUser outsider = service.createUser("outsider");
  CHECK(service.get(containerPath(ticker["id"]) + "/logs", outsider.token).code() == "CONTAINER_NOT_FOUND");
}

namespace {

// A follow request on a raw connection; returns the socket once the status line is in.
int openFollower(int port, const std::string& path, const std::string& token, std::string& statusLine) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token + "\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  statusLine.clear();
  char c;
  while (::recv(fd, &c, 1, 0) == 1 && c != '\n') statusLine += c;
  return fd;
}

// Whether a new follower gets its 200 within the time (tried every 100 ms).
bool followerAdmittedWithin(const Service& service, const std::string& path, int64_t millis) {
  int64_t end = monotonicMillis() + millis;
  std::string status;
  while (monotonicMillis() < end) {
    int fd = openFollower(service.port(), path, service.adminToken(), status);
    ::close(fd);
    if (status.rfind("HTTP/1.1 200", 0) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("log followers never take the workers: more followers than workers, the API answers; a cap; a gone client frees its place") {
  // 12 followers on 4 workers: each follow hands its worker over as its stream begins.
  Service service({.configYaml = "http_workers: 4\nlog_followers_max: 12\n"});
  Json ticker = createRunning(service, "ticker", {"/bin/sh", "-c", "while true; do echo t; sleep 0.1; done"});
  std::string path = containerPath(ticker["id"]) + "/logs?follow=true&tail=0";
  // Closed also when an assertion ends the test, so the teardown finds free workers.
  std::vector<int> followers;
  ScopeGuard closeFollowers([&] {
    for (int fd : followers) ::close(fd);
  });
  for (int i = 0; i < 12; ++i) {
    std::string status;
    followers.push_back(openFollower(service.port(), path, service.adminToken(), status));
    REQUIRE(status.rfind("HTTP/1.1 200", 0) == 0);
  }
  // Every follower is served: each gets the ticker's next lines.
  for (int fd : followers) {
    std::string seen;
    char buf[256];
    while (seen.find("t\n") == std::string::npos) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      REQUIRE(n > 0);
      seen.append(buf, static_cast<size_t>(n));
    }
  }
  CHECK(service.get("/healthz", "").status == 200);
  CHECK(service.get(containerPath(ticker["id"]), service.adminToken()).status == 200);
  Reply refused = service.get(path, service.adminToken());
  CHECK(refused.status == 503);
  CHECK(refused.message().find("follow") != std::string::npos);
  for (int fd : followers) ::close(fd);
  followers.clear();
  // Each stream sees its client gone (at its next output or its next idle round) and ends.
  CHECK(followerAdmittedWithin(service, path, 10000));
}

TEST_CASE("a client that leaves a follow of a silent container frees its place within a round") {
  Service service({.configYaml = "log_followers_max: 1\n"});
  Json quiet = createRunning(service, "quiet", {"/bin/sleep", "100000"});
  std::string path = containerPath(quiet["id"]) + "/logs?follow=true";
  std::string status;
  int first = openFollower(service.port(), path, service.adminToken(), status);
  REQUIRE(status.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(service.get(path, service.adminToken()).status == 503);  // the one place is taken
  ::close(first);
  // No output will come to fail a write: the stream's idle round must see the close.
  CHECK(followerAdmittedWithin(service, path, 5000));
}
