#include "net/port_proxy.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "common/unique_fd.hpp"

namespace berth::net {

namespace {

using Clock = std::chrono::steady_clock;

// epoll tags: the wake eventfd, a listener (by index), or one side of a
// connection as (id << 1) | side, ids counting from 1.
constexpr uint64_t kWakeTag = 0;
constexpr uint64_t kListenerTag = uint64_t{1} << 63;
constexpr uint64_t kTargetSide = 1;

// Accepts per listener wakeup, so established connections get their turn under a connection storm.
constexpr int kAcceptBatch = 64;
// Pipe-fulls moved per direction before other connections get their turn
// (edge-triggered: a connection that still has work goes on the again list).
constexpr int kPumpRounds = 16;
// Empty pipes kept for reuse: an idle connection holds no pipe, and a new one skips pipe2 + fcntl.
constexpr size_t kPipePoolMax = 32;

std::string endpoint(Ipv4 ip, uint16_t port) { return formatIpv4(ip) + ":" + std::to_string(port); }

sockaddr_in socketAddress(Ipv4 ip, uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(ip.value);
  address.sin_port = htons(port);
  return address;
}

tl::unexpected<Error> portConflict(Ipv4 ip, uint16_t port) {
  return fail(Errc::already_exists, Detail::port_conflict, "host port " + endpoint(ip, port) + " is already in use");
}

// socket, SO_REUSEADDR (a port whose last connections linger in TIME_WAIT is free), bind.
Result<UniqueFd> bindHost(Ipv4 ip, uint16_t port) {
  const std::string where = endpoint(ip, port);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return sysFail("socket for " + where);
  int one = 1;
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
    return sysFail("SO_REUSEADDR for " + where);
  sockaddr_in address = socketAddress(ip, port);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    int err = errno;
    if (err == EADDRINUSE) return portConflict(ip, port);
    if (err == EADDRNOTAVAIL) return fail(Errc::invalid_argument, formatIpv4(ip) + " is not an address of this host");
    return sysFail("bind " + where, err);
  }
  return fd;
}

// Errors of accept(2) that concern only the connection being accepted
// (Linux passes the new socket's pending network errors on).
bool connectionOnlyAcceptError(int err) {
  switch (err) {
    case EINTR: case ECONNABORTED: case EPROTO: case EPERM: case ENETDOWN: case ENOPROTOOPT:
    case EHOSTDOWN: case ENONET: case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
      return true;
    default:
      return false;
  }
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
  size_t capacity = 0;
};

// One direction of a connection: src -> pipe -> dst.
struct Flow {
  std::optional<Pipe> pipe;  // held only while bytes are in flight
  size_t pending = 0;        // bytes in the pipe
  bool eof = false;          // src sent its FIN
  bool done = false;         // ... and it was passed on: shutdown(dst, SHUT_WR)
};

struct Connection {
  UniqueFd client;
  UniqueFd target;
  bool connecting = true;
  bool queued = false;  // on the again list
  Flow up;              // client -> target
  Flow down;            // target -> client
};

enum class Pump { waiting, budget, failed };

}  // namespace

struct PortProxy::State {
  explicit State(const ProxyOptions& proxyOptions) : options(proxyOptions) {}

  ProxyOptions options;
  std::vector<PortForward> forwards;
  std::vector<UniqueFd> listeners;
  std::vector<uint16_t> ports;
  UniqueFd epoll;
  UniqueFd wake;  // eventfd: the thread leaves when it is readable
  std::thread thread;
  bool started = false;
  bool stopped = false;

  // The thread's own until it is joined.
  ErrorSink onError;
  std::unordered_map<uint64_t, Connection> connections;
  std::vector<uint64_t> again;  // connections that ran out of their budget with work left
  std::vector<Pipe> pipePool;
  uint64_t nextId = 1;
  std::optional<Clock::time_point> acceptResumesAt;
  bool backoffReported = false;
  bool pipeSizeReported = false;

  void run();
  void report(const Error& error) {
    if (onError) onError(error);
  }
  int waitTimeoutMs() const;
  void acceptFrom(size_t index);
  void pauseAccepting(const Error& why);
  void setListening(bool on);
  void open(UniqueFd client, const PortForward& forward);
  void onSocketEvent(uint64_t id, bool targetSide, uint32_t events);
  void pump(uint64_t id);
  Pump flow(Flow& flow, int src, int dst);
  Result<Pipe> takePipe();
  void releasePipe(Flow& flow);
  void resetClient(UniqueFd& client);
  void close(uint64_t id, bool reset = false);
  void closeAll();
};

Result<void> probeHostPort(Ipv4 hostIp, uint16_t hostPort) {
  BERTH_TRY(UniqueFd fd, bindHost(hostIp, hostPort));
  return {};
}

Result<PortProxy> PortProxy::listen(const std::vector<PortForward>& forwards, const ProxyOptions& options) {
  auto state = std::make_unique<State>(options);
  state->forwards = forwards;
  for (const PortForward& forward : forwards) {
    BERTH_TRY(UniqueFd fd, bindHost(forward.hostIp, forward.hostPort));
    if (::listen(fd.get(), SOMAXCONN) != 0) {
      // SO_REUSEADDR lets two sockets bind one port; only one of them can listen.
      if (errno == EADDRINUSE) return portConflict(forward.hostIp, forward.hostPort);
      return sysFail("listen on " + endpoint(forward.hostIp, forward.hostPort));
    }
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0)
      return sysFail("getsockname of the listener on " + endpoint(forward.hostIp, forward.hostPort));
    state->ports.push_back(ntohs(bound.sin_port));
    state->listeners.push_back(std::move(fd));
  }
  state->epoll.reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!state->epoll) return sysFail("epoll_create1 for the port proxy");
  state->wake.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!state->wake) return sysFail("eventfd for the port proxy");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (::epoll_ctl(state->epoll.get(), EPOLL_CTL_ADD, state->wake.get(), &event) != 0)
    return sysFail("epoll_ctl add the port proxy's eventfd");
  for (size_t i = 0; i < state->listeners.size(); ++i) {
    // Level-triggered: a listener is served in batches and may be paused (see pauseAccepting).
    event.events = EPOLLIN;
    event.data.u64 = kListenerTag | i;
    if (::epoll_ctl(state->epoll.get(), EPOLL_CTL_ADD, state->listeners[i].get(), &event) != 0)
      return sysFail("epoll_ctl add the listener on " + endpoint(forwards[i].hostIp, state->ports[i]));
  }
  return PortProxy(std::move(state));
}

PortProxy::PortProxy(std::unique_ptr<State> state) : state_(std::move(state)) {}
PortProxy::PortProxy(PortProxy&&) noexcept = default;
PortProxy& PortProxy::operator=(PortProxy&& other) noexcept {
  if (this != &other) {
    stop();
    state_ = std::move(other.state_);
  }
  return *this;
}
PortProxy::~PortProxy() { stop(); }

Result<void> PortProxy::start(ErrorSink onError) {
  if (!state_ || state_->started || state_->stopped)
    return fail(Errc::state_conflict, "the port proxy was started or stopped before");
  State& state = *state_;
  state.onError = std::move(onError);
  // The thread is born with every signal blocked. splice(2) to a socket whose
  // peer is gone raises SIGPIPE (it has no MSG_NOSIGNAL), directed at the
  // calling thread: blocked, it stays pending there and kills nothing. And a
  // signal meant for the monitor (which may block it to read a signalfd)
  // never lands on this thread's default action.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  if (int err = ::pthread_sigmask(SIG_SETMASK, &all, &previous); err != 0)
    return sysFail("pthread_sigmask for the port proxy thread", err);
  Result<void> started;
  try {
    state.thread = std::thread([&state] { state.run(); });
    state.started = true;
  } catch (const std::system_error& error) {
    started = sysFail("start the port proxy thread", error.code().value());
  }
  if (int err = ::pthread_sigmask(SIG_SETMASK, &previous, nullptr); err != 0 && started)
    started = sysFail("pthread_sigmask restoring the caller's mask", err);
  return started;
}

void PortProxy::stop() {
  if (!state_) return;  // moved from
  State& state = *state_;
  if (state.thread.joinable()) {
    uint64_t one = 1;
    // A nonblocking eventfd refuses a write only when its counter would overflow (2^64 - 2 writes).
    while (::write(state.wake.get(), &one, sizeof one) < 0 && errno == EINTR) {
    }
    state.thread.join();
  }
  state.stopped = true;
  state.closeAll();
}

std::vector<uint16_t> PortProxy::hostPorts() const { return state_ ? state_->ports : std::vector<uint16_t>{}; }

void PortProxy::State::closeAll() {
  connections.clear();
  again.clear();
  pipePool.clear();
  listeners.clear();  // a new connect is refused from here on
  epoll.reset();
  wake.reset();
}

void PortProxy::State::run() {
  // Named for ps and /proc/<pid>/task: the monitor's one other thread.
  if (int err = ::pthread_setname_np(::pthread_self(), "berth-proxy"); err != 0)
    report(sysFail("pthread_setname_np for the port proxy", err).value());
  epoll_event events[256];
  for (;;) {
    int n = ::epoll_wait(epoll.get(), events, 256, waitTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      report(sysFail("epoll_wait in the port proxy; it serves no more").value());
      return;
    }
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) return;
      if (tag & kListenerTag)
        acceptFrom(static_cast<size_t>(tag & ~kListenerTag));
      else
        onSocketEvent(tag >> 1, (tag & kTargetSide) != 0, events[i].events);
    }
    if (acceptResumesAt && Clock::now() >= *acceptResumesAt) {
      acceptResumesAt.reset();
      setListening(true);
    }
    std::vector<uint64_t> turn;
    turn.swap(again);
    for (uint64_t id : turn) {
      auto it = connections.find(id);
      if (it == connections.end()) continue;
      it->second.queued = false;
      pump(id);
    }
  }
}

int PortProxy::State::waitTimeoutMs() const {
  if (!again.empty()) return 0;
  if (!acceptResumesAt) return -1;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*acceptResumesAt - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left + 1, 0, INT_MAX));
}

void PortProxy::State::acceptFrom(size_t index) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = ::accept4(listeners[index].get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return;
      if (connectionOnlyAcceptError(err)) continue;
      // Out of fds or memory (or unknown): the connection stays queued and
      // the level-triggered listener would wake us again at once.
      pauseAccepting(
          sysFail("accept on " + endpoint(forwards[index].hostIp, ports[index]) + "; accepting pauses", err).value());
      return;
    }
    backoffReported = false;
    open(UniqueFd(fd), forwards[index]);
  }
}

void PortProxy::State::pauseAccepting(const Error& why) {
  // Once per streak: EMFILE lasting minutes must not flood the monitor's log.
  if (!backoffReported) report(why);
  backoffReported = true;
  if (acceptResumesAt) return;
  acceptResumesAt = Clock::now() + std::chrono::milliseconds(options.acceptBackoffMs);
  setListening(false);
}

void PortProxy::State::setListening(bool on) {
  for (size_t i = 0; i < listeners.size(); ++i) {
    epoll_event event{};
    event.events = on ? uint32_t{EPOLLIN} : 0u;
    event.data.u64 = kListenerTag | i;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listeners[i].get(), &event) != 0)
      report(sysFail("epoll_ctl mod the listener on " + endpoint(forwards[i].hostIp, ports[i])).value());
  }
}

void PortProxy::State::open(UniqueFd client, const PortForward& forward) {
  const std::string where = endpoint(forward.targetIp, forward.targetPort);
  UniqueFd target(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!target) {
    pauseAccepting(sysFail("socket to " + where + "; accepting pauses").value());
    return;  // the client is closed
  }
  // The peers made their own Nagle choices; a relay adding its own only delays small writes.
  int one = 1;
  for (int fd : {client.get(), target.get()}) {
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) {
      report(sysFail("TCP_NODELAY on a connection to " + where).value());
      return;
    }
  }
  sockaddr_in address = socketAddress(forward.targetIp, forward.targetPort);
  bool connected = ::connect(target.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  if (!connected && errno != EINPROGRESS) {
    resetClient(client);  // refused or unreachable at once: the client learns it at once
    return;
  }
  uint64_t id = nextId++;
  Connection& connection = connections[id];
  connection.client = std::move(client);
  connection.target = std::move(target);
  connection.connecting = !connected;
  // Edge-triggered, registered once for both directions: a side is only
  // waited on after splice said EAGAIN on it, so no edge is missed, and
  // nothing is re-armed per pipe-full as level-triggered interest would need
  // (EPOLLOUT stays ready on an idle socket and would spin the loop).
  for (uint64_t side : {uint64_t{0}, kTargetSide}) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    event.data.u64 = (id << 1) | side;
    int fd = side == kTargetSide ? connection.target.get() : connection.client.get();
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      report(sysFail("epoll_ctl add a connection to " + where).value());
      close(id, true);
      return;
    }
  }
  // Registration reported what was ready already; epoll_wait brings it next.
}

void PortProxy::State::onSocketEvent(uint64_t id, bool targetSide, uint32_t events) {
  auto it = connections.find(id);
  if (it == connections.end()) return;  // closed by an earlier event of this batch
  Connection& connection = it->second;
  if (connection.connecting) {
    if (!targetSide) {
      // The client's bytes wait in its socket until the target answers; a reset does not.
      if (events & EPOLLERR) close(id);
      return;
    }
    int err = 0;
    socklen_t length = sizeof err;
    if (::getsockopt(connection.target.get(), SOL_SOCKET, SO_ERROR, &err, &length) != 0) err = errno;
    if (err != 0) {
      close(id, true);  // the target refused: the client sees a reset now
      return;
    }
    if (!(events & EPOLLOUT)) return;
    connection.connecting = false;
  }
  // An error on an established TCP socket is fatal (a reset, a timeout):
  // without this, a reset client whose target stays silent would linger.
  if (events & EPOLLERR) {
    close(id);
    return;
  }
  pump(id);
}

void PortProxy::State::pump(uint64_t id) {
  Connection& connection = connections.at(id);
  Pump up = flow(connection.up, connection.client.get(), connection.target.get());
  Pump down = up == Pump::failed ? Pump::failed : flow(connection.down, connection.target.get(), connection.client.get());
  if (up == Pump::failed || down == Pump::failed || (connection.up.done && connection.down.done)) {
    close(id);
    return;
  }
  if ((up == Pump::budget || down == Pump::budget) && !connection.queued) {
    connection.queued = true;
    again.push_back(id);
  }
}

// Moves bytes until a side would block. The pipe is filled only when empty,
// so an EAGAIN from the socket side is unambiguous: on a fill, src has
// nothing (its EPOLLIN edge resumes us); on a drain, dst is full (its EPOLLOUT edge does).
Pump PortProxy::State::flow(Flow& flow, int src, int dst) {
  if (flow.done) return Pump::waiting;
  for (int round = 0; round < kPumpRounds; ++round) {
    if (flow.pending > 0) {
      ssize_t n = ::splice(flow.pipe->read.get(), nullptr, dst, nullptr, flow.pending, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
      if (n > 0) {
        flow.pending -= static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == EAGAIN) return Pump::waiting;
      return Pump::failed;  // dst reset or closed: the connection ends
    }
    if (flow.eof) {
      releasePipe(flow);
      if (::shutdown(dst, SHUT_WR) != 0) return Pump::failed;  // ENOTCONN: dst is gone
      flow.done = true;
      return Pump::waiting;
    }
    if (!flow.pipe) {
      auto pipe = takePipe();
      if (!pipe) {
        report(pipe.error());
        return Pump::failed;
      }
      flow.pipe = std::move(*pipe);
    }
    ssize_t n = ::splice(src, nullptr, flow.pipe->write.get(), nullptr, flow.pipe->capacity, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
    if (n > 0) {
      flow.pending = static_cast<size_t>(n);
      continue;
    }
    if (n == 0) {
      flow.eof = true;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      releasePipe(flow);
      return Pump::waiting;
    }
    return Pump::failed;  // src reset
  }
  return Pump::budget;
}

Result<Pipe> PortProxy::State::takePipe() {
  if (!pipePool.empty()) {
    Pipe pipe = std::move(pipePool.back());
    pipePool.pop_back();
    return pipe;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return sysFail("pipe2 for a proxied connection");
  Pipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1]), 64 * 1024};
  int size = static_cast<int>(std::min<size_t>(options.pipeSize, INT_MAX));
  int granted = ::fcntl(pipe.write.get(), F_SETPIPE_SZ, size);
  if (granted > 0) {
    pipe.capacity = static_cast<size_t>(granted);
  } else if (!pipeSizeReported) {
    // Past fs.pipe-max-size or the per-user pipe quota: the default size still works, only slower.
    pipeSizeReported = true;
    report(sysFail("F_SETPIPE_SZ " + std::to_string(size) + " (keeping 64 KiB pipes)").value());
  }
  return pipe;
}

void PortProxy::State::releasePipe(Flow& flow) {
  if (!flow.pipe) return;
  // Only an empty pipe is reused; one with bytes of a dead connection is closed.
  if (flow.pending == 0 && pipePool.size() < kPipePoolMax) pipePool.push_back(std::move(*flow.pipe));
  flow.pipe.reset();
  flow.pending = 0;
}

void PortProxy::State::resetClient(UniqueFd& client) {
  // SO_LINGER 0: the close sends RST, as if the client had asked the target itself and been refused.
  linger abort{1, 0};
  if (::setsockopt(client.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort) != 0)
    report(sysFail("SO_LINGER on a refused connection").value());
  client.reset();
}

void PortProxy::State::close(uint64_t id, bool reset) {
  auto it = connections.find(id);
  if (it == connections.end()) return;
  Connection& connection = it->second;
  if (reset) resetClient(connection.client);
  releasePipe(connection.up);
  releasePipe(connection.down);
  connections.erase(it);  // closing a socket removes it from epoll
}

}  // namespace berth::net
