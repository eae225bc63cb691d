#pragma once
// The HTTP transport: the connection gate (api/connection_gate.hpp) accepts
// on TCP and optionally a unix socket and reads each request header; then
// cpp-httplib parses it on a worker and every request goes to Api::handle.
// Also the access log (one line per request) and the HTTP counters of
// /metrics. Only this file and its .cpp (and worker_pool) know httplib.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "api/service.hpp"
#include "common/error.hpp"

namespace berth::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                          // 0: any free port (see HttpServer::port)
  std::optional<std::string> socketPath;    // also serve on this unix socket (mode 0600)
  std::string tlsCert;                      // with tlsKey: HTTPS on the TCP listener (PEM files)
  std::string tlsKey;
  // Operations are synchronous (a stop may wait its whole grace period), so
  // the pool is sized for many waits in flight, not for the CPU count: 50
  // stops must not starve /healthz. A connection holds a worker only from a
  // complete request header to the end of its response.
  size_t workerThreads = 256;
  size_t unixWorkerThreads = 32;
  // The largest body a streaming route (POST /api/v1/images) may take; every
  // other route takes kMaxBodyBytes.
  uint64_t streamedBodyMaxBytes = 2048ull << 20;
  // The whole request header, from accept (or from the first byte of a kept
  // alive connection's next request); then 408 and close.
  std::chrono::milliseconds headerTimeout{10'000};
  // A request body must arrive within this of its header, plus one second per
  // KiB received; then 408 and close.
  std::chrono::milliseconds bodyTimeout{10'000};
  // A keep-alive connection waits this long for its next request, parked in the gate.
  std::chrono::milliseconds keepAliveTimeout{5'000};
  // Open TCP connections per client IP; past it 503 (TLS: closed). 0: no cap.
  size_t maxConnectionsPerClient = 256;
};

class HttpServer {
 public:
  // Binds the listeners without serving yet.
  static Result<std::unique_ptr<HttpServer>> bind(Api& api, const ServerOptions& options);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound TCP port (the kernel's choice when asked for port 0).
  int port() const;
  // Serves until stop(); in-flight requests finish first.
  Result<void> run();
  // From any thread (not from a signal handler). Safe before run() starts.
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::api
