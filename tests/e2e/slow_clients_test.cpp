// Slow and idle clients against the connection gate (api/connection_gate.*):
// sockets that send nothing, trickle a header or a body, or stay open after a
// request must not take workers from legitimate requests; the header, body
// and keep-alive deadlines close them; a client address past its connection
// cap is answered 503. Loopback only, a few hundred sockets, seconds.
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "common/unique_fd.hpp"
#include "e2e/raw_socket.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Timed {
  int status = 0;  // 0: no answer within the client's 5 s
  double ms = 0;
};

// One request on a fresh connection, as a new client would, bounded to 5 s.
Timed timedGet(int port, const std::string& path, const std::string& token = {}) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5s);
  client.set_read_timeout(5s);
  httplib::Headers headers;
  if (!token.empty()) headers.emplace("Authorization", "Bearer " + token);
  auto start = Clock::now();
  auto answer = client.Get(path.c_str(), headers);
  Timed timed;
  timed.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  if (answer) timed.status = answer->status;
  return timed;
}

// Everything the service sends until it closes the connection (or `limit` passes).
struct Ending {
  std::string received;
  bool closed = false;
  std::chrono::milliseconds after{0};
};
Ending readUntilClosed(int fd, std::chrono::milliseconds limit) {
  Ending ending;
  auto start = Clock::now();
  while (Clock::now() - start < limit) {
    if (!readSome(fd, ending.received, 100ms)) {
      ending.closed = true;
      break;
    }
  }
  ending.after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  return ending;
}

// The JSON body of a raw HTTP answer.
Json bodyOf(const std::string& answer) {
  size_t start = answer.find("\r\n\r\n");
  if (start == std::string::npos) return nullptr;
  return Json::parse(answer.substr(start + 4), nullptr, false);
}

size_t occurrences(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++count;
  return count;
}

const std::string kHealthz = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

}  // namespace

TEST_CASE("silent, trickling and idle keep-alive connections hold no worker: legitimate requests keep answering") {
  // Four workers against 340 connections: each used to hold a worker while it
  // trickled (the read timeout bounds each recv, not the header).
  Service service({.configYaml = "http_workers: 4\nmax_connections_per_client: 0\nheader_timeout_s: 60\n"
                                 "keep_alive_timeout_s: 60\n"});
  const std::string& admin = service.adminToken();
  Json container = service.createContainer(admin, {{"name", "probe"}, {"autostart", false}});
  std::string containerUrl = containerPath(container.at("id"));

  std::vector<UniqueFd> silent;
  std::vector<UniqueFd> trickling;
  std::vector<UniqueFd> kept;
  for (int i = 0; i < 150; ++i) silent.push_back(connectTo(service.port()));
  for (int i = 0; i < 150; ++i) {
    trickling.push_back(connectTo(service.port()));
    sendAll(trickling.back().get(), "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
  }
  for (int i = 0; i < 40; ++i) {
    kept.push_back(connectTo(service.port()));
    sendAll(kept.back().get(), kHealthz);
    std::string answer;
    for (int tries = 0; tries < 50 && answer.find("\"ok\"") == std::string::npos; ++tries)
      REQUIRE(readSome(kept.back().get(), answer, 100ms));
    REQUIRE(answer.rfind("HTTP/1.1 200", 0) == 0);
  }

  int asked = 0;
  double worstMs = 0;
  auto until = Clock::now() + 3s;
  while (Clock::now() < until) {
    for (const UniqueFd& fd : trickling) sendAll(fd.get(), "a");  // a byte each round: never idle
    for (const auto& [path, token] : {std::pair{std::string("/healthz"), std::string()}, std::pair{containerUrl, admin}}) {
      Timed answer = timedGet(service.port(), path, token);
      INFO(path << " after " << answer.ms << " ms");
      CHECK(answer.status == 200);
      worstMs = std::max(worstMs, answer.ms);
      ++asked;
    }
    std::this_thread::sleep_for(200ms);
  }
  CHECK(asked >= 8);
  // Orders of magnitude on a loaded host: milliseconds, never the seconds of a queue behind held workers.
  CHECK(worstMs < 2000);

  // Every one of them is still open and served once its request is whole.
  sendAll(trickling.front().get(), "\r\n\r\n");
  sendAll(kept.front().get(), kHealthz);
  sendAll(silent.front().get(), kHealthz);
  for (int fd : {trickling.front().get(), kept.front().get(), silent.front().get()}) {
    std::string answer;
    for (int tries = 0; tries < 50 && answer.find("\"ok\"") == std::string::npos; ++tries)
      REQUIRE(readSome(fd, answer, 100ms));
    CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  }
}

TEST_CASE("the whole header, the body's progress and an idle keep-alive connection have deadlines") {
  Service service({.configYaml = "header_timeout_s: 1\nbody_timeout_s: 1\nkeep_alive_timeout_s: 1\n"});
  auto silent = connectTo(service.port());
  auto trickler = connectTo(service.port());
  sendAll(trickler.get(), "GET /healthz HTTP/1.1\r\n");
  auto kept = connectTo(service.port());
  sendAll(kept.get(), kHealthz);
  auto uploader = connectTo(service.port());
  sendAll(uploader.get(),
          "POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          "Content-Length: 1000\r\n\r\n{");

  // The trickler and the uploader send a byte every 100 ms: a timeout per recv would never fire.
  std::string trickled;
  std::string uploaded;
  std::string keptAnswer;
  std::string silentAnswer;
  bool tricklerClosed = false, uploaderClosed = false, keptClosed = false, silentClosed = false;
  auto tricklerAfter = 0ms;
  auto start = Clock::now();
  while (Clock::now() - start < 8s && !(tricklerClosed && uploaderClosed && keptClosed && silentClosed)) {
    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    if (!tricklerClosed) {
      (void)::send(trickler.get(), "X", 1, MSG_NOSIGNAL);
      tricklerClosed = !readSome(trickler.get(), trickled, 25ms);
      if (tricklerClosed) tricklerAfter = elapsed;
    }
    if (!uploaderClosed) {
      (void)::send(uploader.get(), " ", 1, MSG_NOSIGNAL);
      uploaderClosed = !readSome(uploader.get(), uploaded, 25ms);
    }
    if (!keptClosed) keptClosed = !readSome(kept.get(), keptAnswer, 25ms);
    if (!silentClosed) silentClosed = !readSome(silent.get(), silentAnswer, 25ms);
  }
  INFO("trickler: " << trickled);
  CHECK(tricklerClosed);
  CHECK(trickled.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(bodyOf(trickled).value("message", "").find("header_timeout_s") != std::string::npos);
  CHECK(tricklerAfter >= 900ms);  // the deadline, not an early cut
  INFO("uploader: " << uploaded);
  CHECK(uploaderClosed);
  CHECK(uploaded.rfind("HTTP/1.1 408", 0) == 0);
  CHECK(bodyOf(uploaded).value("message", "").find("body_timeout_s") != std::string::npos);
  // Kept alive: its one answer, then closed once idle; a silent one is closed without a word.
  CHECK(keptClosed);
  CHECK(occurrences(keptAnswer, "HTTP/1.1 200") == 1);
  CHECK(silentClosed);
  CHECK(silentAnswer.empty());
  // The service itself is unaffected.
  CHECK(service.get("/healthz", "").status == 200);
}

TEST_CASE("connections past max_connections_per_client are answered 503, logged once, per address") {
  Service service({.configYaml = "max_connections_per_client: 4\nkeep_alive_timeout_s: 60\n"});
  // Four kept alive after an answer, so each surely counts (the service may
  // not have seen the fixture's own last connection close yet: retried).
  std::vector<UniqueFd> held;
  for (int tries = 0; held.size() < 4 && tries < 100; ++tries) {
    auto fd = connectTo(service.port());
    sendAll(fd.get(), kHealthz);
    std::string answer;
    for (int reads = 0; reads < 50 && answer.find("}") == std::string::npos; ++reads)
      if (!readSome(fd.get(), answer, 100ms)) break;
    if (answer.rfind("HTTP/1.1 200", 0) == 0) {
      held.push_back(std::move(fd));
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  REQUIRE(held.size() == 4);
  for (int i = 0; i < 3; ++i) {
    auto extra = connectTo(service.port());
    sendAll(extra.get(), kHealthz);
    Ending ending = readUntilClosed(extra.get(), 5s);
    INFO(ending.received);
    CHECK(ending.closed);
    CHECK(ending.received.rfind("HTTP/1.1 503", 0) == 0);
    Json body = bodyOf(ending.received);
    REQUIRE(body.is_object());
    CHECK(body.value("code", "") == "EXTERNAL_SERVICE_ERROR");
    CHECK(body.value("message", "").find("max_connections_per_client") != std::string::npos);
  }
  // Another address has its own count.
  auto other = connectFrom(service.port(), "127.0.0.2");
  sendAll(other.get(), kHealthz);
  std::string answer;
  for (int tries = 0; tries < 50 && answer.find("\"ok\"") == std::string::npos; ++tries)
    REQUIRE(readSome(other.get(), answer, 100ms));
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(occurrences(service.logText(), "refusing connections from 127.0.0.1") == 1);

  // A closed connection gives its place back.
  held.pop_back();
  bool served = false;
  for (auto until = Clock::now() + 5s; !served && Clock::now() < until; std::this_thread::sleep_for(50ms))
    served = timedGet(service.port(), "/healthz").status == 200;
  CHECK(served);
}

TEST_CASE("over TLS, silent connections hold no worker, a stalled handshake is closed and the cap holds") {
  Service service({.configYaml = "http_workers: 4\nmax_connections_per_client: 40\nheader_timeout_s: 2\n",
                   .withTls = true});
  std::vector<UniqueFd> silent;
  for (int i = 0; i < 30; ++i) silent.push_back(connectTo(service.port()));
  auto stalled = connectTo(service.port());
  sendAll(stalled.get(), std::string("\x16\x03\x01", 3));  // the start of a ClientHello, then nothing
  for (int i = 0; i < 5; ++i) CHECK(service.get("/healthz", "").status == 200);

  Ending ending = readUntilClosed(stalled.get(), 8s);
  CHECK(ending.closed);
  CHECK(ending.after >= 500ms);

  // Past the cap at once (the header timeout would close a silent one only after 2 s).
  silent.clear();
  std::this_thread::sleep_for(300ms);  // their places come back as the service sees them close
  while (silent.size() < 40) silent.push_back(connectTo(service.port()));
  auto extra = connectTo(service.port());
  Ending refused = readUntilClosed(extra.get(), 5s);
  CHECK(refused.closed);
  CHECK(refused.after < 1500ms);
  CHECK(refused.received.empty());  // no plaintext answer to a TLS client

  // Closed connections give their places back (the fixture's teardown needs one too).
  silent.clear();
  extra.reset();
  httplib::Client client("https://127.0.0.1:" + std::to_string(service.port()));
  client.set_ca_cert_path(service.tlsCertPath().c_str());
  client.enable_server_certificate_verification(true);
  client.set_connection_timeout(5s);
  client.set_read_timeout(5s);
  bool served = false;
  for (auto until = Clock::now() + 5s; !served && Clock::now() < until; std::this_thread::sleep_for(50ms)) {
    auto answer = client.Get("/healthz");
    served = answer && answer->status == 200;
  }
  CHECK(served);
}
