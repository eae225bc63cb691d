#include "api/connection_gate.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include <spdlog/spdlog.h>

namespace berth::api {

namespace {

using Clock = std::chrono::steady_clock;

// Deadlines are checked at most this often (their precision), so a sweep over
// every connection happens at most ten times a second.
constexpr auto kSweepInterval = std::chrono::milliseconds(100);
// A refused connection is read and dropped for this long after its answer, so
// that closing it does not reset it before the client has read the answer.
constexpr auto kDrainTime = std::chrono::milliseconds(1000);
// Refused connections drained at once; past it they are closed at once (a
// flood of refusals must not use up the descriptors).
constexpr size_t kMaxDraining = 1024;
// accept() out of descriptors: the listener stays readable, so accepting
// pauses this long instead of spinning.
constexpr auto kAcceptPause = std::chrono::milliseconds(100);
constexpr auto kLogInterval = std::chrono::minutes(1);
constexpr size_t kReadChunk = 4096;
constexpr size_t kAcceptBatch = 64;  // per wake-up, so one listener cannot starve the connections
constexpr int kMaxEvents = 256;

// Answers and stream chunks are small writes: with Nagle's algorithm on, one
// would wait for the client to acknowledge the one before it.
void noDelay(int fd) {
  int one = 1;
  if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
    spdlog::warn("setsockopt TCP_NODELAY on an accepted connection: {}", std::strerror(errno));
}

constexpr uint64_t kWakeTag = 1ull << 63;
constexpr uint64_t kListenerTag = 1ull << 62;

struct AddressHash {
  size_t operator()(const ClientAddress& address) const {
    uint64_t halves[2];
    std::memcpy(halves, address.bytes.data(), sizeof halves);
    return std::hash<uint64_t>{}(halves[0] * 0x9e3779b97f4a7c15ull ^ halves[1]);
  }
};

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

ClientAddress clientAddressOf(const sockaddr_storage& peer) {
  ClientAddress address;
  if (peer.ss_family == AF_INET6) {
    std::memcpy(address.bytes.data(), &reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr, 16);
  } else if (peer.ss_family == AF_INET) {
    std::memcpy(address.bytes.data(), kV4MappedPrefix, sizeof kV4MappedPrefix);
    std::memcpy(address.bytes.data() + 12, &reinterpret_cast<const sockaddr_in&>(peer).sin_addr, 4);
  }
  return address;
}

}  // namespace

std::string ClientAddress::text() const {
  char shown[INET6_ADDRSTRLEN] = {};
  if (std::memcmp(bytes.data(), kV4MappedPrefix, sizeof kV4MappedPrefix) == 0)
    ::inet_ntop(AF_INET, bytes.data() + 12, shown, sizeof shown);
  else
    ::inet_ntop(AF_INET6, bytes.data(), shown, sizeof shown);
  return shown;
}

// The open connections of each client address, shared by the gate and the
// workers (a connection's slot ends wherever the connection does).
class ClientCounts {
 public:
  explicit ClientCounts(size_t max) : max_(max) {}

  bool tryAdd(const ClientAddress& address) {
    std::lock_guard lock(mutex_);
    size_t& open = counts_[address];
    if (open >= max_) return false;
    ++open;
    return true;
  }
  void remove(const ClientAddress& address) {
    std::lock_guard lock(mutex_);
    auto it = counts_.find(address);
    if (it != counts_.end() && --it->second == 0) counts_.erase(it);
  }
  size_t max() const { return max_; }

 private:
  std::mutex mutex_;
  std::unordered_map<ClientAddress, size_t, AddressHash> counts_;
  const size_t max_;
};

ClientSlot::ClientSlot(std::shared_ptr<ClientCounts> counts, ClientAddress address)
    : counts_(std::move(counts)), address_(address) {}

ClientSlot::~ClientSlot() {
  if (counts_) counts_->remove(address_);
}

ClientSlot& ClientSlot::operator=(ClientSlot&& other) noexcept {
  if (this != &other) {
    if (counts_) counts_->remove(address_);
    counts_ = std::move(other.counts_);
    address_ = other.address_;
  }
  return *this;
}

size_t headerEnd(std::string_view bytes, size_t from) {
  size_t at = bytes.find("\r\n\r\n", from >= 3 ? from - 3 : 0);
  return at == std::string_view::npos ? std::string_view::npos : at + 4;
}

struct ConnectionGate::Impl {
  enum class State {
    header,      // reading a request header
    firstBytes,  // TLS: waiting for the ClientHello
    draining,    // answered with a refusal: reading and dropping until closed
  };
  struct Connection {
    UniqueFd socket;
    size_t listener = 0;
    State state = State::header;
    // Kept alive and waiting for its next request: the idle timeout applies
    // until its first byte comes, then the header timeout.
    bool idle = false;
    Clock::time_point deadline;
    std::string received;
    ClientSlot slot;
    std::optional<EndpointNames> names;
  };
  struct Listener {
    UniqueFd socket;
    Framing framing;
    bool countClients;
    Dispatch dispatch;
  };
  struct Refusals {
    Clock::time_point logged;
    size_t since = 0;  // refused since then, not logged yet
  };

  GateOptions options;
  UniqueFd epoll;
  UniqueFd wake;  // eventfd: park() and stop()
  std::shared_ptr<ClientCounts> counts;  // null: no cap
  std::vector<Listener> listeners;
  std::unordered_map<int, Connection> connections;
  std::unordered_map<ClientAddress, Refusals, AddressHash> refusals;
  size_t draining = 0;
  Clock::time_point nextCheck = Clock::time_point::max();
  std::optional<Clock::time_point> acceptPausedUntil;
  Clock::time_point descriptorsWarned;

  std::mutex mutex;  // guards inbox and stopping
  std::vector<GatedConnection> inbox;
  bool stopping = false;

  explicit Impl(GateOptions o) : options(std::move(o)) {}

  void noteDeadline(Clock::time_point deadline) { nextCheck = std::min(nextCheck, deadline); }

  int waitMillis(Clock::time_point now) const {
    if (nextCheck == Clock::time_point::max()) return -1;
    if (nextCheck <= now) return 0;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(nextCheck - now).count() + 1;
    return static_cast<int>(std::min<int64_t>(left, 60'000));
  }

  void signalWake() {
    uint64_t one = 1;
    if (::write(wake.get(), &one, sizeof one) < 0 && errno != EAGAIN)
      spdlog::error("connection gate: waking its loop: {}", std::strerror(errno));
  }

  void watch(int fd, uint64_t tag, uint32_t events, int op) {
    epoll_event event{};
    event.events = events;
    event.data.u64 = tag;
    if (::epoll_ctl(epoll.get(), op, fd, &event) != 0)
      spdlog::error("connection gate: epoll_ctl on fd {}: {}", fd, std::strerror(errno));
  }

  // Takes a connection in: straight to its worker if it holds a whole header.
  void admit(Connection connection) {
    int fd = connection.socket.get();
    if (connection.state == State::header && headerEnd(connection.received) != std::string::npos) {
      dispatch(std::move(connection));
      return;
    }
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = static_cast<uint64_t>(fd);
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      spdlog::error("connection gate: watching a connection: {}", std::strerror(errno));
      return;  // closed
    }
    noteDeadline(connection.deadline);
    auto [it, added] = connections.emplace(fd, std::move(connection));
    if (it->second.received.size() > options.maxHeaderBytes) refuse(it->second, options.headerTooLarge, Clock::now());
  }

  void dispatch(Connection connection) {
    const Listener& listener = listeners[connection.listener];
    listener.dispatch(GatedConnection{std::move(connection.socket), std::move(connection.received),
                                      std::move(connection.slot), std::move(connection.names), connection.listener});
  }

  // Takes a watched connection out of the loop and gives it to its worker pool.
  void dispatchWatched(std::unordered_map<int, Connection>::iterator it) {
    Connection connection = std::move(it->second);
    connections.erase(it);
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, connection.socket.get(), nullptr) != 0) {
      spdlog::error("connection gate: unwatching a connection: {}", std::strerror(errno));
      return;  // closed: a worker must not share it with this loop
    }
    dispatch(std::move(connection));
  }

  void close(std::unordered_map<int, Connection>::iterator it) {
    if (it->second.state == State::draining) --draining;
    connections.erase(it);  // closing the socket also takes it out of the epoll set
  }

  // Answers and closes: stops writing, then reads until the client closes
  // (or kDrainTime), so that it reads the answer rather than a reset.
  void refuse(Connection& connection, const std::string& response, Clock::time_point now) {
    int fd = connection.socket.get();
    // A few hundred bytes on a connection that has sent no answer yet: the send buffer takes them whole.
    (void)::send(fd, response.data(), response.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    connection.slot = {};
    std::string().swap(connection.received);
    if (draining >= kMaxDraining || ::shutdown(fd, SHUT_WR) != 0) {
      close(connections.find(fd));
      return;
    }
    if (connection.state != State::draining) ++draining;
    connection.state = State::draining;
    connection.deadline = now + kDrainTime;
    noteDeadline(connection.deadline);
  }

  void noteRefusal(const ClientAddress& address, Clock::time_point now) {
    auto [it, first] = refusals.try_emplace(address);
    Refusals& seen = it->second;
    if (!first && now - seen.logged < kLogInterval) {
      ++seen.since;
      return;
    }
    spdlog::warn("refusing connections from {}: it has {} open (max_connections_per_client); "
                 "logged once a minute per address",
                 address.text(), counts->max());
    seen = {now, 0};
    noteDeadline(now + kLogInterval);
  }

  void acceptFrom(size_t index, Clock::time_point now) {
    Listener& listener = listeners[index];
    for (size_t i = 0; i < kAcceptBatch; ++i) {
      sockaddr_storage peer{};
      socklen_t length = sizeof peer;
      int fd = ::accept4(listener.socket.get(), reinterpret_cast<sockaddr*>(&peer), &length, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          if (now - descriptorsWarned >= kLogInterval) {
            spdlog::warn("accept: {}; new connections wait (logged once a minute)", std::strerror(errno));
            descriptorsWarned = now;
          }
          pauseAccepting(now);
          return;
        }
        spdlog::error("accept: {}", std::strerror(errno));
        return;
      }
      Connection connection;
      connection.socket = UniqueFd(fd);
      if (peer.ss_family == AF_INET || peer.ss_family == AF_INET6) noDelay(fd);
      connection.listener = index;
      connection.state = listener.framing == Framing::tls ? State::firstBytes : State::header;
      connection.deadline = now + options.headerTimeout;
      bool refused = false;
      if (listener.countClients && counts) {
        ClientAddress address = clientAddressOf(peer);
        if (counts->tryAdd(address)) {
          connection.slot = ClientSlot(counts, address);
        } else {
          noteRefusal(address, now);
          refused = true;
        }
      }
      // A TLS client could not read a plaintext answer: it is closed, as a refused accept.
      if (refused && listener.framing == Framing::tls) continue;
      admit(std::move(connection));
      if (refused) {
        auto it = connections.find(fd);
        if (it != connections.end()) refuse(it->second, options.tooManyConnections, now);
      }
    }
  }

  void pauseAccepting(Clock::time_point now) {
    for (size_t i = 0; i < listeners.size(); ++i) watch(listeners[i].socket.get(), kListenerTag | i, 0, EPOLL_CTL_MOD);
    acceptPausedUntil = now + kAcceptPause;
    noteDeadline(*acceptPausedUntil);
  }

  void onReadable(int fd, uint32_t events, Clock::time_point now) {
    auto it = connections.find(fd);
    if (it == connections.end()) return;
    Connection& connection = it->second;
    if (connection.state == State::firstBytes) {
      // The handshake is the worker's; a hang-up without a byte is not worth one.
      if (events & EPOLLIN) {
        dispatchWatched(it);
      } else {
        close(it);
      }
      return;
    }
    char chunk[kReadChunk];
    ssize_t got = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (got <= 0) {
      close(it);
      return;
    }
    if (connection.state == State::draining) return;
    size_t before = connection.received.size();
    if (before == 0 && connection.idle) {
      connection.idle = false;
      connection.deadline = now + options.headerTimeout;
      noteDeadline(connection.deadline);
    }
    connection.received.append(chunk, static_cast<size_t>(got));
    if (headerEnd(connection.received, before) != std::string::npos) {
      dispatchWatched(it);
      return;
    }
    if (connection.received.size() > options.maxHeaderBytes) refuse(connection, options.headerTooLarge, now);
  }

  // A parked connection's timeout and the gate's own timers.
  void sweep(Clock::time_point now) {
    nextCheck = Clock::time_point::max();
    for (auto it = connections.begin(); it != connections.end();) {
      auto current = it++;
      Connection& connection = current->second;
      if (connection.deadline > now) {
        noteDeadline(connection.deadline);
        continue;
      }
      // A request begun and not finished hears why; a silent or idle connection is just closed.
      if (connection.state == State::header && !connection.received.empty()) {
        refuse(connection, options.headerTimedOut, now);
      } else {
        close(current);
      }
    }
    if (acceptPausedUntil) {
      if (*acceptPausedUntil <= now) {
        for (size_t i = 0; i < listeners.size(); ++i)
          watch(listeners[i].socket.get(), kListenerTag | i, EPOLLIN, EPOLL_CTL_MOD);
        acceptPausedUntil.reset();
      } else {
        noteDeadline(*acceptPausedUntil);
      }
    }
    for (auto it = refusals.begin(); it != refusals.end();) {
      if (now - it->second.logged < kLogInterval) {
        noteDeadline(it->second.logged + kLogInterval);
        ++it;
        continue;
      }
      if (it->second.since > 0)
        spdlog::warn("refused {} more connections from {} in the last minute (max_connections_per_client)",
                     it->second.since, it->first.text());
      it = refusals.erase(it);
    }
    nextCheck = std::max(nextCheck, now + kSweepInterval);
  }

  // The connections workers parked; false once stopping.
  bool takeInbox(Clock::time_point now) {
    uint64_t count;
    (void)::read(wake.get(), &count, sizeof count);  // non-blocking: resets the eventfd
    std::vector<GatedConnection> parked;
    {
      std::lock_guard lock(mutex);
      if (stopping) return false;
      parked.swap(inbox);
    }
    for (GatedConnection& gated : parked) {
      Connection connection;
      connection.socket = std::move(gated.socket);
      connection.listener = gated.listener;
      connection.idle = gated.received.empty();
      connection.deadline = now + (connection.idle ? options.idleTimeout : options.headerTimeout);
      connection.received = std::move(gated.received);
      connection.slot = std::move(gated.slot);
      connection.names = std::move(gated.names);
      admit(std::move(connection));
    }
    return true;
  }

  void closeEverything() {
    connections.clear();
    listeners.clear();
    std::lock_guard lock(mutex);
    inbox.clear();
  }
};

ConnectionGate::ConnectionGate(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConnectionGate::~ConnectionGate() = default;

Result<std::unique_ptr<ConnectionGate>> ConnectionGate::make(GateOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  impl->epoll = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  if (!impl->epoll) return sysFail("epoll_create1 (the connection gate)");
  impl->wake = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!impl->wake) return sysFail("eventfd (the connection gate)");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeTag;
  if (::epoll_ctl(impl->epoll.get(), EPOLL_CTL_ADD, impl->wake.get(), &event) != 0)
    return sysFail("epoll_ctl (the connection gate's eventfd)");
  if (impl->options.maxConnectionsPerClient > 0)
    impl->counts = std::make_shared<ClientCounts>(impl->options.maxConnectionsPerClient);
  return std::unique_ptr<ConnectionGate>(new ConnectionGate(std::move(impl)));
}

Result<void> ConnectionGate::addListener(UniqueFd listening, Framing framing, bool countClients, Dispatch dispatch) {
  Impl& m = *impl_;
  int flags = ::fcntl(listening.get(), F_GETFL);
  if (flags < 0 || ::fcntl(listening.get(), F_SETFL, flags | O_NONBLOCK) != 0)
    return sysFail("O_NONBLOCK on a listening socket");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kListenerTag | m.listeners.size();
  if (::epoll_ctl(m.epoll.get(), EPOLL_CTL_ADD, listening.get(), &event) != 0)
    return sysFail("epoll_ctl (a listening socket)");
  m.listeners.push_back({std::move(listening), framing, countClients, std::move(dispatch)});
  return {};
}

Result<void> ConnectionGate::run() {
  Impl& m = *impl_;
  epoll_event events[kMaxEvents];
  for (;;) {
    int n = ::epoll_wait(m.epoll.get(), events, kMaxEvents, m.waitMillis(Clock::now()));
    if (n < 0) {
      if (errno == EINTR) continue;
      auto failed = sysFail("epoll_wait (the connection gate)");
      m.closeEverything();
      return failed;
    }
    auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        if (!m.takeInbox(now)) {
          m.closeEverything();
          return {};
        }
      } else if (tag & kListenerTag) {
        m.acceptFrom(static_cast<size_t>(tag & ~kListenerTag), now);
      } else {
        m.onReadable(static_cast<int>(tag), events[i].events, now);
      }
    }
    if (now >= m.nextCheck) m.sweep(now);
  }
}

void ConnectionGate::stop() {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->signalWake();
}

void ConnectionGate::park(GatedConnection connection) {
  bool wasEmpty;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return;  // closed here
    wasEmpty = impl_->inbox.empty();
    impl_->inbox.push_back(std::move(connection));
  }
  if (wasEmpty) impl_->signalWake();
}

}  // namespace berth::api
