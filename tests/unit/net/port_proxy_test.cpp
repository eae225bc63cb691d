// The splice port proxy on loopback (no root): payloads arrive intact, many
// connections at once, half-close, a refusing or resetting target, stop(),
// the port probe's errors, no leaked fd, and an accept backoff that does not spin.
#include <arpa/inet.h>
#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "common/scope_guard.hpp"
#include "common/unique_fd.hpp"
#include "net/port_proxy.hpp"

using namespace berth;
using namespace berth::net;

namespace {

const Ipv4 kLoopback{0x7f000001};

int openFds() {
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  while (dirent* entry = ::readdir(dir))
    if (entry->d_name[0] != '.') ++count;
  ::closedir(dir);
  return count - 1;  // the directory's own fd
}

sockaddr_in loopback(uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(kLoopback.value);
  address.sin_port = htons(port);
  return address;
}

uint16_t portOf(int fd) {
  sockaddr_in bound{};
  socklen_t length = sizeof bound;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0);
  return ntohs(bound.sin_port);
}

// A socket bound to a kernel-chosen loopback port; listening unless told otherwise.
UniqueFd boundSocket(bool listening = true) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_in address = loopback(0);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  if (listening) REQUIRE(::listen(fd.get(), SOMAXCONN) == 0);
  return fd;
}

void setTimeouts(int fd, int seconds) {
  timeval timeout{seconds, 0};
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0);
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) == 0);
}

UniqueFd connectTo(uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  setTimeouts(fd.get(), 5);
  sockaddr_in address = loopback(port);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  return fd;
}

bool sendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads until EOF; false on an error or timeout (SO_RCVTIMEO) before it.
bool readToEof(int fd, std::string& into) {
  char buffer[65536];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return true;
    into.append(buffer, static_cast<size_t>(n));
  }
}

std::string readExactly(int fd, size_t size) {
  std::string data(size, '\0');
  size_t got = 0;
  while (got < size) {
    ssize_t n = ::read(fd, data.data() + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

uint64_t fnv1a(const std::string& data) {
  uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : data) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

std::string randomPayload(size_t size) {
  std::mt19937_64 random(42);
  std::string data(size, '\0');
  for (char& c : data) c = static_cast<char>(random() & 0xff);
  return data;
}

// EOF or a reset arrives within the time (bytes before it are read and dropped): the peer closed.
bool closedWithin(int fd, int ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) != 1) return false;
    char buffer[65536];
    ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) return true;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return false;
  }
}

// A thread per connection: echoes until EOF, then sends the trailer and its own FIN.
// With resetAfter > 0 it reads that many bytes and resets the connection instead;
// with SIZE_MAX it reads and never answers nor closes (a silent target).
class EchoServer {
 public:
  explicit EchoServer(std::string trailer = "", size_t resetAfter = 0)
      : listener_(boundSocket()), port_(portOf(listener_.get())), trailer_(std::move(trailer)), resetAfter_(resetAfter) {
    acceptor_ = std::thread([this] { acceptLoop(); });
  }
  ~EchoServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes accept()
    acceptor_.join();
    {
      std::lock_guard lock(mutex_);
      for (int fd : open_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& worker : workers_) worker.join();
  }
  uint16_t port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void acceptLoop() {
    for (;;) {
      int fd = ::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        // The fd-limit test may tighten the limit before this thread first got here.
        if (errno == EMFILE) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
          continue;
        }
        return;
      }
      ++accepted_;
      std::lock_guard lock(mutex_);
      open_.push_back(fd);
      workers_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    char buffer[65536];
    size_t total = 0;
    for (;;) {
      ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      total += static_cast<size_t>(n);
      if (resetAfter_ == SIZE_MAX) continue;
      if (resetAfter_ > 0 && total >= resetAfter_) {
        linger abort{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        break;
      }
      if (!sendAll(fd, buffer, static_cast<size_t>(n))) break;
    }
    if (resetAfter_ == SIZE_MAX) {
      pollfd p{fd, POLLRDHUP, 0};  // until the destructor shuts it down
      while (::poll(&p, 1, -1) == 1 && !(p.revents & (POLLHUP | POLLERR))) p.events = 0;
    } else if (resetAfter_ == 0) {
      sendAll(fd, trailer_.data(), trailer_.size());
      ::shutdown(fd, SHUT_WR);
      // Wait for the peer's close so the trailer is not cut by a reset.
      while (::read(fd, buffer, sizeof buffer) > 0) {
      }
    }
    std::lock_guard lock(mutex_);
    std::erase(open_, fd);
    ::close(fd);
  }

  UniqueFd listener_;
  uint16_t port_;
  std::string trailer_;
  size_t resetAfter_;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<int> open_;
  std::vector<std::thread> workers_;
};

// The SigBlk mask of the thread named so, from /proc/self/task/*/status; 0 if none is.
uint64_t blockedSignalsOf(const std::string& name) {
  DIR* dir = ::opendir("/proc/self/task");
  REQUIRE(dir != nullptr);
  uint64_t mask = 0;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    std::string task = std::string("/proc/self/task/") + entry->d_name;
    std::ifstream comm(task + "/comm");
    std::string taskName;
    std::getline(comm, taskName);
    if (taskName != name) continue;
    std::ifstream status(task + "/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("SigBlk:", 0) == 0) mask = std::stoull(line.substr(7), nullptr, 16);
  }
  ::closedir(dir);
  return mask;
}

PortProxy startProxy(uint16_t targetPort) {
  auto proxy = PortProxy::listen({{kLoopback, 0, kLoopback, targetPort}});
  REQUIRE(proxy);
  REQUIRE(proxy->start());
  return std::move(*proxy);
}

}  // namespace

TEST_CASE("a 10 MiB payload comes back intact through the proxy") {
  EchoServer server;
  PortProxy proxy = startProxy(server.port());
  const std::string payload = randomPayload(10 << 20);
  UniqueFd client = connectTo(proxy.hostPorts().at(0));
  std::thread writer([&] {
    sendAll(client.get(), payload.data(), payload.size());
    ::shutdown(client.get(), SHUT_WR);
  });
  std::string echoed;
  bool eof = readToEof(client.get(), echoed);
  writer.join();
  CHECK(eof);
  CHECK(echoed.size() == payload.size());
  CHECK(fnv1a(echoed) == fnv1a(payload));
}

TEST_CASE("200 connections at once are all served") {
  EchoServer server;
  PortProxy proxy = startProxy(server.port());
  std::vector<UniqueFd> clients;
  for (int i = 0; i < 200; ++i) clients.push_back(connectTo(proxy.hostPorts().at(0)));
  for (size_t i = 0; i < clients.size(); ++i) {
    std::string message = "hello " + std::to_string(i) + "\n";
    REQUIRE(sendAll(clients[i].get(), message.data(), message.size()));
  }
  int served = 0;
  for (size_t i = 0; i < clients.size(); ++i) {
    std::string message = "hello " + std::to_string(i) + "\n";
    if (readExactly(clients[i].get(), message.size()) == message) ++served;
  }
  CHECK(served == 200);
  CHECK(server.accepted() == 200);
}

TEST_CASE("a half-close is passed on and the rest still arrives") {
  EchoServer server("<after your FIN>");
  PortProxy proxy = startProxy(server.port());
  const std::string payload = randomPayload(1 << 20);
  UniqueFd client = connectTo(proxy.hostPorts().at(0));
  std::thread writer([&] {
    sendAll(client.get(), payload.data(), payload.size());
    ::shutdown(client.get(), SHUT_WR);
  });
  std::string echoed;
  // The server sends its trailer only after it saw our FIN through the proxy.
  bool eof = readToEof(client.get(), echoed);
  writer.join();
  CHECK(eof);
  REQUIRE(echoed.size() == payload.size() + 16);
  CHECK(fnv1a(echoed.substr(0, payload.size())) == fnv1a(payload));
  CHECK(echoed.substr(payload.size()) == "<after your FIN>");
}

TEST_CASE("a refusing target closes the client promptly") {
  UniqueFd reserved = boundSocket(false);  // bound, never listening: connecting to it is refused
  PortProxy proxy = startProxy(portOf(reserved.get()));
  UniqueFd client = connectTo(proxy.hostPorts().at(0));
  auto t0 = std::chrono::steady_clock::now();
  CHECK(closedWithin(client.get(), 1000));
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(500));
}

TEST_CASE("a target resetting mid-stream ends that connection only") {
  EchoServer resetting("", 64 * 1024);
  EchoServer echo;
  auto listened = PortProxy::listen({{kLoopback, 0, kLoopback, resetting.port()}, {kLoopback, 0, kLoopback, echo.port()}});
  REQUIRE(listened);
  PortProxy proxy = std::move(*listened);
  REQUIRE(proxy.start());
  UniqueFd doomed = connectTo(proxy.hostPorts().at(0));
  // Keep sending after the reset: the proxy's splice into the dead socket must not take the process down.
  const std::string chunk = randomPayload(1 << 20);
  bool failed = false;
  for (int i = 0; i < 64 && !failed; ++i) failed = !sendAll(doomed.get(), chunk.data(), chunk.size());
  CHECK(failed);
  CHECK(closedWithin(doomed.get(), 2000));

  UniqueFd fine = connectTo(proxy.hostPorts().at(1));
  REQUIRE(sendAll(fine.get(), "ping", 4));
  CHECK(readExactly(fine.get(), 4) == "ping");
}

TEST_CASE("stop closes the listeners and the open connections") {
  EchoServer server;
  PortProxy proxy = startProxy(server.port());
  uint16_t port = proxy.hostPorts().at(0);
  UniqueFd client = connectTo(port);
  REQUIRE(sendAll(client.get(), "ping", 4));
  REQUIRE(readExactly(client.get(), 4) == "ping");

  proxy.stop();
  CHECK(closedWithin(client.get(), 2000));
  UniqueFd late(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address = loopback(port);
  CHECK(::connect(late.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0);
  CHECK(errno == ECONNREFUSED);
  proxy.stop();  // idempotent
  CHECK_FALSE(proxy.start());
}

TEST_CASE("probeHostPort tells a taken port from an address that is not ours") {
  UniqueFd held = boundSocket();
  uint16_t heldPort = portOf(held.get());
  auto taken = probeHostPort(kLoopback, heldPort);
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == Errc::already_exists);
  CHECK(taken.error().detail == Detail::port_conflict);
  CHECK(taken.error().message.find("127.0.0.1:" + std::to_string(heldPort)) != std::string::npos);

  auto foreign = probeHostPort(*parseIpv4("192.0.2.254"), 8080);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().code == Errc::invalid_argument);
  CHECK(foreign.error().message.find("192.0.2.254") != std::string::npos);

  uint16_t freePort = portOf(boundSocket(false).get());  // closed again at once
  CHECK(probeHostPort(kLoopback, freePort));

  // listen: all or none, and its own ports are taken while it lives.
  auto partial = PortProxy::listen({{kLoopback, freePort, kLoopback, 9}, {kLoopback, heldPort, kLoopback, 9}});
  REQUIRE_FALSE(partial);
  CHECK(partial.error().detail == Detail::port_conflict);
  CHECK(probeHostPort(kLoopback, freePort));
  auto proxy = PortProxy::listen({{kLoopback, freePort, kLoopback, 9}});
  REQUIRE(proxy);
  CHECK(probeHostPort(kLoopback, freePort).error().detail == Detail::port_conflict);
  CHECK(PortProxy::listen({{kLoopback, freePort, kLoopback, 9}}).error().detail == Detail::port_conflict);
}

TEST_CASE("no fd is left behind once the proxy stopped") {
  int baseline = openFds();
  {
    EchoServer server;
    PortProxy proxy = startProxy(server.port());
    std::vector<UniqueFd> clients;
    for (int i = 0; i < 50; ++i) {
      clients.push_back(connectTo(proxy.hostPorts().at(0)));
      REQUIRE(sendAll(clients.back().get(), "ping", 4));
      REQUIRE(readExactly(clients.back().get(), 4) == "ping");
      if (i % 2 == 0) clients.pop_back();  // half closed by the client, half still open at stop()
    }
    CHECK(openFds() > baseline);
    proxy.stop();
  }
  CHECK(openFds() == baseline);
}

TEST_CASE("out of fds, accepting backs off instead of spinning, then resumes") {
  EchoServer server;
  std::atomic<int> reports{0};
  auto listened = PortProxy::listen({{kLoopback, 0, kLoopback, server.port()}});
  REQUIRE(listened);
  PortProxy proxy = std::move(*listened);
  REQUIRE(proxy.start([&](const Error& error) {
    if (error.sysErrno == EMFILE) ++reports;
  }));
  UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(client);
  setTimeouts(client.get(), 5);

  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  int lowestFree = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(lowestFree >= 0);
  ::close(lowestFree);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(lowestFree);  // no fd can be opened
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  ScopeGuard restore([&] { ::setrlimit(RLIMIT_NOFILE, &saved); });

  sockaddr_in address = loopback(proxy.hostPorts().at(0));
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);  // queued in the backlog
  rusage before{};
  rusage after{};
  ::getrusage(RUSAGE_SELF, &before);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  ::getrusage(RUSAGE_SELF, &after);
  auto cpuUs = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1000000L + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
  };
  const int reportsWhileOut = reports.load();
  // The checks only once fds can be opened again: a sanitizer's type check
  // reads the process's memory map and, unable to, reports a false error.
  restore.dismiss();
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  CHECK(cpuUs(after) - cpuUs(before) < 50000);  // a spinning loop burns the whole 500 ms
  CHECK(reportsWhileOut == 1);                  // once per streak, not once per retry
  REQUIRE(sendAll(client.get(), "ping", 4));
  CHECK(readExactly(client.get(), 4) == "ping");
}

TEST_CASE("the proxy thread blocks SIGPIPE, the caller's mask stays as it was") {
  // splice(2) to a socket whose write side is shut raises SIGPIPE at the calling thread.
  EchoServer server;
  sigset_t before;
  REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &before) == 0);
  PortProxy proxy = startProxy(server.port());
  UniqueFd client = connectTo(proxy.hostPorts().at(0));  // the thread has named itself once it served
  REQUIRE(sendAll(client.get(), "ping", 4));
  REQUIRE(readExactly(client.get(), 4) == "ping");
  uint64_t mask = blockedSignalsOf("berth-proxy");
  CHECK((mask & (uint64_t{1} << (SIGPIPE - 1))) != 0);
  CHECK((mask & (uint64_t{1} << (SIGTERM - 1))) != 0);
  sigset_t after;
  REQUIRE(::pthread_sigmask(SIG_SETMASK, nullptr, &after) == 0);
  CHECK(sigismember(&after, SIGPIPE) == sigismember(&before, SIGPIPE));
  CHECK(sigismember(&after, SIGTERM) == sigismember(&before, SIGTERM));
}

TEST_CASE("a client that resets while the target is silent is closed, not kept") {
  EchoServer silent("", SIZE_MAX);
  PortProxy proxy = startProxy(silent.port());
  UniqueFd client = connectTo(proxy.hostPorts().at(0));
  REQUIRE(sendAll(client.get(), "ping", 4));
  ::shutdown(client.get(), SHUT_WR);  // its FIN is passed on: only the silent direction is left
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  int withConnection = openFds();
  linger abort{1, 0};
  REQUIRE(::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort) == 0);
  client.reset();  // RST
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (openFds() > withConnection - 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(openFds() == withConnection - 3);  // the client's and the proxy's two sockets
}
