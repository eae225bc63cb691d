// The HTTP surface: bad input of every kind (a 4xx with the right code and a
// message naming the field, never a 500, never a state change), unknown
// routes, wrong methods, oversized bodies, /healthz, /metrics, the unix socket,
// bursts of connections.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <fstream>
#include <sstream>
#include <vector>

#include <httplib.h>

#include "common/scope_guard.hpp"
#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth::e2e;

namespace {

struct BadRequest {
  std::string method;
  std::string path;  // "{id}" stands for a real container's id
  std::optional<std::string> body;
  int status;
  std::string code;
  std::string messagePart;
};

std::string substitute(std::string text, const std::string& id) {
  for (size_t at = text.find("{id}"); at != std::string::npos; at = text.find("{id}"))
    text.replace(at, 4, id);
  return text;
}

}  // namespace

TEST_CASE("malformed requests get a 4xx naming the problem and change nothing") {
  Service service;
  const std::string& admin = service.adminToken();
  Json container = service.createContainer(admin, {{"name", "target"}, {"command", kTermInit}});
  std::string id = container["id"];

  const std::vector<BadRequest> rows = {
      // bodies of create
      {"POST", "/api/v1/containers", std::nullopt, 400, "VALIDATION_ERROR", "request body must be a JSON object"},
      {"POST", "/api/v1/containers", "{", 400, "VALIDATION_ERROR", "malformed JSON"},
      {"POST", "/api/v1/containers", "{\"name\":\"a\"}}", 400, "VALIDATION_ERROR", "malformed JSON"},
      {"POST", "/api/v1/containers", "[1,2]", 400, "VALIDATION_ERROR", "JSON object"},
      {"POST", "/api/v1/containers", "{}", 400, "VALIDATION_ERROR", "name is required"},
      {"POST", "/api/v1/containers", R"({"name":42})", 400, "VALIDATION_ERROR", "name must be a string"},
      {"POST", "/api/v1/containers", R"({"name":"a b"})", 400, "VALIDATION_ERROR", "name must be 1-64 characters"},
      {"POST", "/api/v1/containers", R"({"name":"ok","colour":"red"})", 400, "VALIDATION_ERROR", "unknown field: colour"},
      {"POST", "/api/v1/containers", R"({"name":"ok","name":"dup"})", 400, "VALIDATION_ERROR", "duplicate field: name"},
      {"POST", "/api/v1/containers", R"({"name":"ok","command":"sh"})", 400, "VALIDATION_ERROR", "command must be an array"},
      {"POST", "/api/v1/containers", R"({"name":"ok","env":{"A":2}})", 400, "VALIDATION_ERROR", "env.A must be a string"},
      {"POST", "/api/v1/containers", R"({"name":"ok","autostart":"yes"})", 400, "VALIDATION_ERROR", "autostart"},
      {"POST", "/api/v1/containers", R"({"name":"ok","resources":{"memory_mb":-1}})", 400, "VALIDATION_ERROR",
       "resources.memory_mb"},
      {"POST", "/api/v1/containers", R"({"name":"ok","resources":{"memory_mb":1e400}})", 400, "VALIDATION_ERROR",
       "malformed JSON"},
      {"POST", "/api/v1/containers", R"({"name":"ok","resources":{"pids_max":99999999999999999999}})", 400,
       "VALIDATION_ERROR", "resources.pids_max"},
      {"POST", "/api/v1/containers", R"({"name":"ok","expires_at":"yesterday"})", 400, "VALIDATION_ERROR", "expires_at"},
      {"POST", "/api/v1/containers", R"({"name":"ok","network":"host"})", 400, "VALIDATION_ERROR", "network"},
      {"POST", "/api/v1/containers", R"({"name":"ok","working_dir":"relative"})", 400, "VALIDATION_ERROR", "working_dir"},
      {"POST", "/api/v1/containers", "{\"name\":\"\xff\xfe\"}", 400, "VALIDATION_ERROR", "malformed JSON"},
      {"POST", "/api/v1/containers?dry_run=true", R"({"name":"ok"})", 400, "VALIDATION_ERROR",
       "unknown query parameter: dry_run"},
      // bodies of update
      {"PATCH", "/api/v1/containers/{id}", "not json", 400, "VALIDATION_ERROR", "malformed JSON"},
      {"PATCH", "/api/v1/containers/{id}", R"({"status":"stopped"})", 400, "VALIDATION_ERROR", "unknown field: status"},
      {"PATCH", "/api/v1/containers/{id}", R"({"image":"other"})", 400, "VALIDATION_ERROR", "image cannot be changed"},
      {"PATCH", "/api/v1/containers/{id}", R"({"name":""})", 400, "VALIDATION_ERROR", "name must be 1-64"},
      {"PATCH", "/api/v1/containers/{id}", R"({"resources":{"cpu_millicores":1.5}})", 400, "VALIDATION_ERROR",
       "resources.cpu_millicores"},
      {"PATCH", "/api/v1/containers/{id}", R"({"autostart":null})", 400, "VALIDATION_ERROR", "autostart"},
      // ids
      {"GET", "/api/v1/containers/123", std::nullopt, 400, "INVALID_ID_FORMAT", "id"},
      {"GET", "/api/v1/containers/507F1F77BCF86CD799439011", std::nullopt, 400, "INVALID_ID_FORMAT", "id"},
      {"GET", "/api/v1/containers/507f1f77bcf86cd79943901g", std::nullopt, 400, "INVALID_ID_FORMAT", "id"},
      {"GET", "/api/v1/containers/target", std::nullopt, 400, "INVALID_ID_FORMAT", "id"},
      {"POST", "/api/v1/containers/xyz/start", std::nullopt, 400, "INVALID_ID_FORMAT", "id"},
      {"GET", "/api/v1/containers/507f1f77bcf86cd799439011", std::nullopt, 404, "CONTAINER_NOT_FOUND", "Container not found"},
      // queries
      {"GET", "/api/v1/containers?page=99999999999999999999", std::nullopt, 400, "VALIDATION_ERROR", "page"},
      {"GET", "/api/v1/containers?page=0", std::nullopt, 400, "VALIDATION_ERROR", "page"},
      {"GET", "/api/v1/containers?limit=1000", std::nullopt, 400, "VALIDATION_ERROR", "limit must be an integer between 1 and 100"},
      {"GET", "/api/v1/containers?limit=ten", std::nullopt, 400, "VALIDATION_ERROR", "limit"},
      {"GET", "/api/v1/containers?status=sleeping", std::nullopt, 400, "VALIDATION_ERROR", "status must be one of"},
      {"GET", "/api/v1/containers?project_id=42", std::nullopt, 400, "INVALID_ID_FORMAT", "project_id"},
      {"GET", "/api/v1/containers?page=1&page=2", std::nullopt, 400, "VALIDATION_ERROR", "page given more than once"},
      {"GET", "/api/v1/containers/{id}?runtime=yes", std::nullopt, 400, "VALIDATION_ERROR", "runtime must be true or false"},
      {"DELETE", "/api/v1/containers/{id}?force=1", std::nullopt, 400, "VALIDATION_ERROR", "force must be true or false"},
      {"DELETE", "/api/v1/containers/{id}?purge=true", std::nullopt, 400, "VALIDATION_ERROR", "unknown query parameter"},
      {"POST", "/api/v1/containers/{id}/explode", std::nullopt, 400, "VALIDATION_ERROR", "unknown operation explode"},
      // a form-encoded body is not a query string
      {"POST", "/api/v1/containers/{id}/stop", std::string("timeout=5"), 400, "VALIDATION_ERROR", "malformed JSON"},
      // routes and methods
      {"GET", "/api/v1/nothing", std::nullopt, 404, "NOT_FOUND", "no route for GET /api/v1/nothing"},
      {"GET", "/api/v2/containers", std::nullopt, 404, "NOT_FOUND", "no route"},
      {"GET", "/", std::nullopt, 404, "NOT_FOUND", "no route"},
      {"PUT", "/api/v1/containers/{id}", R"({"name":"x"})", 405, "METHOD_NOT_ALLOWED", "allowed: GET, PATCH, DELETE"},
      {"DELETE", "/api/v1/containers", std::nullopt, 405, "METHOD_NOT_ALLOWED", "allowed: POST, GET"},
      {"GET", "/api/v1/containers/{id}/start", std::nullopt, 405, "METHOD_NOT_ALLOWED", "allowed: POST"},
      {"POST", "/healthz", std::nullopt, 405, "METHOD_NOT_ALLOWED", "allowed: GET"},
  };

  Reply before = service.get(containerPath(id) + "/status-logs", admin);
  for (const auto& row : rows) {
    std::string path = substitute(row.path, id);
    std::map<std::string, std::string> headers;
    if (row.body && row.body->find("timeout=") == 0) headers["Content-Type"] = "application/x-www-form-urlencoded";
    Reply reply = service.call(row.method, path, admin, row.body, headers);
    INFO(row.method << " " << path << " " << row.body.value_or("<no body>") << " -> " << reply.status << " " << reply.text);
    CHECK(reply.status == row.status);
    CHECK(reply.code() == row.code);
    CHECK_THAT(reply.message(), Catch::Contains(row.messagePart));
    CHECK(reply.body["statusCode"] == row.status);
    CHECK(reply.body["error"].is_string());
    CHECK_FALSE(reply.body["error"].get<std::string>().empty());
    if (row.status == 405) CHECK_FALSE(reply.headers["Allow"].empty());
  }

  // None of that changed anything.
  Json after = service.getContainer(id, admin);
  CHECK(after == container);
  Reply list = service.get("/api/v1/containers", admin);
  CHECK(list.data()["pagination"]["total"] == 1);
  CHECK(service.get(containerPath(id) + "/status-logs", admin).data() == before.data());
}

TEST_CASE("a body over 1 MiB is 413 PAYLOAD_TOO_LARGE") {
  Service service;
  std::string huge = R"({"name":"big","env":{"A":")" + std::string(2u << 20, 'x') + R"("}})";
  Reply reply = service.post("/api/v1/containers", service.adminToken(), huge);
  CHECK(reply.status == 413);
  CHECK(reply.code() == "PAYLOAD_TOO_LARGE");
  CHECK(reply.body["error"] == "Payload Too Large");
  CHECK(service.get("/api/v1/containers", service.adminToken()).data()["pagination"]["total"] == 0);
  // Just under the limit is parsed (and here refused for the env value's size).
  std::string large = R"({"name":"big","env":{"A":")" + std::string(900u << 10, 'x') + R"("}})";
  Reply under = service.post("/api/v1/containers", service.adminToken(), large);
  CHECK(under.status == 400);
  CHECK_THAT(under.message(), Catch::Contains("env.A must be at most"));
}

TEST_CASE("success envelopes carry statusCode, message and data") {
  Service service;
  Reply created = service.post("/api/v1/containers", service.adminToken(), R"({"name":"env","autostart":false})");
  REQUIRE(created.status == 201);
  CHECK(created.body["statusCode"] == 201);
  CHECK(created.message() == "Container created successfully");
  CHECK(created.headers["Content-Type"] == "application/json; charset=utf-8");
  Reply fetched = service.get(containerPath(created.data()["id"]), service.adminToken());
  CHECK(fetched.body["statusCode"] == 200);
  CHECK(fetched.message() == "Container retrieved successfully");
  Reply logs = service.get(containerPath(created.data()["id"]) + "/status-logs", service.adminToken());
  CHECK(logs.message() == "Container status logs retrieved successfully");
  Reply list = service.get("/api/v1/containers", service.adminToken());
  CHECK(list.message() == "Containers retrieved successfully");
}

TEST_CASE("/healthz needs no token; /metrics reports containers, operations and requests") {
  Service service;
  Reply health = service.get("/healthz", "");
  CHECK(health.status == 200);
  CHECK(health.body == Json{{"status", "ok"}});

  Json container = service.createContainer(service.adminToken(), {{"name", "m"}, {"command", kTermInit}});
  service.operate(service.adminToken(), container["id"], "pause");
  service.operate(service.adminToken(), container["id"], "start", 400);

  // A request is counted once its answer is written (the access log's step),
  // which may come just after the client has read it.
  Reply metrics = service.get("/metrics", "");
  for (int i = 0; i < 100 && metrics.text.find("code=\"400\"} 1\n") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = service.get("/metrics", "");
  }
  REQUIRE(metrics.status == 200);
  CHECK_THAT(metrics.headers["Content-Type"], Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_containers{status=\"paused\"} 1\n"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_operations_total{operation=\"create\",result=\"success\"} 1\n"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_operations_total{operation=\"pause\",result=\"success\"} 1\n"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_operations_total{operation=\"start\",result=\"state_conflict\"} 1\n"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_operation_duration_seconds_count{operation=\"pause\"} 1\n"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_http_requests_total{method=\"POST\",code=\"400\"} 1\n"));
  CHECK_THAT(metrics.text, Catch::Contains("berth_http_requests_total{method=\"GET\",code=\"200\"}"));
}

TEST_CASE("a response leaves whole: its header and body come in one read; a HEAD answer is its header alone") {
  using namespace std::chrono_literals;
  Service service;
  berth::UniqueFd fd = connectTo(service.port());
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  // Spins on the socket, so that it reads as soon as anything arrives: a
  // header and a body sent apart are then read apart (seen: 99 rounds in 100).
  auto firstRead = [&] {
    char buffer[65536];
    auto deadline = std::chrono::steady_clock::now() + 5s;
    for (;;) {
      ssize_t got = ::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (got > 0) return std::string(buffer, static_cast<size_t>(got));
      if (got == 0 || (errno != EAGAIN && errno != EINTR)) FAIL("the connection ended or failed: " << got);
      if (std::chrono::steady_clock::now() >= deadline) FAIL("no answer within 5 s");
    }
  };
  for (int round = 0; round < 20; ++round) {
    sendAll(fd.get(), request);
    std::string answer = firstRead();
    INFO("round " << round << ": " << answer);
    REQUIRE(answer.starts_with("HTTP/1.1 200"));
    CHECK(answer.ends_with("\r\n\r\n{\"status\":\"ok\"}"));
  }
  sendAll(fd.get(), "HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string head;
  for (int i = 0; i < 50 && head.find("\r\n\r\n") == std::string::npos; ++i) REQUIRE(readSome(fd.get(), head, 100ms));
  INFO(head);
  CHECK(head.starts_with("HTTP/1.1 200"));
  CHECK_THAT(head, Catch::Contains("\r\nContent-Length: 15\r\n"));
  CHECK(head.ends_with("\r\n\r\n"));
  // The connection goes on after the body-less answer.
  sendAll(fd.get(), request);
  std::string after = firstRead();
  CHECK(after.ends_with("\r\n\r\n{\"status\":\"ok\"}"));
}

TEST_CASE("the unix socket serves the same API and is root-only") {
  Service service({.withUnixSocket = true});
  struct stat st {};
  REQUIRE(::stat(service.socketPath().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 0777) == 0600);
  httplib::Client client(service.socketPath());
  client.set_address_family(AF_UNIX);
  auto health = client.Get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto list = client.Get("/api/v1/containers", httplib::Headers{{"Authorization", "Bearer " + service.adminToken()}});
  REQUIRE(list);
  CHECK(list->status == 200);
  auto metrics = client.Get("/metrics");  // a unix socket client counts as local
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
}

TEST_CASE("with a certificate and key configured, the API is served over TLS only") {
  Service service(ServiceOptions{.withTls = true});
  // The fixture's own calls (login, /users/me) already went through TLS with a verified certificate.
  CHECK(service.get("/healthz", "").status == 200);
  CHECK(service.get("/api/v1/users/me", service.adminToken()).status == 200);
  httplib::Client plain("127.0.0.1", service.port());
  plain.set_connection_timeout(std::chrono::seconds(2));
  plain.set_read_timeout(std::chrono::seconds(2));
  auto answer = plain.Get("/healthz");
  CHECK_FALSE((answer && answer->status == 200));  // plain HTTP gets no answer
}

namespace {

uint64_t listenOverflows() {
  // TcpExt: a header line of names, then a line of values.
  std::ifstream netstat("/proc/net/netstat");
  std::string names;
  std::string values;
  while (std::getline(netstat, names) && std::getline(netstat, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names);
    std::istringstream v(values);
    std::string name;
    std::string value;
    while (n >> name && v >> value)
      if (name == "ListenOverflows") return std::stoull(value);
  }
  FAIL("no TcpExt ListenOverflows in /proc/net/netstat");
  return 0;
}

}  // namespace

TEST_CASE("a burst of 200 clients connecting at once is accepted without a dropped connection") {
  Service service;
  uint64_t overflowsBefore = listenOverflows();
  std::vector<int> clients;
  berth::ScopeGuard closeClients([&] {
    for (int fd : clients) ::close(fd);
  });
  for (int i = 0; i < 200; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    clients.push_back(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(service.port()));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  for (int fd : clients) REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  int answered = 0;
  for (int fd : clients) {
    timeval timeout{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    char buf[64] = {};
    if (::recv(fd, buf, sizeof buf - 1, 0) > 0 && std::string(buf).rfind("HTTP/1.1 200", 0) == 0) ++answered;
  }
  CHECK(answered == 200);
  // httplib alone listens with a backlog of 5: such a burst overflows it.
  CHECK(listenOverflows() == overflowsBefore);
}
