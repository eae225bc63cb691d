// The event streams (API.md §8, issue 13) against the real berthd: the
// events of every operation, replay with Last-Event-ID and ?since= (also
// across kill -9), visibility, bad input, many subscribers, and the same
// events over a WebSocket. The clients are raw sockets written here.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.hpp"
#include "common/unique_fd.hpp"
#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;
using namespace std::chrono_literals;

namespace {

struct Event {
  std::string id;
  std::string type;
  Json data;  // the whole data: line: {"type","data","time"}
};

// An SSE client on a raw socket.
class SseClient {
 public:
  SseClient(const Service& service, const std::string& token, const std::string& query = "",
            const std::string& lastEventId = "")
      : fd_(connectTo(service.port())) {
    std::string request = "GET /api/v1/events" + query + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                          token + "\r\nAccept: text/event-stream\r\n";
    if (!lastEventId.empty()) request += "Last-Event-ID: " + lastEventId + "\r\n";
    sendAll(fd_.get(), request + "\r\n");
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (buffer_.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline)
      if (!readSome(fd_.get(), buffer_, 100ms)) break;
    size_t end = buffer_.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    head_ = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    status_ = std::stoi(head_.substr(9, 3));
  }

  int status() const { return status_; }
  const std::string& head() const { return head_; }
  std::string& raw() { return buffer_; }

  // The next event (comments and retry skipped), or nullopt after the timeout.
  std::optional<Event> next(std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t end;
      while ((end = buffer_.find("\n\n")) != std::string::npos) {
        std::string block = buffer_.substr(0, end);
        buffer_.erase(0, end + 2);
        Event event;
        bool hasData = false;
        size_t start = 0;
        while (start <= block.size()) {
          size_t lineEnd = block.find('\n', start);
          std::string line = block.substr(start, lineEnd == std::string::npos ? std::string::npos : lineEnd - start);
          if (line.rfind("id: ", 0) == 0) event.id = line.substr(4);
          if (line.rfind("event: ", 0) == 0) event.type = line.substr(7);
          if (line.rfind("data: ", 0) == 0) {
            event.data = Json::parse(line.substr(6));
            hasData = true;
          }
          if (lineEnd == std::string::npos) break;
          start = lineEnd + 1;
        }
        if (hasData) return event;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      if (!readSome(fd_.get(), buffer_, std::min(left, std::chrono::milliseconds(200)))) {
        closed_ = true;
        if (buffer_.find("\n\n") == std::string::npos) return std::nullopt;
      }
    }
  }

  // Events until `count` arrived or the timeout passed.
  std::vector<Event> take(size_t count, std::chrono::milliseconds timeout = 10s) {
    std::vector<Event> events;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (events.size() < count) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto event = next(left);
      if (!event) break;
      events.push_back(*event);
    }
    return events;
  }

  bool closed() const { return closed_; }

 private:
  UniqueFd fd_;
  std::string buffer_;
  std::string head_;
  int status_ = 0;
  bool closed_ = false;
};

std::vector<std::string> typesOf(const std::vector<Event>& events) {
  std::vector<std::string> types;
  for (const auto& event : events) types.push_back(event.type);
  return types;
}

void checkIncreasing(const std::vector<Event>& events) {
  for (size_t i = 1; i < events.size(); ++i) CHECK(events[i - 1].id < events[i].id);
}

}  // namespace

TEST_CASE("events: every operation's events in order, with ids, types and data") {
  Service service;
  SseClient stream(service, service.adminToken());
  REQUIRE(stream.status() == 200);
  CHECK(stream.head().find("Content-Type: text/event-stream") != std::string::npos);
  CHECK(stream.raw().find("retry: ") != std::string::npos);  // sent once, first

  Json created = service.createContainer(service.adminToken(),
                                         Json{{"name", "web"}, {"command", kTermInit}, {"autostart", false}});
  std::string id = created["id"];
  size_t traps = service.trapsSet(id);
  service.operate(service.adminToken(), id, "start");
  service.awaitTrap(created, traps);
  service.operate(service.adminToken(), id, "pause");
  service.operate(service.adminToken(), id, "resume");
  traps = service.trapsSet(id);
  service.operate(service.adminToken(), id, "restart");
  service.awaitTrap(created, traps);
  service.operate(service.adminToken(), id, "stop");
  REQUIRE(service.patch(containerPath(id), service.adminToken(), R"({"name":"web2"})").status == 200);
  REQUIRE(service.del(containerPath(id), service.adminToken()).status == 200);

  auto events = stream.take(9);
  REQUIRE(events.size() == 9);
  CHECK(typesOf(events) == std::vector<std::string>{"container_created", "container_started", "container_paused",
                                                    "container_resumed", "container_stopped", "container_started",
                                                    "container_stopped", "container_updated", "container_deleted"});
  checkIncreasing(events);
  for (const auto& event : events) {
    CHECK(event.data["type"] == event.type);
    CHECK(event.data["data"]["id"] == id);
    CHECK(event.data["time"].get<std::string>().size() == 24);
  }
  CHECK(events[2].data["data"]["status"] == "paused");
  CHECK(events[7].data["data"]["name"] == "web2");
  CHECK(events[8].data["data"]["status"] == "deleted");
  // The status-log entries' ids are the events' ids where there is one.
  Reply log = service.get(containerPath(id) + "/status-logs?sort_by=created_at&sort_order=asc&limit=100",
                          service.adminToken());
  REQUIRE(log.status == 200);
  CHECK(log.data()["logs"][0]["id"] == events[0].id);
  CHECK(log.data()["logs"][1]["id"] == events[1].id);
}

TEST_CASE("events: an init that exits by itself is container_died with its exit code; expiry is container_expired") {
  Service service;
  SseClient stream(service, service.adminToken(), "?type=container_died,container_expired");
  REQUIRE(stream.status() == 200);
  Json quits = service.createContainer(service.adminToken(),
                                       Json{{"name", "quits"}, {"command", {"/bin/sh", "-c", "sleep 0.2; exit 3"}}});
  auto died = stream.next(10s);
  REQUIRE(died);
  CHECK(died->type == "container_died");
  CHECK(died->data["data"]["id"] == quits["id"]);
  CHECK(died->data["data"]["exit_code"] == 3);

  // Over its memory limit: the OOM killer ends it, and the stream says so before the death.
  Json hungry = service.createContainer(
      service.adminToken(), Json{{"name", "hungry"},
                                 {"resources", {{"memory_mb", 8}}},
                                 {"command", {"/bin/sh", "-c", "x=0123456789abcdef; while :; do x=$x$x; done"}}});
  SseClient oomStream(service, service.adminToken(), "?type=container_oom,container_died&container_id=" +
                                                        hungry["id"].get<std::string>(), died->id);
  auto oom = oomStream.take(2, 20s);
  REQUIRE(oom.size() == 2);
  CHECK(oom[0].type == "container_oom");
  CHECK(oom[1].type == "container_died");
  CHECK(oom[1].data["data"]["oom_killed"] == true);
  CHECK(oom[1].data["data"]["exit_code"] == 137);
  CHECK(oom[0].id < oom[1].id);

  std::string soon = formatIsoMillis(nowMillis() + 1500);
  Json brief = service.createContainer(service.adminToken(),
                                       Json{{"name", "brief"}, {"command", kTermInit}, {"expires_at", soon}});
  // The first stream saw the OOM death too (it asked for every container_died).
  auto expired = stream.next(10s);
  while (expired && expired->data["data"]["id"] != brief["id"]) expired = stream.next(10s);
  REQUIRE(expired);
  CHECK(expired->type == "container_expired");
  CHECK(expired->data["data"]["id"] == brief["id"]);
  CHECK(expired->data["data"]["status"] == "expired");
}

TEST_CASE("events: replay with Last-Event-ID and ?since= gives exactly what came after, also across SIGTERM and kill -9") {
  Service service;
  SseClient live(service, service.adminToken());
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i)
    ids.push_back(service.createContainer(service.adminToken(),
                                          Json{{"name", "c" + std::to_string(i)}, {"autostart", false}})["id"]);
  auto first = live.take(4);
  REQUIRE(first.size() == 4);

  SseClient byHeader(service, service.adminToken(), "", first[1].id);
  auto replayed = byHeader.take(2);
  REQUIRE(replayed.size() == 2);
  CHECK(replayed[0].id == first[2].id);
  CHECK(replayed[1].id == first[3].id);
  CHECK_FALSE(byHeader.next(300ms));  // nothing more, no duplicates

  SseClient byQuery(service, service.adminToken(), "?since=" + first[0].id);
  auto fromQuery = byQuery.take(3);
  REQUIRE(fromQuery.size() == 3);
  CHECK(fromQuery[0].id == first[1].id);

  // Committed before a SIGTERM and before a kill -9, and after each start:
  // a client with its last id gets all of it, in order, once.
  service.createContainer(service.adminToken(), Json{{"name", "before-term"}, {"autostart", false}});
  service.restart();
  service.createContainer(service.adminToken(), Json{{"name", "after-term"}, {"autostart", false}});
  service.crash();
  service.start();
  service.createContainer(service.adminToken(), Json{{"name", "after-crash"}, {"autostart", false}});
  SseClient reconnected(service, service.adminToken(), "", first[3].id);
  auto missed = reconnected.take(3);
  REQUIRE(missed.size() == 3);
  CHECK(missed[0].data["data"]["name"] == "before-term");
  CHECK(missed[1].data["data"]["name"] == "after-term");
  CHECK(missed[2].data["data"]["name"] == "after-crash");
  for (const auto& event : missed) CHECK(event.type == "container_created");
  CHECK(missed[0].id > first[3].id);
  checkIncreasing(missed);
  CHECK_FALSE(reconnected.next(300ms));

  // An id newer than the newest is accepted and waits.
  SseClient ahead(service, service.adminToken(), "?since=ffffffffffffffffffffffff");
  CHECK(ahead.status() == 200);
  CHECK_FALSE(ahead.next(300ms));
}

TEST_CASE("events: a caller sees only the events of containers in its projects") {
  Service service;
  TestUser alice = service.createUser("alice");
  SseClient aliceStream(service, alice.token);
  SseClient adminStream(service, service.adminToken());
  service.createContainer(service.adminToken(), Json{{"name", "admins"}, {"autostart", false}});
  Json hers = service.createContainer(alice.token, Json{{"name", "hers"}, {"autostart", false}});
  auto seenByAlice = aliceStream.take(1);
  REQUIRE(seenByAlice.size() == 1);
  CHECK(seenByAlice[0].data["data"]["id"] == hers["id"]);
  CHECK_FALSE(aliceStream.next(300ms));
  CHECK(adminStream.take(2).size() == 2);  // an admin sees every project

  // Filtered by container.
  SseClient onlyHers(service, service.adminToken(), "?container_id=" + hers["id"].get<std::string>());
  REQUIRE(service.del(containerPath(hers["id"]), alice.token).status == 200);
  auto deleted = onlyHers.take(1);
  REQUIRE(deleted.size() == 1);
  CHECK(deleted[0].type == "container_deleted");
}

TEST_CASE("events: malformed ids and unknown types are 400 before the stream starts") {
  Service service;
  for (std::string query : {"?since=xyz", "?since=0123456789ABCDEF01234567", "?type=container_exploded",
                            "?type=container_started,", "?container_id=nope", "?since=1&since=2", "?bogus=1"}) {
    Reply reply = service.get("/api/v1/events" + query, service.adminToken());
    INFO(query);
    CHECK(reply.status == 400);
  }
  Reply badHeader = service.call("GET", "/api/v1/events", service.adminToken(), std::nullopt, {{"Last-Event-ID", "42"}});
  CHECK(badHeader.status == 400);
  CHECK(service.get("/api/v1/events", "").status == 401);
  // A WebSocket upgrade without a key, or with the wrong version.
  Reply noKey = service.call("GET", "/api/v1/events/ws", service.adminToken(), std::nullopt,
                             {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "13"}});
  CHECK(noKey.status == 400);
  Reply badVersion = service.call("GET", "/api/v1/events/ws", service.adminToken(), std::nullopt,
                                  {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Version", "8"},
                                   {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}});
  CHECK(badVersion.status == 400);
}

TEST_CASE("events: 200 subscribers at once each get the event; the service keeps answering") {
  Service service;
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < 200; ++i) {
    streams.push_back(std::make_unique<SseClient>(service, service.adminToken()));
    REQUIRE(streams.back()->status() == 200);
  }
  CHECK(service.get("/healthz", "").status == 200);
  Json made = service.createContainer(service.adminToken(), Json{{"name", "one"}, {"autostart", false}});
  for (auto& stream : streams) {
    auto event = stream->next(5s);
    REQUIRE(event);
    CHECK(event->data["data"]["id"] == made["id"]);
  }
}

TEST_CASE("events over a WebSocket: the handshake, one text frame per event with its id, a clean close") {
  Service service;
  UniqueFd fd = connectTo(service.port());
  sendAll(fd.get(), "GET /api/v1/events/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                        service.adminToken() +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  std::string buffer;
  for (int i = 0; i < 50 && buffer.find("\r\n\r\n") == std::string::npos; ++i) REQUIRE(readSome(fd.get(), buffer, 100ms));
  size_t headEnd = buffer.find("\r\n\r\n");
  REQUIRE(headEnd != std::string::npos);
  std::string head = buffer.substr(0, headEnd);
  buffer.erase(0, headEnd + 4);
  CHECK(head.rfind("HTTP/1.1 101", 0) == 0);
  CHECK(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") != std::string::npos);  // RFC 6455's example accept key

  Json made = service.createContainer(service.adminToken(), Json{{"name", "ws"}, {"autostart", false}});
  // A server frame: FIN + text, an unmasked length (7-bit or 16-bit here), the payload.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::optional<std::string> payload;
  while (!payload && std::chrono::steady_clock::now() < deadline) {
    if (buffer.size() >= 2) {
      auto opcode = static_cast<unsigned char>(buffer[0]) & 0x0f;
      size_t length = static_cast<unsigned char>(buffer[1]) & 0x7f;
      size_t offset = 2;
      if (length == 126 && buffer.size() >= 4) {
        length = (static_cast<unsigned char>(buffer[2]) << 8) | static_cast<unsigned char>(buffer[3]);
        offset = 4;
      }
      if (length < 126 || offset == 4) {
        if (buffer.size() >= offset + length) {
          REQUIRE(opcode == 1);
          payload = buffer.substr(offset, length);
          buffer.erase(0, offset + length);
          break;
        }
      }
    }
    REQUIRE(readSome(fd.get(), buffer, 100ms));
  }
  REQUIRE(payload);
  Json event = Json::parse(*payload);
  CHECK(event["type"] == "container_created");
  CHECK(event["id"].get<std::string>().size() == 24);
  CHECK(event["data"]["id"] == made["id"]);

  // A masked close from the client (code 1000) is answered with a close, then the server hangs up.
  const unsigned char mask[4] = {1, 2, 3, 4};
  std::string close{'\x88', '\x82', '\x01', '\x02', '\x03', '\x04'};
  close += static_cast<char>(0x03 ^ mask[0]);
  close += static_cast<char>(0xe8 ^ mask[1]);
  sendAll(fd.get(), close);
  std::string rest;
  bool open = true;
  for (int i = 0; i < 50 && open; ++i) open = readSome(fd.get(), rest, 100ms);
  REQUIRE_FALSE(open);
  REQUIRE(rest.size() >= 4);
  CHECK(static_cast<unsigned char>(rest[0]) == 0x88);
  CHECK(static_cast<unsigned char>(rest[2]) == 0x03);
  CHECK(static_cast<unsigned char>(rest[3]) == 0xe8);
  CHECK(service.get("/healthz", "").status == 200);
}

TEST_CASE("durability host and process: a kill -9 right after pauses, a resume and a force-stop loses none of them") {
  std::string mode = GENERATE(std::string("host"), std::string("process"));
  INFO("durability: " << mode);
  Service service(ServiceOptions{.configYaml = "durability: " + mode + "\n"});
  const std::string& token = service.adminToken();
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i)
    ids.push_back(service.createContainer(token, Json{{"name", "d" + std::to_string(i)}, {"command", kTermInit}})["id"]);
  for (const auto& id : ids) REQUIRE(service.waitForStatus(id, "running")["status"] == "running");

  // The newest event so far is the last start's, carrying its entry's id.
  auto newestEntry = [&](const std::string& id) {
    Reply log = service.get(containerPath(id) + "/status-logs?limit=1&sort_order=desc&sort_by=created_at", token);
    REQUIRE(log.status == 200);
    REQUIRE(log.data()["logs"].size() == 1);
    return log.data()["logs"][0];
  };
  std::string before = newestEntry(ids[2])["id"];
  REQUIRE(service.operate(token, ids[0], "pause").status == 200);
  REQUIRE(service.operate(token, ids[1], "pause").status == 200);
  REQUIRE(service.operate(token, ids[1], "resume").status == 200);
  REQUIRE(service.operate(token, ids[2], "force-stop").status == 200);
  service.crash();  // at once: in process mode before the background flush
  service.start();

  const std::vector<std::pair<std::string, std::string>> expected = {
      {"paused", "pause"}, {"running", "resume"}, {"stopped", "force-stop"}};
  std::vector<std::string> entryIds;
  for (size_t i = 0; i < ids.size(); ++i) {
    CHECK(service.getContainer(ids[i], token)["status"] == expected[i].first);
    Json entry = newestEntry(ids[i]);
    CHECK(entry["metadata"]["operation"] == expected[i].second);
    entryIds.push_back(entry["id"]);
  }
  Reply pausedThenResumed = service.get(containerPath(ids[1]) + "/status-logs?sort_order=asc&sort_by=created_at", token);
  REQUIRE(pausedThenResumed.status == 200);
  const auto& logs = pausedThenResumed.data()["logs"];
  REQUIRE(logs.size() >= 2);
  CHECK(logs[logs.size() - 2]["metadata"]["operation"] == "pause");

  // The events written with them are all there, in order, once, with their entries' ids.
  SseClient replay(service, token, "?since=" + before);
  auto replayed = replay.take(4);
  REQUIRE(replayed.size() == 4);
  CHECK(typesOf(replayed) == std::vector<std::string>{"container_paused", "container_paused", "container_resumed",
                                                      "container_stopped"});
  CHECK(replayed[0].id == entryIds[0]);
  CHECK(replayed[2].id == entryIds[1]);
  CHECK(replayed[3].id == entryIds[2]);
  checkIncreasing(replayed);
  CHECK_FALSE(replay.next(300ms));
}
