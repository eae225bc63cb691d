// The connection gate on a real loopback listener, with a dispatch that
// records what a worker would get: headers whole before dispatch, parking,
// the deadlines and the per-address cap.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "api/connection_gate.hpp"

using namespace berth;
using namespace berth::api;
using namespace std::chrono_literals;

namespace {

struct Listening {
  UniqueFd fd;
  int port = 0;
};

Listening listenOnLoopback() {
  Listening listening{UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))};
  REQUIRE(listening.fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listening.fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listening.fd.get(), 64) == 0);
  socklen_t length = sizeof addr;
  REQUIRE(::getsockname(listening.fd.get(), reinterpret_cast<sockaddr*>(&addr), &length) == 0);
  listening.port = ntohs(addr.sin_port);
  return listening;
}

UniqueFd connectTo(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void sendText(int fd, const std::string& text) {
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

// What the client reads until the gate closes the connection (or 3 s pass).
std::string readToEnd(int fd) {
  std::string text;
  auto until = std::chrono::steady_clock::now() + 3s;
  while (std::chrono::steady_clock::now() < until) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    char buffer[1024];
    ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return text;
    text.append(buffer, static_cast<size_t>(got));
  }
  FAIL("the gate did not close the connection");
  return text;
}

// A gate serving on its own thread; dispatched connections queue up here.
class RunningGate {
 public:
  explicit RunningGate(GateOptions options) {
    options.tooManyConnections = "too many";
    options.headerTooLarge = "too large";
    options.headerTimedOut = "too slow";
    auto made = ConnectionGate::make(std::move(options));
    REQUIRE(made);
    gate_ = std::move(*made);
    Listening listening = listenOnLoopback();
    port_ = listening.port;
    REQUIRE(gate_->addListener(std::move(listening.fd), ConnectionGate::Framing::http, true,
                               [this](GatedConnection connection) {
                                 std::lock_guard lock(mutex_);
                                 ready_.push_back(std::move(connection));
                                 changed_.notify_all();
                               }));
    thread_ = std::thread([this] { served_ = gate_->run(); });
  }
  ~RunningGate() {
    gate_->stop();
    thread_.join();
    CHECK(served_);
  }

  int port() const { return port_; }
  ConnectionGate& gate() { return *gate_; }
  // The next dispatched connection, if one comes within `limit`.
  std::optional<GatedConnection> next(std::chrono::milliseconds limit = 2000ms) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, limit, [this] { return !ready_.empty(); })) return std::nullopt;
    GatedConnection connection = std::move(ready_.front());
    ready_.pop_front();
    return connection;
  }

 private:
  std::unique_ptr<ConnectionGate> gate_;
  int port_ = 0;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<GatedConnection> ready_;
  std::thread thread_;
  Result<void> served_;
};

}  // namespace

TEST_CASE("headerEnd finds the blank line, also across the point already searched") {
  CHECK(headerEnd("GET / HTTP/1.1\r\n\r\n") == 18);
  CHECK(headerEnd("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody") == 27);
  CHECK(headerEnd("GET / HTTP/1.1\r\nHost: x\r\n") == std::string::npos);
  CHECK(headerEnd("GET / HTTP/1.1\n\n") == std::string::npos);  // httplib takes CRLF lines only
  // The terminator split over two reads: the search starts back far enough.
  CHECK(headerEnd("GET / HTTP/1.1\r\n\r\n", 17) == 18);
  CHECK(headerEnd("GET / HTTP/1.1\r\n\r\n", 15) == 18);
}

TEST_CASE("the gate dispatches a connection only with a whole header, and again after it is parked") {
  RunningGate running({});
  auto client = connectTo(running.port());
  sendText(client.get(), "GET /a HTTP/1.1\r\nHost: x\r");
  CHECK_FALSE(running.next(300ms));
  sendText(client.get(), "\n\r");
  CHECK_FALSE(running.next(200ms));
  sendText(client.get(), "\nGET /b");
  auto first = running.next();
  REQUIRE(first);
  CHECK(first->received == "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b");

  // Parked with the start of its next request: it comes back once that is whole.
  first->received = "GET /b";
  running.gate().park(std::move(*first));
  CHECK_FALSE(running.next(200ms));
  sendText(client.get(), " HTTP/1.1\r\n\r\n");
  auto second = running.next();
  REQUIRE(second);
  CHECK(second->received == "GET /b HTTP/1.1\r\n\r\n");

  // Parked holding a whole (pipelined) request: straight back.
  second->received = "GET /c HTTP/1.1\r\n\r\n";
  running.gate().park(std::move(*second));
  auto third = running.next(500ms);
  REQUIRE(third);
  CHECK(third->received == "GET /c HTTP/1.1\r\n\r\n");
}

TEST_CASE("the gate's deadlines: an unfinished header hears why, a silent or idle connection is closed") {
  GateOptions options;
  options.headerTimeout = 300ms;
  options.idleTimeout = 200ms;
  options.maxHeaderBytes = 100;
  RunningGate running(options);
  auto silent = connectTo(running.port());
  auto slow = connectTo(running.port());
  sendText(slow.get(), "GET / HTTP/1.1\r\n");
  auto large = connectTo(running.port());
  sendText(large.get(), "GET /" + std::string(200, 'a'));
  auto idle = connectTo(running.port());
  sendText(idle.get(), "GET / HTTP/1.1\r\n\r\n");
  auto served = running.next();
  REQUIRE(served);
  served->received.clear();
  running.gate().park(std::move(*served));

  CHECK(readToEnd(large.get()) == "too large");
  CHECK(readToEnd(slow.get()) == "too slow");
  CHECK(readToEnd(silent.get()).empty());
  CHECK(readToEnd(idle.get()).empty());
  CHECK_FALSE(running.next(100ms));
}

TEST_CASE("the gate caps open connections per client address; a connection gone gives its place back") {
  GateOptions options;
  options.maxConnectionsPerClient = 2;
  RunningGate running(options);
  auto first = connectTo(running.port());
  auto second = connectTo(running.port());
  sendText(second.get(), "GET / HTTP/1.1\r\n\r\n");
  auto dispatched = running.next();  // on a worker, it still counts
  REQUIRE(dispatched);
  auto third = connectTo(running.port());
  CHECK(readToEnd(third.get()) == "too many");

  dispatched.reset();  // the worker closed it
  bool admitted = false;
  for (int i = 0; i < 40 && !admitted; ++i) {
    auto again = connectTo(running.port());
    sendText(again.get(), "GET / HTTP/1.1\r\n\r\n");
    admitted = running.next(100ms).has_value();
  }
  CHECK(admitted);
}
