#pragma once
// The HTTP transport: cpp-httplib listening on TCP and optionally a unix
// socket, every request handed to Api::handle. Also the access log (one line
// per request) and the HTTP counters of /metrics. Only this file and its .cpp
// know httplib.
#include <atomic>
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
  // Operations are synchronous (a stop may wait its whole grace period) and a
  // keep-alive connection holds its worker, so the pool is sized for many
  // waits in flight, not for the CPU count: 50 stops must not starve /healthz.
  size_t workerThreads = 256;
  size_t unixWorkerThreads = 32;
  // The largest body a streaming route (POST /api/v1/images) may take; every
  // other route takes kMaxBodyBytes.
  uint64_t streamedBodyMaxBytes = 2048ull << 20;
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
