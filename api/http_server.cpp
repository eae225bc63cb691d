#include "api/http_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/envelope.hpp"
#include "api/validation.hpp"
#include "api/worker_pool.hpp"
#include "common/clock.hpp"

namespace berth::api {

namespace {

constexpr size_t kMaxLoggedPath = 200;
// Keep-alive clients (the CLI, benchmarks, SDKs) reuse a connection for many requests.
constexpr size_t kKeepAliveMaxRequests = 10000;

// What the access log line needs from the stages of one request. httplib runs
// a request from the pre-routing hook through the handler to the logger on one
// worker thread, one request at a time, so a thread-local connects them.
struct RequestTrace {
  bool started = false;
  int64_t startMicros = 0;
  std::string callerId;
};
thread_local RequestTrace tTrace;

int64_t monotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The path as sent, without the query string (which is never logged).
std::string_view rawPath(const httplib::Request& req) {
  std::string_view target = req.target;
  return target.substr(0, target.find('?'));
}

// Only the target's query string: httplib also merges a form-encoded body
// into req.params, which must never pass for query parameters.
QueryParams queryOf(const httplib::Request& req) {
  size_t mark = req.target.find('?');
  if (mark == std::string::npos) return {};
  httplib::Params params;
  httplib::detail::parse_query_text(req.target.substr(mark + 1), params);
  return QueryParams(params.begin(), params.end());
}

// HTTP/1.1: a request with neither Content-Length nor chunked encoding has no
// body. httplib would instead read until the client closes (or times out).
bool hasNoBody(const httplib::Request& req) {
  return !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding");
}

HttpRequest toRequest(const httplib::Request& req) {
  HttpRequest request;
  request.method = req.method;
  request.path = std::string(rawPath(req));
  request.query = queryOf(req);
  request.body = req.body;
  request.authorization = req.get_header_value("Authorization");
  request.remoteAddress = req.remote_addr;
  return request;
}

void apply(HttpResponse response, httplib::Response& res) {
  res.status = response.status;
  for (const auto& [name, value] : response.headers) res.set_header(name, value);
  if (!response.stream) {
    res.set_header("Content-Type", response.contentType);
    res.body = std::move(response.body);
    return;
  }
  // The complete part first, then the stream's pieces as they come.
  auto pending = std::make_shared<std::string>(std::move(response.body));
  res.set_chunked_content_provider(
      response.contentType, [pending, stream = std::move(response.stream)](size_t, httplib::DataSink& sink) {
        // A stream lasts as long as the client wants: its worker is replaced at once.
        WorkerPool::handOverCurrentWorker();
        std::string chunk = std::move(*pending);
        pending->clear();
        auto clientGone = [&sink] { return !sink.is_writable(); };
        bool more = stream(chunk, clientGone);
        if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
        if (!more) sink.done();
        return true;
      });
}

// Errors httplib answers before a handler runs (oversized body, malformed request).
WireError transportError(int status) {
  switch (status) {
    case 413: return {413, "PAYLOAD_TOO_LARGE", "request body exceeds " + std::to_string(kMaxBodyBytes) + " bytes"};
    case 404: return {404, "NOT_FOUND", "route not found"};
    case 414: return {414, "VALIDATION_ERROR", "request URI too long"};
    default: break;
  }
  if (status >= 500) return {status, "INTERNAL_SERVER_ERROR", "An unexpected error occurred"};
  return {status, "VALIDATION_ERROR", "malformed HTTP request"};
}

// httplib's listen backlog is 5, compiled into the library: 64 clients
// connecting at once overflow it, and the dropped ones wait out SYN
// retransmits (1 s, 3 s, ...). A second listen() on the bound socket widens it.
Result<void> widenBacklog(int listenFd) {
  if (listenFd < 0) return fail(Errc::internal, "the listening socket was not seen");
  if (::listen(listenFd, SOMAXCONN) != 0) return sysFail("listen (widening the backlog)");
  return {};
}

// httplib ignores a stop() that comes before its listen loop runs: wait for
// the loop (or for the listener to have given up). Shutdown path only.
void waitUntilListening(const httplib::Server& server, const std::atomic<bool>& ended) {
  while (!server.is_running() && !ended) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace

struct HttpServer::Impl {
  Api& api;
  ServerOptions options;
  std::unique_ptr<httplib::Server> tcp;
  std::unique_ptr<httplib::Server> unixSocket;
  int boundPort = 0;
  int tcpListenFd = -1;   // owned by httplib; seen as it is made
  int unixListenFd = -1;
  std::atomic<bool> stopRequested{false};
  std::atomic<bool> finished{false};

  Impl(Api& a, ServerOptions o) : api(a), options(std::move(o)) {}

  Result<void> makeTcpServer() {
    if (options.tlsCert.empty()) {
      tcp = std::make_unique<httplib::Server>();
      return {};
    }
    auto tls = std::make_unique<httplib::SSLServer>(options.tlsCert.c_str(), options.tlsKey.c_str());
    if (!tls->is_valid())
      return fail(Errc::invalid_argument, "cannot load the TLS certificate " + options.tlsCert + " and key " + options.tlsKey);
    tcp = std::move(tls);
    return {};
  }

  void serve(const httplib::Request& req, httplib::Response& res) {
    Api::Outcome outcome = api.handle(toRequest(req));
    tTrace.callerId = std::move(outcome.callerId);
    apply(std::move(outcome.response), res);
  }

  void logRequest(const httplib::Request& req, const httplib::Response& res) {
    api.metrics().countRequest(req.method, res.status);
    std::string_view path = rawPath(req).substr(0, kMaxLoggedPath);
    std::string user = tTrace.callerId.empty() ? "-" : tTrace.callerId;
    if (tTrace.started) {
      double ms = static_cast<double>(monotonicMicros() - tTrace.startMicros) / 1000.0;
      spdlog::info("{} {} {} {:.1f}ms user={}", req.method, path, res.status, ms, user);
    } else {
      spdlog::info("{} {} {} - user={}", req.method, path, res.status, user);
    }
    tTrace = {};
  }

  void configure(httplib::Server& server, size_t threads, int& listenFd) {
    server.new_task_queue = [threads] { return new WorkerPool(threads); };
    // In place of httplib's default (SO_REUSEPORT, which would let a second
    // process share the port): SO_REUSEADDR, and note the socket.
    server.set_socket_options([&listenFd](int sock) {
      int yes = 1;
      if (::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes) != 0)
        spdlog::warn("SO_REUSEADDR on the listening socket: {}", std::strerror(errno));
      listenFd = sock;
    });
    server.set_payload_max_length(kMaxBodyBytes);
    server.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server.set_tcp_nodelay(true);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      tTrace = {true, monotonicMicros(), {}};
      if (!hasNoBody(req)) return httplib::Server::HandlerResponse::Unhandled;  // httplib reads the body first
      serve(req, res);
      return httplib::Server::HandlerResponse::Handled;
    });
    // Every method on every path goes to Api::handle, which owns 404 and 405.
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res); };
    server.Get(".*", handler);
    server.Post(".*", handler);
    server.Put(".*", handler);
    server.Patch(".*", handler);
    server.Delete(".*", handler);
    server.Options(".*", handler);
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // a handler's own error
      apply(errorResponse(transportError(res.status)), res);
      // httplib leaves the rest of a refused request (an oversized body) unread:
      // the connection cannot carry another request.
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr error) {
      std::string what = "unknown exception";
      try {
        if (error) std::rethrow_exception(error);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      spdlog::error("{} {}: {}", req.method, rawPath(req).substr(0, kMaxLoggedPath), what);
      apply(errorResponse(WireError{500, "INTERNAL_SERVER_ERROR", "An unexpected error occurred"}), res);
    });
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) { logRequest(req, res); });
  }

  Result<void> bindUnixSocket(const std::string& path) {
    struct stat st {};
    // A socket left by a previous run that did not unlink it.
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) return fail(Errc::already_exists, path + " exists and is not a socket");
      if (::unlink(path.c_str()) != 0) return sysFail("unlink stale socket " + path);
    }
    unixSocket = std::make_unique<httplib::Server>();
    configure(*unixSocket, options.unixWorkerThreads, unixListenFd);
    unixSocket->set_address_family(AF_UNIX);
    // The port is unused for AF_UNIX, but 0 would make httplib look for the
    // kernel-chosen port of an inet socket and fail.
    constexpr int kUnusedPort = 1;
    if (!unixSocket->bind_to_port(path, kUnusedPort)) return fail(Errc::host_refused, "cannot bind unix socket " + path);
    BERTH_TRYV(widenBacklog(unixListenFd));
    // Root only: the socket gives full API access to whoever holds a token.
    if (::chmod(path.c_str(), 0600) != 0) return sysFail("chmod " + path);
    return {};
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  if (impl_->unixSocket && impl_->options.socketPath) ::unlink(impl_->options.socketPath->c_str());
}

Result<std::unique_ptr<HttpServer>> HttpServer::bind(Api& api, const ServerOptions& options) {
  auto impl = std::make_unique<Impl>(api, options);
  BERTH_TRYV(impl->makeTcpServer());
  impl->configure(*impl->tcp, options.workerThreads, impl->tcpListenFd);
  if (options.port == 0) {
    impl->boundPort = impl->tcp->bind_to_any_port(options.host);
    if (impl->boundPort <= 0) return fail(Errc::host_refused, "cannot bind " + options.host + " to a free port");
  } else {
    if (!impl->tcp->bind_to_port(options.host, options.port))
      return fail(Errc::host_refused, "cannot bind " + options.host + ":" + std::to_string(options.port));
    impl->boundPort = options.port;
  }
  BERTH_TRYV(widenBacklog(impl->tcpListenFd));
  if (options.socketPath) BERTH_TRYV(impl->bindUnixSocket(*options.socketPath));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->boundPort; }

Result<void> HttpServer::run() {
  Impl& m = *impl_;
  std::atomic<bool> unixOk{true};
  std::atomic<bool> unixDone{false};
  std::thread unixThread;
  if (m.unixSocket) {
    unixThread = std::thread([&m, &unixOk, &unixDone] {
      unixOk = m.unixSocket->listen_after_bind();
      unixDone = true;
    });
  }
  bool tcpOk = m.stopRequested || m.tcp->listen_after_bind();
  // The TCP side ended (stop, or an error): the unix side goes with it.
  if (m.unixSocket) {
    waitUntilListening(*m.unixSocket, unixDone);
    m.unixSocket->stop();
    unixThread.join();
  }
  m.finished = true;
  if (!tcpOk || !unixOk) return fail(Errc::host_refused, "the HTTP listener failed");
  return {};
}

void HttpServer::stop() {
  Impl& m = *impl_;
  m.stopRequested = true;
  waitUntilListening(*m.tcp, m.finished);
  m.tcp->stop();  // run() then stops the unix socket listener
}

}  // namespace berth::api
