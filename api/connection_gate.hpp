#pragma once
// The connections no worker holds. One epoll thread accepts every connection,
// reads its request header without a thread per connection (as nginx does, and
// Go's ReadHeaderTimeout bounds), limits the whole header in time and size,
// caps the connections of one client address, and parks keep-alive
// connections between requests. A worker (HttpServer) is given a connection
// only once it holds a complete request header, and hands it back here when
// the response is written. So a few hundred silent or trickling sockets cost
// a few hundred bytes each instead of a worker each.
#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::api {

struct GateOptions {
  // A whole request header: from accept, or from the first byte of a kept-alive
  // connection's next request. Past it the connection is answered 408 and closed.
  std::chrono::milliseconds headerTimeout{10'000};
  // A parked keep-alive connection's wait for its next request; then it is closed.
  std::chrono::milliseconds idleTimeout{5'000};
  // Open connections of one client IP over the TCP listener (parked and on
  // workers); past it a connection is answered 503 and closed. 0: no cap.
  size_t maxConnectionsPerClient = 256;
  size_t maxHeaderBytes = 32 * 1024;
  // Complete HTTP responses the gate writes itself, each with Connection: close.
  std::string tooManyConnections;  // past maxConnectionsPerClient (a TLS listener's are closed unanswered)
  std::string headerTooLarge;      // past maxHeaderBytes
  std::string headerTimedOut;      // a header begun and not finished in time
};

// A client's IP as 16 bytes (IPv4 as v4-mapped IPv6).
struct ClientAddress {
  std::array<uint8_t, 16> bytes{};
  bool operator==(const ClientAddress&) const = default;
  std::string text() const;
};

class ClientCounts;

// Counts one connection against its client address while it lives; empty for
// a connection no cap applies to (the unix socket, no cap configured).
class ClientSlot {
 public:
  ClientSlot() = default;
  ClientSlot(std::shared_ptr<ClientCounts> counts, ClientAddress address);
  ~ClientSlot();
  ClientSlot(ClientSlot&& other) noexcept = default;
  ClientSlot& operator=(ClientSlot&& other) noexcept;
  ClientSlot(const ClientSlot&) = delete;
  ClientSlot& operator=(const ClientSlot&) = delete;

 private:
  std::shared_ptr<ClientCounts> counts_;
  ClientAddress address_;
};

// The numeric addresses of a connection's two ends (empty for the unix socket).
struct EndpointNames {
  std::string peerIp;
  int peerPort = 0;
  std::string localIp;
  int localPort = 0;
};

// A connection between the gate and a worker.
struct GatedConnection {
  UniqueFd socket;
  // A plain listener's connection: a complete request header and whatever came
  // after it (from the gate), or the bytes after the last request (to the gate).
  // A TLS listener's: empty, its bytes are still in the kernel (see addListener).
  std::string received;
  ClientSlot slot;
  // Looked up by the first request's worker and kept for the connection's
  // life (the HTTP layer asks on every request).
  std::optional<EndpointNames> names;
  size_t listener = 0;  // which listener it came from, so it goes back to the same worker pool
};

// Where the header ends in `bytes` (the offset past "\r\n\r\n"), searching from
// `from` (bytes before it are known not to end it); npos if it is not complete.
size_t headerEnd(std::string_view bytes, size_t from = 0);

class ConnectionGate {
 public:
  // Called on the gate's thread for each connection ready for a worker: it must not block.
  using Dispatch = std::function<void(GatedConnection)>;
  enum class Framing {
    http,  // the gate reads the request header
    tls,   // encrypted: the gate only waits for the first bytes (the ClientHello) within headerTimeout
  };

  static Result<std::unique_ptr<ConnectionGate>> make(GateOptions options);
  ~ConnectionGate();
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  // Before run(). The gate owns the bound, listening socket from now on.
  // countClients: the per-address cap applies (TCP, not the unix socket).
  Result<void> addListener(UniqueFd listening, Framing framing, bool countClients, Dispatch dispatch);
  // Serves on the calling thread until stop(); then closes every listener and
  // every connection it holds.
  Result<void> run();
  // From any thread; also before run() starts.
  void stop();
  // From a worker: the connection waits here for its next request (or, if
  // `received` holds one already, goes straight back). After stop() it is closed.
  void park(GatedConnection connection);

 private:
  struct Impl;
  explicit ConnectionGate(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::api
