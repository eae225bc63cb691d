// The two compatibility dialects under /api/containers (API.md §7) against
// the real berthd: without ?env= (seeds 001 and 004: start, stop, delete,
// PATCH of settings, recreation of a removed runtime instance, the WebSocket
// events) and with ?env= (seed 003: start, stop, restart, pause, unpause);
// refs by database id, runtime id and name; their error shape {"error"}; auth
// by bearer header or session cookie; one container driven through all three
// APIs, whose status log shows every transition in order.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;
using namespace std::chrono_literals;

namespace {

// Dialect A (seeds 001/004): no env query parameter.
std::string pathA(const std::string& ref, const std::string& operation = "") {
  return "/api/containers/" + ref + (operation.empty() ? "" : "/" + operation);
}

// Dialect B (seed 003): ?env=<environment id>; environment 1 is this host.
std::string pathB(const std::string& ref, const std::string& operation, const std::string& env = "1") {
  return "/api/containers/" + ref + "/" + operation + "?env=" + env;
}

bool isHex(const Json& value, size_t length) {
  static const std::regex hex("[0-9a-f]+");
  return value.is_string() && value.get<std::string>().size() == length && std::regex_match(value.get<std::string>(), hex);
}

std::string contentType(const Reply& reply) {
  auto found = reply.headers.find("Content-Type");
  return found == reply.headers.end() ? "" : found->second;
}

// The dialects' only error shape: {"error": "<text>"}, JSON, never the
// /api/v1 envelope; `text` empty: any non-empty text.
void checkError(const Reply& reply, int status, const std::string& text = "") {
  INFO("reply " << reply.status << ": " << reply.text);
  CHECK(reply.status == status);
  CHECK(contentType(reply).rfind("application/json", 0) == 0);
  CHECK(reply.body.is_object());
  if (!reply.body.is_object()) return;
  CHECK(reply.body.size() == 1);
  CHECK_FALSE(reply.body.contains("code"));
  CHECK_FALSE(reply.body.contains("statusCode"));
  auto error = reply.body.find("error");
  CHECK(error != reply.body.end());
  if (error == reply.body.end()) return;
  CHECK(error->is_string());
  if (!error->is_string()) return;
  if (text.empty())
    CHECK_FALSE(error->get<std::string>().empty());
  else
    CHECK(*error == text);
}

void checkSuccessB(const Reply& reply) {
  INFO("reply " << reply.status << ": " << reply.text);
  CHECK(reply.status == 200);
  CHECK(reply.body == Json{{"success", true}});
}

std::string statusOf(const Service& service, const std::string& id) {
  return service.getContainer(id, service.adminToken())["status"];
}

// Runs a request that may start a kTermInit container, then waits until the
// init has set its TERM trap: a stop sent sooner would be lost (the init has
// no handler yet) and would wait out its timeout.
Reply starting(const Service& service, const std::string& id, const std::function<Reply()>& request) {
  size_t before = service.trapsSet(id);
  Reply reply = request();
  if (reply.status == 200) service.awaitTrap(service.getContainer(id, service.adminToken()), before);
  return reply;
}

Json createIdle(const Service& service, const std::string& token, const std::string& name, const Json& extra = Json::object()) {
  Json body = {{"name", name}, {"command", kTermInit}, {"autostart", false}};
  body.update(extra);
  return service.createContainer(token, body);
}

Json createRunning(const Service& service, const std::string& token, const std::string& name) {
  return service.createContainer(token, {{"name", name}, {"command", kTermInit}});
}

void grant(const Service& service, const TestUser& owner, const TestUser& member, const std::string& role) {
  Reply added = service.post("/api/v1/projects/" + owner.personalProjectId + "/members", owner.token,
                             Json{{"user_id", member.id}, {"role", role}}.dump());
  INFO(added.text);
  REQUIRE(added.status == 201);
}

Json statusLog(const Service& service, const std::string& id) {
  Reply reply = service.get(containerPath(id) + "/status-logs?sort_by=created_at&sort_order=asc&limit=100",
                            service.adminToken());
  INFO(reply.text);
  REQUIRE(reply.status == 200);
  return reply.data()["logs"];
}

Json newestLogEntry(const Service& service, const std::string& id) {
  Reply reply = service.get(containerPath(id) + "/status-logs?limit=1&sort_order=desc&sort_by=created_at",
                            service.adminToken());
  INFO(reply.text);
  REQUIRE(reply.status == 200);
  Json logs = reply.data()["logs"];
  REQUIRE(logs.size() == 1);
  return logs[0];
}

// Polls the container's console log until it holds `part` (bounded).
std::string awaitLogs(const Service& service, const std::string& id, const std::string& part,
                      std::chrono::milliseconds timeout = 10s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  std::string text;
  for (;;) {
    Reply reply = service.get(containerPath(id) + "/logs", service.adminToken());
    text = reply.text;
    if (reply.status == 200 && text.find(part) != std::string::npos) return text;
    if (std::chrono::steady_clock::now() > end) return text;
    std::this_thread::sleep_for(50ms);
  }
}

// ---- a raw WebSocket client (RFC 6455), every read bounded ----


class WsClient {
 public:
  // `authHeader`: a whole header line without CRLF ("Authorization: Bearer ..."), or empty.
  WsClient(int port, const std::string& path, const std::string& authHeader) : fd_(connectTo(port)) {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!authHeader.empty()) request += authHeader + "\r\n";
    request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    sendAll(fd_.get(), request);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (buffer_.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline)
      if (!readSome(fd_.get(), buffer_, 100ms)) break;
    size_t end = buffer_.find("\r\n\r\n");
    if (end == std::string::npos) return;  // status_ stays 0
    head_ = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    static const std::regex statusLine(R"(HTTP/1\.[01] (\d{3})[^]*)");
    std::smatch match;
    if (std::regex_match(head_, match, statusLine)) status_ = std::stoi(match[1].str());
  }

  int status() const { return status_; }
  const std::string& head() const { return head_; }

  // The body of a refused upgrade (by its Content-Length), read within the deadline.
  std::string body(std::chrono::milliseconds timeout = 5s) {
    static const std::regex lengthHeader(R"((?:^|\r\n)[Cc]ontent-[Ll]ength:\s*(\d+))");
    std::smatch match;
    if (!std::regex_search(head_, match, lengthHeader)) return buffer_;
    size_t length = std::stoul(match[1].str());
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (buffer_.size() < length && std::chrono::steady_clock::now() < deadline)
      if (!readSome(fd_.get(), buffer_, 100ms)) break;
    return buffer_.substr(0, std::min(length, buffer_.size()));
  }

  // The next text message, or nullopt after the timeout or once the server closed.
  std::optional<std::string> nextText(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string message;
    for (;;) {
      while (auto frame = takeFrame()) {
        auto [opcode, fin, payload] = *frame;
        if (opcode == 0x8) {
          closed_ = true;
          return std::nullopt;
        }
        if (opcode == 0x9) {
          pong(payload);
          continue;
        }
        if (opcode == 0xA) continue;
        message += payload;  // text (1) or its continuation (0)
        if (fin) return message;
      }
      if (closed_) return std::nullopt;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      if (!readSome(fd_.get(), buffer_, std::min(left, std::chrono::milliseconds(200)))) closed_ = true;
    }
  }

  bool closed() const { return closed_; }

 private:
  struct Frame {
    int opcode;
    bool fin;
    std::string payload;
  };

  std::optional<Frame> takeFrame() {
    if (buffer_.size() < 2) return std::nullopt;
    auto byte = [&](size_t i) { return static_cast<unsigned char>(buffer_[i]); };
    bool fin = (byte(0) & 0x80) != 0;
    int opcode = byte(0) & 0x0f;
    bool masked = (byte(1) & 0x80) != 0;
    uint64_t length = byte(1) & 0x7f;
    size_t offset = 2;
    if (length == 126) {
      if (buffer_.size() < 4) return std::nullopt;
      length = (uint64_t{byte(2)} << 8) | byte(3);
      offset = 4;
    } else if (length == 127) {
      if (buffer_.size() < 10) return std::nullopt;
      length = 0;
      for (size_t i = 2; i < 10; ++i) length = (length << 8) | byte(i);
      offset = 10;
    }
    unsigned char mask[4] = {0, 0, 0, 0};
    if (masked) {
      if (buffer_.size() < offset + 4) return std::nullopt;
      for (size_t i = 0; i < 4; ++i) mask[i] = byte(offset + i);
      offset += 4;
    }
    if (buffer_.size() < offset + length) return std::nullopt;
    std::string payload = buffer_.substr(offset, static_cast<size_t>(length));
    if (masked)
      for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ mask[i % 4]);
    buffer_.erase(0, offset + static_cast<size_t>(length));
    return Frame{opcode, fin, payload};
  }

  // Client frames are masked (RFC 6455 §5.3); control payloads are < 126 bytes.
  void pong(const std::string& payload) {
    const unsigned char mask[4] = {7, 11, 13, 17};
    std::string frame{static_cast<char>(0x8A), static_cast<char>(0x80 | (payload.size() & 0x7f))};
    for (unsigned char m : mask) frame += static_cast<char>(m);
    for (size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ mask[i % 4]);
    sendAll(fd_.get(), frame);
  }

  UniqueFd fd_;
  std::string buffer_;
  std::string head_;
  int status_ = 0;
  bool closed_ = false;
};

const std::set<std::string> kSeedEventTypes = {"container_started", "container_stopped", "container_deleted",
                                               "container_updated"};

// Frames until one of `type` about `runtimeId` arrives (or the timeout); every
// frame on the way must be a seed-004 event: {"type","data":{"id","name","status"}}.
std::optional<Json> awaitSeedEvent(WsClient& ws, const std::string& type, const std::string& runtimeId,
                                   std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto text = ws.nextText(left);
    if (!text) return std::nullopt;
    Json event = Json::parse(*text, nullptr, false);
    INFO("frame: " << *text);
    REQUIRE(event.is_object());
    REQUIRE(event.contains("type"));
    REQUIRE(event.contains("data"));
    CHECK(kSeedEventTypes.count(event["type"].is_string() ? event["type"].get<std::string>() : "") == 1);
    REQUIRE(event["data"].is_object());
    CHECK(isHex(event["data"]["id"], 12));  // the runtime id, not the database id
    CHECK(event["data"]["name"].is_string());
    CHECK(event["data"]["status"].is_string());
    if (event["type"] == type && event["data"]["id"] == runtimeId) return event;
  }
}

}  // namespace

// ============================ dialect A (seeds 001/004) ============================

TEST_CASE("dialect A: start and stop answer the seed's shape; refs by database id, runtime id and name; 409 on the wrong state",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createIdle(service, admin, "alpha");
  const std::string id = made["id"];
  const std::string runtimeId = made["runtime_id"];
  const Json started = {
      {"message", "container started"}, {"id", runtimeId}, {"db_id", id}, {"name", "alpha"}, {"status", "running"}};
  const Json stopped = {
      {"message", "container stopped"}, {"id", runtimeId}, {"db_id", id}, {"name", "alpha"}, {"status", "stopped"}};

  // Each ref form, for start and for stop.
  for (const std::string& ref : {id, runtimeId, std::string("alpha")}) {
    INFO("ref " << ref);
    Reply start = starting(service, id, [&] { return service.post(pathA(ref, "start"), admin); });
    INFO(start.text);
    REQUIRE(start.status == 200);
    CHECK(start.body == started);
    CHECK(contentType(start).rfind("application/json", 0) == 0);
    CHECK(statusOf(service, id) == "running");

    checkError(service.post(pathA(ref, "start"), admin), 409);
    CHECK(statusOf(service, id) == "running");

    Reply stop = service.post(pathA(ref, "stop"), admin);
    INFO(stop.text);
    REQUIRE(stop.status == 200);
    CHECK(stop.body == stopped);
    CHECK(statusOf(service, id) == "stopped");

    checkError(service.post(pathA(ref, "stop"), admin), 409);
    CHECK(statusOf(service, id) == "stopped");
  }

  // A paused container: start is refused (409), stop works (as /api/v1's table says).
  service.operate(admin, id, "start");  // waits for the trap
  service.operate(admin, id, "pause");
  checkError(service.post(pathA("alpha", "start"), admin), 409);
  CHECK(statusOf(service, id) == "paused");
  Reply stopPaused = service.post(pathA("alpha", "stop"), admin);
  CHECK(stopPaused.status == 200);
  CHECK(stopPaused.body == stopped);
  CHECK(statusOf(service, id) == "stopped");

  // The runtime instance was not recreated by any of this.
  CHECK(service.getContainer(id, admin)["runtime_id"] == runtimeId);
}

TEST_CASE("dialect A: an unknown ref is 404 container not found on every route; a token is required", "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createRunning(service, admin, "known");
  const std::string id = made["id"];

  struct Route {
    const char* method;
    const char* operation;  // "" for the container itself
    std::optional<std::string> body;
  };
  const Route routes[] = {
      {"POST", "start", std::nullopt},
      {"POST", "stop", std::nullopt},
      {"DELETE", "", std::nullopt},
      {"PATCH", "", std::string(R"({"name":"renamed"})")},
  };
  // Neither id form nor name of any container; an uppercase 24-hex (400 in /api/v1) is just an unknown name here.
  const std::string unknownRefs[] = {"nosuch", "000000000000", "000000000000000000000000", "0123456789ABCDEF01234567"};
  for (const auto& route : routes) {
    for (const auto& ref : unknownRefs) {
      INFO(route.method << " " << pathA(ref, route.operation));
      checkError(service.call(route.method, pathA(ref, route.operation), admin, route.body), 404, "container not found");
    }
    INFO(route.method << " " << route.operation << " without a token / with a bad one");
    checkError(service.call(route.method, pathA(id, route.operation), "", route.body), 401, "unauthorized");
    checkError(service.call(route.method, pathA(id, route.operation), "garbage", route.body), 401, "unauthorized");
    checkError(service.call(route.method, pathA("known", route.operation), "", route.body), 401, "unauthorized");
  }
  // None of it touched the container.
  Json now = service.getContainer(id, admin);
  CHECK(now["status"] == "running");
  CHECK(now["name"] == "known");
  CHECK(now["pid"] == made["pid"]);
}

TEST_CASE("dialect A: Cookie: session=<token> authenticates as the bearer header does", "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createIdle(service, admin, "cookie");
  const std::string id = made["id"];
  const std::map<std::string, std::string> cookie = {{"Cookie", "session=" + admin}};

  Reply start = starting(service, id, [&] { return service.call("POST", pathA("cookie", "start"), "", std::nullopt, cookie); });
  INFO(start.text);
  CHECK(start.status == 200);
  CHECK(start.body.is_object());
  CHECK(start.body.value("status", "") == "running");
  CHECK(statusOf(service, id) == "running");

  Reply stop = service.call("POST", pathA(made["runtime_id"], "stop"), "", std::nullopt, cookie);
  INFO(stop.text);
  CHECK(stop.status == 200);
  CHECK(statusOf(service, id) == "stopped");

  // A cookie of another name, or a bad session, is no login.
  checkError(service.call("POST", pathA("cookie", "start"), "", std::nullopt, {{"Cookie", "token=" + admin}}), 401,
             "unauthorized");
  checkError(service.call("POST", pathA("cookie", "start"), "", std::nullopt, {{"Cookie", "session=garbage"}}), 401,
             "unauthorized");
  CHECK(statusOf(service, id) == "stopped");
}

TEST_CASE("dialect A: refs resolve among the containers the caller may see; a name in two visible projects is 409",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  TestUser ann = service.createUser("ann");
  TestUser outsider = service.createUser("outsider");
  Json mine = createIdle(service, admin, "twin");
  Json hers = createIdle(service, ann.token, "twin");
  REQUIRE(hers["project_id"] != mine["project_id"]);

  // The admin sees both "twin"s: the name is ambiguous, whatever the route.
  checkError(service.post(pathA("twin", "start"), admin), 409);
  checkError(service.post(pathA("twin", "stop"), admin), 409);
  checkError(service.patch(pathA("twin"), admin, R"({"memory_mb":64})"), 409);
  checkError(service.del(pathA("twin"), admin), 409);
  checkError(service.post(pathB("twin", "start"), admin), 409);
  CHECK(statusOf(service, mine["id"]) == "stopped");
  CHECK(statusOf(service, hers["id"]) == "stopped");

  // Ann sees only hers: the same name is hers alone.
  Reply annStart = starting(service, hers["id"], [&] { return service.post(pathA("twin", "start"), ann.token); });
  INFO(annStart.text);
  CHECK(annStart.status == 200);
  CHECK(annStart.body.is_object());
  CHECK(annStart.body.value("db_id", "") == hers["id"]);
  CHECK(statusOf(service, hers["id"]) == "running");
  CHECK(statusOf(service, mine["id"]) == "stopped");

  // The admin still reaches each one by its ids.
  CHECK(starting(service, mine["id"], [&] { return service.post(pathA(mine["runtime_id"], "start"), admin); }).status == 200);
  CHECK(statusOf(service, mine["id"]) == "running");

  // An outsider sees neither: 404 by every ref form, in both dialects.
  for (const std::string& ref : {hers["id"].get<std::string>(), hers["runtime_id"].get<std::string>(), std::string("twin")}) {
    INFO("outsider, ref " << ref);
    checkError(service.post(pathA(ref, "stop"), outsider.token), 404, "container not found");
    checkError(service.del(pathA(ref), outsider.token), 404, "container not found");
    checkError(service.patch(pathA(ref), outsider.token, R"({"name":"mine-now"})"), 404, "container not found");
    checkError(service.post(pathB(ref, "stop"), outsider.token), 404, "container not found");
  }
  CHECK(statusOf(service, hers["id"]) == "running");

  // Ann may not see the admin's: its ids are unknown to her.
  checkError(service.post(pathA(mine["id"], "stop"), ann.token), 404, "container not found");
  checkError(service.post(pathA(mine["runtime_id"], "stop"), ann.token), 404, "container not found");
  CHECK(statusOf(service, mine["id"]) == "running");

  // A deleted container is invisible: the admin's "twin" gone, the name is ann's alone again.
  service.operate(admin, mine["id"], "stop");
  REQUIRE(service.del(containerPath(mine["id"]), admin).status == 200);
  Reply nowUnique = service.post(pathA("twin", "stop"), admin);
  INFO(nowUnique.text);
  CHECK(nowUnique.status == 200);
  CHECK(nowUnique.body.is_object());
  CHECK(nowUnique.body.value("db_id", "") == hers["id"]);
  CHECK(statusOf(service, hers["id"]) == "stopped");
}

TEST_CASE("dialect A: a viewer is 403 not authorized, an operator may start and stop only, an expired guest is 403",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  TestUser owner = service.createUser("owner");
  TestUser member = service.createUser("member");
  Json made = createIdle(service, owner.token, "shared");
  const std::string id = made["id"];

  grant(service, owner, member, "viewer");
  struct Attempt {
    const char* method;
    const char* operation;
    std::optional<std::string> body;
  };
  const Attempt changes[] = {
      {"POST", "start", std::nullopt},
      {"POST", "stop", std::nullopt},
      {"DELETE", "", std::nullopt},
      {"PATCH", "", std::string(R"({"name":"taken-over"})")},
  };
  // Each attempted where the state would allow it, so only the role refuses.
  for (const auto& attempt : changes) {
    std::string operation = attempt.operation;
    if (operation == "stop") service.operate(admin, id, "start");
    for (const std::string& ref : {id, made["runtime_id"].get<std::string>(), std::string("shared")}) {
      INFO("viewer: " << attempt.method << " " << pathA(ref, attempt.operation));
      checkError(service.call(attempt.method, pathA(ref, attempt.operation), member.token, attempt.body), 403, "not authorized");
    }
    if (operation == "stop") service.operate(admin, id, "stop");
  }
  Json unchanged = service.getContainer(id, admin);
  CHECK(unchanged["status"] == "stopped");
  CHECK(unchanged["name"] == "shared");

  // An operator runs the container but does not change or delete it (owner's permissions).
  grant(service, owner, member, "operator");
  Reply start = starting(service, id, [&] { return service.post(pathA("shared", "start"), member.token); });
  INFO(start.text);
  CHECK(start.status == 200);
  CHECK(statusOf(service, id) == "running");
  checkError(service.patch(pathA("shared"), member.token, R"({"name":"taken-over"})"), 403, "not authorized");
  checkError(service.del(pathA("shared"), member.token), 403, "not authorized");
  Reply stop = service.post(pathA("shared", "stop"), member.token);
  INFO(stop.text);
  CHECK(stop.status == 200);
  CHECK(statusOf(service, id) == "stopped");
  CHECK(service.getContainer(id, admin)["name"] == "shared");

  // A guest past guest_expires_at may change nothing of its own.
  TestUser guest = service.createUser("visitor", "guest");
  Json guestOwn = createIdle(service, guest.token, "guestbox");
  REQUIRE(service.patch("/api/v1/users/" + guest.id, admin, R"({"guest_expires_at":"2001-01-01T00:00:00.000Z"})").status == 200);
  for (const auto& attempt : changes) {
    INFO("expired guest: " << attempt.method << " " << attempt.operation);
    checkError(service.call(attempt.method, pathA("guestbox", attempt.operation), guest.token, attempt.body), 403,
               "guest session expired");
  }
  // In dialect B as well (its text is its own).
  checkError(service.post(pathB("guestbox", "start"), guest.token), 403);
  Json guestNow = service.getContainer(guestOwn["id"], admin);
  CHECK(guestNow["status"] == "stopped");
  CHECK(guestNow["name"] == "guestbox");
}

TEST_CASE("dialect A: DELETE stops a running container and soft-deletes it; afterwards it is 404 in all three APIs",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createRunning(service, admin, "doomed");
  const std::string id = made["id"];
  const std::string runtimeId = made["runtime_id"];

  Reply removed = service.del(pathA("doomed"), admin);
  INFO(removed.text);
  REQUIRE(removed.status == 200);
  CHECK(removed.body == Json{{"message", "container deleted"}, {"id", runtimeId}, {"db_id", id}, {"name", "doomed"}});

  // Gone from every API, by every ref.
  for (const std::string& ref : {id, runtimeId, std::string("doomed")}) {
    INFO("ref " << ref);
    checkError(service.post(pathA(ref, "start"), admin), 404, "container not found");
    checkError(service.post(pathA(ref, "stop"), admin), 404, "container not found");
    checkError(service.patch(pathA(ref), admin, R"({"name":"back"})"), 404, "container not found");
    checkError(service.del(pathA(ref), admin), 404, "container not found");
    checkError(service.post(pathB(ref, "start"), admin), 404, "container not found");
    checkError(service.post(pathB(ref, "restart"), admin), 404, "container not found");
  }
  Reply v1 = service.get(containerPath(id), admin);
  CHECK(v1.status == 404);
  CHECK(v1.code() == "CONTAINER_NOT_FOUND");
  CHECK(service.get("/api/v1/containers", admin).data()["pagination"]["total"] == 0);

  // A soft delete: the audit trail stays, and shows the stop before the delete.
  Json log = statusLog(service, id);
  REQUIRE(log.size() >= 4);
  const Json& last = log[log.size() - 1];
  const Json& beforeLast = log[log.size() - 2];
  CHECK(beforeLast["from_status"] == "running");
  CHECK(beforeLast["to_status"] == "stopped");
  CHECK(last["from_status"] == "stopped");
  CHECK(last["to_status"] == "deleted");
  CHECK(last["metadata"]["operation"] == "delete");
  // Its process is gone.
  CHECK(::kill(made["pid"].get<pid_t>(), 0) != 0);

  // A stopped container deletes the same way; and the name is free for a new one, which the name now reaches.
  Json idle = createIdle(service, admin, "doomed");
  Reply second = service.del(pathA(idle["runtime_id"]), admin);
  INFO(second.text);
  CHECK(second.status == 200);
  CHECK(second.body ==
        Json{{"message", "container deleted"}, {"id", idle["runtime_id"]}, {"db_id", idle["id"]}, {"name", "doomed"}});
  Json third = createIdle(service, admin, "doomed");
  Reply reached = starting(service, third["id"], [&] { return service.post(pathA("doomed", "start"), admin); });
  INFO(reached.text);
  CHECK(reached.status == 200);
  CHECK(reached.body.is_object());
  CHECK(reached.body.value("db_id", "") == third["id"]);
}

TEST_CASE("dialect A: PATCH renames and changes limits live (restarted false); bad input is 400 {error}", "[dialects]") {
  Service service;  // the default tier: memory_mb 16384, cpu_millicores 4000, disk_mb 65536
  const std::string& admin = service.adminToken();
  Json made = createRunning(service, admin, "tuned");
  const std::string id = made["id"];
  const std::string runtimeId = made["runtime_id"];

  Reply updated = service.patch(pathA("tuned"), admin, R"({"name":"tuned-2","memory_mb":128,"cpu_shares":500,"disk_mb":1024})");
  INFO(updated.text);
  REQUIRE(updated.status == 200);
  REQUIRE(updated.body.is_object());
  CHECK(updated.body.value("message", "") == "settings updated");
  CHECK(updated.body.value("restarted", true) == false);
  REQUIRE(updated.body.contains("container"));
  Json container = updated.body["container"];
  CHECK(container["id"] == runtimeId);
  CHECK(container["db_id"] == id);
  CHECK(container["name"] == "tuned-2");
  CHECK(container["image"] == "busybox");
  CHECK(container["status"] == "running");
  CHECK(container["resources"] == Json{{"memory_mb", 128}, {"cpu_shares", 500}, {"disk_mb", 1024}});

  // Live: the same process, the new memory limit in the kernel, the record updated.
  Reply live = service.get(containerPath(id) + "?runtime=true", admin);
  REQUIRE(live.status == 200);
  Json now = live.data();
  CHECK(now["status"] == "running");
  CHECK(now["pid"] == made["pid"]);
  CHECK(now["runtime_id"] == runtimeId);
  CHECK(now["name"] == "tuned-2");
  CHECK(now["resources"]["memory_mb"] == 128);
  CHECK(now["resources"]["cpu_millicores"] == 500);
  CHECK(now["resources"]["disk_mb"] == 1024);
  CHECK(now["runtime_info"]["memory_limit_bytes"] == 128ull * 1024 * 1024);

  // The new name is a ref now, the old one is not.
  checkError(service.patch(pathA("tuned"), admin, R"({"memory_mb":64})"), 404, "container not found");

  // Only the named settings change; the tier's own limits are allowed.
  Reply partial = service.patch(pathA(runtimeId), admin, R"({"memory_mb":16384,"cpu_shares":4000})");
  INFO(partial.text);
  REQUIRE(partial.status == 200);
  REQUIRE(partial.body.is_object());
  CHECK(partial.body.value("restarted", true) == false);
  CHECK(partial.body["container"]["name"] == "tuned-2");
  CHECK(partial.body["container"]["resources"] == Json{{"memory_mb", 16384}, {"cpu_shares", 4000}, {"disk_mb", 1024}});
  Reply onlyMemory = service.patch(pathA(id), admin, R"({"memory_mb":256})");
  INFO(onlyMemory.text);
  REQUIRE(onlyMemory.status == 200);
  REQUIRE(onlyMemory.body.is_object());
  CHECK(onlyMemory.body["container"]["resources"] == Json{{"memory_mb", 256}, {"cpu_shares", 4000}, {"disk_mb", 1024}});
  CHECK(service.get(containerPath(id) + "?runtime=true", admin).data()["runtime_info"]["memory_limit_bytes"] ==
        256ull * 1024 * 1024);

  const std::string bad[] = {
      R"({"memory_mb":"big"})",          // wrong types
      R"({"cpu_shares":"500"})",
      R"({"disk_mb":true})",
      R"({"memory_mb":1.5})",
      R"({"memory_mb":-1})",
      R"({"name":5})",
      R"({"name":null})",
      R"({"colour":"red"})",             // unknown fields (/api/v1's names included)
      R"({"cpu_millicores":500})",
      R"({"resources":{"memory_mb":64}})",
      R"({"name":"bad name"})",          // names: [A-Za-z0-9-], 1..64
      R"({"name":"bad_name"})",
      R"({"name":"bad/name"})",
      R"({"name":""})",
      "{\"name\":\"" + std::string(65, 'a') + "\"}",
      R"({"memory_mb":16385})",          // above the tier
      R"({"cpu_shares":4001})",
      R"({"disk_mb":65537})",
      R"({"name":"fine","memory_mb":99999999})",  // one bad field refuses the whole request
      "not json",                         // not a JSON object
      R"({"name":)",
      "[1,2]",
      "",
  };
  for (const auto& body : bad) {
    INFO("PATCH " << body);
    checkError(service.patch(pathA(id), admin, body), 400);
  }
  // Nothing of it was applied.
  Json after = service.getContainer(id, admin);
  CHECK(after["name"] == "tuned-2");
  CHECK(after["resources"]["memory_mb"] == 256);
  CHECK(after["resources"]["cpu_millicores"] == 4000);
  CHECK(after["resources"]["disk_mb"] == 1024);
  CHECK(after["status"] == "running");
  CHECK(after["pid"] == made["pid"]);
  // A name of exactly 64 characters is fine.
  std::string longest(64, 'b');
  Reply longName = service.patch(pathA(id), admin, Json{{"name", longest}}.dump());
  INFO(longName.text);
  CHECK(longName.status == 200);
  CHECK(service.getContainer(id, admin)["name"] == longest);
}

TEST_CASE("dialect A: starting a container whose runtime instance was removed recreates it, keeping its writable layer",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  // The first run writes /mark in its writable layer; a later run finds it.
  const std::vector<std::string> command = {
      "/bin/sh", "-c",
      "trap 'exit 0' TERM; if [ -e /mark ]; then echo found; cat /mark; else echo kept-data > /mark; echo wrote; fi; "
      "while true; do sleep 0.1; done"};
  Json made = service.createContainer(admin, {{"name", "phoenix"}, {"command", command}});
  const std::string id = made["id"];
  const std::string oldRuntimeId = made["runtime_id"];
  REQUIRE(awaitLogs(service, id, "wrote\n").find("wrote\n") != std::string::npos);  // the file is written, the trap set

  service.operate(admin, id, "stop");
  REQUIRE(statusOf(service, id) == "stopped");
  service.crash();
  service.removeRuntimeInstance(oldRuntimeId);
  service.start();
  REQUIRE(statusOf(service, id) == "stopped");

  Reply recreated = service.post(pathA("phoenix", "start"), admin);
  INFO(recreated.text);
  REQUIRE(recreated.status == 200);
  REQUIRE(recreated.body.is_object());
  Json newRuntimeId = recreated.body.value("id", Json());
  CHECK(isHex(newRuntimeId, 12));
  CHECK(newRuntimeId != oldRuntimeId);
  CHECK(recreated.body == Json{{"message", "container recreated and started"},
                               {"id", newRuntimeId},
                               {"old_id", oldRuntimeId},
                               {"db_id", id},
                               {"name", "phoenix"},
                               {"status", "running"},
                               {"recreated", true},
                               {"volume_kept", true}});

  // The record follows the new instance.
  Json now = service.getContainer(id, admin);
  CHECK(now["status"] == "running");
  CHECK(now["runtime_id"] == newRuntimeId);
  CHECK(now["pid"].is_number_integer());

  // The second run found the first run's file.
  std::string logs = awaitLogs(service, id, "found\nkept-data\n");
  CHECK(logs.find("found\nkept-data\n") != std::string::npos);
  size_t writes = 0;
  for (size_t at = logs.find("wrote\n"); at != std::string::npos; at = logs.find("wrote\n", at + 1)) ++writes;
  CHECK(writes <= 1);  // written once, by the first run (whether its lines are still in the log or not)

  // The audit trail names both instances.
  Json entry = newestLogEntry(service, id);
  CHECK(entry["from_status"] == "stopped");
  CHECK(entry["to_status"] == "running");
  REQUIRE(entry["metadata"].contains("reason"));
  REQUIRE(entry["metadata"]["reason"].is_string());
  std::string reason = entry["metadata"]["reason"];
  CHECK(reason.find(oldRuntimeId) != std::string::npos);
  CHECK(reason.find(newRuntimeId.is_string() ? newRuntimeId.get<std::string>() : "<none>") != std::string::npos);

  // The old runtime id is no ref any more; the new one is, and its start is a plain one again.
  checkError(service.post(pathA(oldRuntimeId, "stop"), admin), 404, "container not found");
  if (newRuntimeId.is_string()) {
    Reply stopAgain = service.post(pathA(newRuntimeId.get<std::string>(), "stop"), admin);
    INFO(stopAgain.text);
    CHECK(stopAgain.status == 200);
    CHECK(stopAgain.body.value("id", "") == newRuntimeId);
    Reply plain = service.post(pathA("phoenix", "start"), admin);
    INFO(plain.text);
    CHECK(plain.status == 200);
    CHECK(plain.body == Json{{"message", "container started"}, {"id", newRuntimeId}, {"db_id", id}, {"name", "phoenix"},
                             {"status", "running"}});
    CHECK(service.getContainer(id, admin)["runtime_id"] == newRuntimeId);
  }
}

TEST_CASE("dialect A: GET /api/containers/events is a WebSocket of seed-004 events for start, stop, update and delete",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createIdle(service, admin, "watched");
  const std::string id = made["id"];
  const std::string runtimeId = made["runtime_id"];

  // Without a token the upgrade is refused with the dialect's 401.
  {
    WsClient anonymous(service.port(), "/api/containers/events", "");
    CHECK(anonymous.status() == 401);
    Json body = Json::parse(anonymous.body(), nullptr, false);
    CHECK(body == Json{{"error", "unauthorized"}});
  }
  // The session cookie is a login here too.
  {
    WsClient byCookie(service.port(), "/api/containers/events", "Cookie: session=" + admin);
    CHECK(byCookie.status() == 101);
  }

  WsClient ws(service.port(), "/api/containers/events", "Authorization: Bearer " + admin);
  INFO("handshake: " << ws.head());
  REQUIRE(ws.status() == 101);
  CHECK(ws.head().find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);  // RFC 6455's example accept key

  struct Step {
    const char* what;
    std::function<Reply()> request;
    const char* type;
    const char* name;
    const char* status;  // nullptr: any
  };
  const Step steps[] = {
      {"start", [&] { return starting(service, id, [&] { return service.post(pathA("watched", "start"), admin); }); },
       "container_started", "watched", "running"},
      {"stop", [&] { return service.post(pathA(runtimeId, "stop"), admin); }, "container_stopped", "watched", "stopped"},
      {"rename", [&] { return service.patch(pathA(id), admin, R"({"name":"watched-2"})"); }, "container_updated", "watched-2",
       "stopped"},
      {"delete", [&] { return service.del(pathA("watched-2"), admin); }, "container_deleted", "watched-2", nullptr},
  };
  for (const auto& step : steps) {
    INFO(step.what);
    Reply reply = step.request();
    INFO(reply.text);
    REQUIRE(reply.status == 200);
    auto event = awaitSeedEvent(ws, step.type, runtimeId);
    REQUIRE(event);
    CHECK((*event)["data"]["name"] == step.name);
    if (step.status) CHECK((*event)["data"]["status"] == step.status);
  }
  CHECK_FALSE(ws.closed());
  CHECK(service.get("/healthz", "").status == 200);
}

// ============================ dialect B (seed 003) ============================

TEST_CASE("dialect B: start, stop, restart, pause and unpause with ?env=1 answer {success:true} and do what they say",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createIdle(service, admin, "bravo");
  const std::string id = made["id"];
  const std::string runtimeId = made["runtime_id"];

  struct Step {
    const char* operation;
    std::string ref;
    const char* status;
  };
  const Step steps[] = {
      {"start", "bravo", "running"},  {"stop", id, "stopped"},        {"restart", runtimeId, "running"},
      {"pause", "bravo", "paused"},   {"unpause", id, "running"},     {"restart", "bravo", "running"},
      {"pause", runtimeId, "paused"}, {"stop", "bravo", "stopped"},   {"start", runtimeId, "running"},
  };
  for (const auto& step : steps) {
    INFO(step.operation << " by " << step.ref);
    std::string operation = step.operation;
    bool starts = operation == "start" || operation == "restart";
    Reply reply = starts ? starting(service, id, [&] { return service.post(pathB(step.ref, step.operation), admin); })
                         : service.post(pathB(step.ref, step.operation), admin);
    checkSuccessB(reply);
    CHECK(contentType(reply).rfind("application/json", 0) == 0);
    CHECK(statusOf(service, id) == step.status);
  }
  // A restart of a running container is a new init.
  Json pid = service.getContainer(id, admin)["pid"];
  CHECK(pid.is_number_integer());
  checkSuccessB(starting(service, id, [&] { return service.post(pathB("bravo", "restart"), admin); }));
  Json now = service.getContainer(id, admin);
  CHECK(now["status"] == "running");
  CHECK(now["pid"] != pid);
  CHECK(now["runtime_id"] == runtimeId);
}

TEST_CASE("dialect B: unknown container 404, wrong state 409, unknown env 403, bad env 400, no token 401, unknown operation 404",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json stopped = createIdle(service, admin, "resting");
  Json running = createRunning(service, admin, "busy");
  Json paused = createRunning(service, admin, "frozen");
  service.operate(admin, paused["id"], "pause");

  struct Row {
    std::string path;
    std::string token;
    int status;
    const char* text;  // "" : any
  };
  const std::string none;
  const Row rows[] = {
      {pathB("nosuch", "start"), admin, 404, "container not found"},
      {pathB("000000000000", "stop"), admin, 404, "container not found"},
      {pathB("000000000000000000000000", "pause"), admin, 404, "container not found"},
      {pathB("nosuch", "unpause"), admin, 404, "container not found"},
      {pathB("nosuch", "restart"), admin, 404, "container not found"},
      // The state refuses.
      {pathB("resting", "pause"), admin, 409, ""},
      {pathB("resting", "unpause"), admin, 409, ""},
      {pathB("resting", "stop"), admin, 409, ""},
      {pathB("busy", "unpause"), admin, 409, ""},
      {pathB("busy", "start"), admin, 409, ""},
      {pathB("frozen", "pause"), admin, 409, ""},
      {pathB("frozen", "start"), admin, 409, ""},
      {pathB("frozen", "restart"), admin, 409, ""},
      // Environments: 1 is this host, any other is refused; a malformed one is a bad request.
      {pathB("resting", "start", "2"), admin, 403, ""},
      {pathB("busy", "stop", "99"), admin, 403, ""},
      {pathB("resting", "start", ""), admin, 400, ""},
      {pathB("resting", "start", "abc"), admin, 400, ""},
      {pathB("busy", "stop", "1x"), admin, 400, ""},
      // No token, a bad one.
      {pathB("resting", "start"), none, 401, ""},
      {pathB("busy", "stop"), "garbage", 401, ""},
      // Operations the seed does not have.
      {pathB("busy", "explode"), admin, 404, ""},
      {pathB("busy", "resume"), admin, 404, ""},
      {pathB("busy", "force-stop"), admin, 404, ""},
  };
  for (const auto& row : rows) {
    INFO("POST " << row.path << (row.token.empty() ? " (no token)" : ""));
    checkError(service.post(row.path, row.token), row.status, row.text);
  }
  // Without ?env= it is dialect A, which has no pause: still the dialects' error shape, nothing done.
  Reply noPauseInA = service.post(pathA("busy", "pause"), admin);
  INFO(noPauseInA.text);
  CHECK((noPauseInA.status == 404 || noPauseInA.status == 405));
  checkError(noPauseInA, noPauseInA.status);

  // Nothing was changed by any of it.
  CHECK(statusOf(service, stopped["id"]) == "stopped");
  CHECK(statusOf(service, running["id"]) == "running");
  CHECK(statusOf(service, paused["id"]) == "paused");
  CHECK(service.getContainer(running["id"], admin)["pid"] == running["pid"]);
}

TEST_CASE("dialect B: a viewer is 403 for all five operations, an operator may do all five (pause = stop, unpause = start)",
          "[dialects]") {
  Service service;
  TestUser owner = service.createUser("owner");
  TestUser member = service.createUser("member");
  TestUser outsider = service.createUser("outsider");
  Json made = createIdle(service, owner.token, "team");
  const std::string id = made["id"];

  // From each state in which the operation is allowed, so only the role can refuse it.
  struct Step {
    const char* operation;
    const char* from;
    const char* to;
  };
  const Step steps[] = {
      {"start", "stopped", "running"}, {"pause", "running", "paused"}, {"unpause", "paused", "running"},
      {"restart", "running", "running"}, {"stop", "running", "stopped"},
  };

  grant(service, owner, member, "viewer");
  for (const auto& step : steps) {
    INFO("viewer: " << step.operation << " from " << step.from);
    REQUIRE(statusOf(service, id) == step.from);
    checkError(service.post(pathB("team", step.operation), member.token), 403);
    checkError(service.post(pathB("team", step.operation), outsider.token), 404, "container not found");
    CHECK(statusOf(service, id) == step.from);
    // The owner moves it on to the next step's state.
    std::string operation = step.operation;
    Reply moved = operation == "start" || operation == "restart"
                      ? starting(service, id, [&] { return service.post(pathB("team", step.operation), owner.token); })
                      : service.post(pathB("team", step.operation), owner.token);
    checkSuccessB(moved);
    REQUIRE(statusOf(service, id) == step.to);
  }

  grant(service, owner, member, "operator");
  const std::string runtimeId = made["runtime_id"];
  for (const auto& step : steps) {
    INFO("operator: " << step.operation << " from " << step.from);
    REQUIRE(statusOf(service, id) == step.from);
    std::string operation = step.operation;
    Reply reply = operation == "start" || operation == "restart"
                      ? starting(service, id, [&] { return service.post(pathB(runtimeId, step.operation), member.token); })
                      : service.post(pathB(runtimeId, step.operation), member.token);
    checkSuccessB(reply);
    CHECK(statusOf(service, id) == step.to);
  }
  // The operator's operations are its own in the audit trail.
  Json entry = newestLogEntry(service, id);
  CHECK(entry["triggered_by"] == member.id);
  CHECK(entry["metadata"]["operation"] == "stop");
}

TEST_CASE("dialect B: Cookie: session=<token> authenticates, also among other cookies", "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createIdle(service, admin, "biscuit");
  const std::string id = made["id"];

  Reply start = starting(service, id, [&] {
    return service.call("POST", pathB("biscuit", "start"), "", std::nullopt, {{"Cookie", "session=" + admin}});
  });
  checkSuccessB(start);
  CHECK(statusOf(service, id) == "running");

  Reply pause = service.call("POST", pathB("biscuit", "pause"), "", std::nullopt,
                             {{"Cookie", "theme=dark; session=" + admin + "; lang=en"}});
  checkSuccessB(pause);
  CHECK(statusOf(service, id) == "paused");

  checkError(service.call("POST", pathB("biscuit", "unpause"), "", std::nullopt, {{"Cookie", "session=garbage"}}), 401);
  checkError(service.call("POST", pathB("biscuit", "unpause"), "", std::nullopt, {{"Cookie", "theme=dark"}}), 401);
  CHECK(statusOf(service, id) == "paused");
}

// ============================ all three APIs ============================

TEST_CASE("dialects: one container driven through dialect A, dialect B and /api/v1 has every transition in its status log",
          "[dialects]") {
  Service service;
  const std::string& admin = service.adminToken();
  Json made = createIdle(service, admin, "relay");
  const std::string id = made["id"];
  const std::string runtimeId = made["runtime_id"];

  Reply aStart = starting(service, id, [&] { return service.post(pathA("relay", "start"), admin); });
  INFO(aStart.text);
  REQUIRE(aStart.status == 200);
  REQUIRE(statusOf(service, id) == "running");

  checkSuccessB(service.post(pathB(runtimeId, "pause"), admin));
  REQUIRE(statusOf(service, id) == "paused");

  checkSuccessB(service.post(pathB(id, "unpause"), admin));
  REQUIRE(statusOf(service, id) == "running");

  service.operate(admin, id, "stop");
  REQUIRE(statusOf(service, id) == "stopped");

  checkSuccessB(starting(service, id, [&] { return service.post(pathB("relay", "start"), admin); }));
  REQUIRE(statusOf(service, id) == "running");

  Reply aStop = service.post(pathA(id, "stop"), admin);
  INFO(aStop.text);
  REQUIRE(aStop.status == 200);
  REQUIRE(statusOf(service, id) == "stopped");

  struct Expected {
    const char* from;
    const char* to;
    const char* operation;
  };
  const Expected expected[] = {
      {"creating", "stopped", "create"}, {"stopped", "running", "start"}, {"running", "paused", "pause"},
      {"paused", "running", "resume"},   {"running", "stopped", "stop"},  {"stopped", "running", "start"},
      {"running", "stopped", "stop"},
  };
  Json log = statusLog(service, id);
  INFO(log.dump(2));
  REQUIRE(log.size() == std::size(expected));
  for (size_t i = 0; i < std::size(expected); ++i) {
    INFO("entry " << i);
    CHECK(log[i]["from_status"] == expected[i].from);
    CHECK(log[i]["to_status"] == expected[i].to);
    CHECK(log[i]["metadata"]["operation"] == expected[i].operation);
    CHECK(log[i]["triggered_by"] == service.adminId());
    CHECK(log[i]["container_id"] == id);
    if (i > 0) CHECK(log[i - 1]["id"] < log[i]["id"]);
  }
  // The same instance all along.
  CHECK(service.getContainer(id, admin)["runtime_id"] == runtimeId);
}
