#include "api/http_server.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
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

HttpRequest toRequest(const httplib::Request& req, std::string body, BodyReader bodyReader = nullptr) {
  HttpRequest request;
  request.method = req.method;
  request.path = std::string(rawPath(req));
  request.query = queryOf(req);
  request.body = std::move(body);
  request.bodyReader = std::move(bodyReader);
  request.authorization = req.get_header_value("Authorization");
  request.remoteAddress = req.remote_addr;
  request.headers.assign(req.headers.begin(), req.headers.end());
  return request;
}

bool waitFor(int sock, short events, int timeoutMs) {
  pollfd pfd{sock, events, 0};
  for (;;) {
    int n = ::poll(&pfd, 1, timeoutMs);
    if (n < 0 && errno == EINTR) continue;
    return n > 0 && (pfd.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

int toMillis(time_t seconds, time_t micros) { return static_cast<int>(seconds * 1000 + micros / 1000); }

// One connection's socket as httplib reads and writes it, with httplib's own
// semantics (a timeout on each read and write, a read buffer: its header
// parser reads a byte at a time), plus what httplib lacks: a handler may take
// the socket over. From then on httplib's writes go nowhere and the socket
// is the taker's.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(int sock, int readTimeoutMs, int writeTimeoutMs)
      : sock_(sock), readTimeoutMs_(readTimeoutMs), writeTimeoutMs_(writeTimeoutMs) {}

  bool is_readable() const override { return !detached_ && waitFor(sock_, POLLIN, readTimeoutMs_); }
  bool is_writable() const override {
    if (detached_) return true;
    if (!waitFor(sock_, POLLOUT, writeTimeoutMs_)) return false;
    // Writable but closed by the peer: a read that would not block sees the end.
    if (!waitFor(sock_, POLLIN, 0)) return true;
    char byte;
    return ::recv(sock_, &byte, 1, MSG_PEEK) > 0;
  }
  ssize_t read(char* ptr, size_t size) override {
    if (detached_) return 0;
    if (bufferStart_ < bufferEnd_) return copyBuffered(ptr, size);
    if (!is_readable()) return -1;
    if (size >= sizeof buffer_) return recvSome(ptr, size);
    ssize_t got = recvSome(buffer_, sizeof buffer_);
    if (got <= 0) return got;
    bufferStart_ = 0;
    bufferEnd_ = static_cast<size_t>(got);
    return copyBuffered(ptr, size);
  }
  ssize_t write(const char* ptr, size_t size) override {
    if (detached_) return static_cast<ssize_t>(size);
    if (!is_writable()) return -1;
    for (;;) {
      ssize_t sent = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      return sent;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { addressOf(::getpeername, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { addressOf(::getsockname, ip, port); }
  socket_t socket() const override { return sock_; }

  void detach() { detached_ = true; }
  bool detached() const { return detached_; }

 private:
  ssize_t recvSome(char* ptr, size_t size) {
    for (;;) {
      ssize_t got = ::recv(sock_, ptr, size, 0);
      if (got < 0 && errno == EINTR) continue;
      return got;
    }
  }
  ssize_t copyBuffered(char* ptr, size_t size) {
    size_t n = std::min(size, bufferEnd_ - bufferStart_);
    std::memcpy(ptr, buffer_ + bufferStart_, n);
    bufferStart_ += n;
    return static_cast<ssize_t>(n);
  }
  // The numeric address of either end; empty for a unix socket, as httplib has it.
  void addressOf(int (*query)(int, sockaddr*, socklen_t*), std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t length = sizeof addr;
    if (query(sock_, reinterpret_cast<sockaddr*>(&addr), &length) != 0 || addr.ss_family == AF_UNIX) return;
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), length, host, sizeof host, service, sizeof service,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0)
      return;
    ip = host;
    port = std::atoi(service);
  }

  int sock_;
  int readTimeoutMs_;
  int writeTimeoutMs_;
  char buffer_[4096];
  size_t bufferStart_ = 0;
  size_t bufferEnd_ = 0;
  bool detached_ = false;
};

// The connection a worker serves now, and who takes it over (set by serve()).
thread_local ConnectionStream* tConnection = nullptr;
thread_local ConnectionTaker tTaker;
// The request's body was left unread (refused, or not wanted by its handler):
// the connection cannot carry another request.
thread_local bool tCloseAfter = false;

// A client may still be sending the body it was refused: stop writing, read
// and drop what comes for a moment, so that the close that follows does not
// reset the connection before the client has read the answer.
void lingerAndDrain(int sock) {
  constexpr auto kLinger = std::chrono::milliseconds(1000);
  ::shutdown(sock, SHUT_WR);
  auto until = std::chrono::steady_clock::now() + kLinger;
  char sink[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !waitFor(sock, POLLIN, static_cast<int>(left.count()))) return;
    ssize_t got = ::recv(sock, sink, sizeof sink, 0);
    if (got <= 0 && !(got < 0 && errno == EINTR)) return;
  }
}

// httplib's server with its keep-alive loop over a ConnectionStream, so that
// a response can hand its connection over (httplib can only write responses).
class PlainServer final : public httplib::Server {
 private:
  bool process_and_close_socket(socket_t sock) override {
    ConnectionStream stream(sock, toMillis(read_timeout_sec_, read_timeout_usec_),
                            toMillis(write_timeout_sec_, write_timeout_usec_));
    bool ok = true;
    for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
      // Idle between requests: the next one must begin within the keep-alive timeout.
      if (!waitFor(sock, POLLIN, static_cast<int>(keep_alive_timeout_sec_ * 1000))) break;
      bool connectionClosed = false;
      tConnection = &stream;
      tCloseAfter = false;
      ok = process_request(stream, left == 1, connectionClosed, nullptr);
      tConnection = nullptr;
      if (stream.detached()) {
        ConnectionTaker taker = std::move(tTaker);
        tTaker = nullptr;
        taker(UniqueFd(sock));
        return ok;
      }
      if (tCloseAfter) {
        tCloseAfter = false;
        lingerAndDrain(sock);
        break;
      }
      if (!ok || connectionClosed) break;
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }
};

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

// The body of a streaming route: httplib's ContentReader pushes it, on a
// thread of its own, into a bounded buffer the handler pulls from
// (HttpRequest::bodyReader). Reading begins at the first pull, so nothing is
// read for a request the dispatcher refuses. At most ~2 * kPipeBytes are held.
class BodyPipe {
 public:
  explicit BodyPipe(const httplib::ContentReader& reader) : reader_(reader) {}
  ~BodyPipe() { finish(); }
  BodyPipe(const BodyPipe&) = delete;
  BodyPipe& operator=(const BodyPipe&) = delete;

  Result<std::string_view> next() {
    std::unique_lock lock(mutex_);
    if (!started_) {
      started_ = true;
      producer_ = std::thread([this] { produce(); });
    }
    current_.clear();
    changed_.wait(lock, [this] { return !buffer_.empty() || ended_; });
    if (!buffer_.empty()) {
      current_.swap(buffer_);
      changed_.notify_all();
      return std::string_view(current_);
    }
    if (!complete_) return fail(Errc::invalid_argument, "the request body could not be read (malformed or cut off)");
    return std::string_view();
  }

  // Stops reading (the handler is done) and waits for the reading thread.
  // Returns whether the whole body was read.
  bool finish() {
    {
      std::lock_guard lock(mutex_);
      cancelled_ = true;
      changed_.notify_all();
    }
    if (producer_.joinable()) producer_.join();
    std::lock_guard lock(mutex_);
    return complete_ && buffer_.empty();
  }

 private:
  static constexpr size_t kPipeBytes = 1u << 20;

  void produce() {
    bool read = reader_([this](const char* data, size_t length) {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [this] { return buffer_.size() < kPipeBytes || cancelled_; });
      if (cancelled_) return false;
      buffer_.append(data, length);
      changed_.notify_all();
      return true;
    });
    std::lock_guard lock(mutex_);
    complete_ = read;
    ended_ = true;
    changed_.notify_all();
  }

  const httplib::ContentReader& reader_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string buffer_;   // received, not taken yet
  std::string current_;  // the chunk the handler holds
  std::thread producer_;
  bool started_ = false;
  bool ended_ = false;
  bool complete_ = false;
  bool cancelled_ = false;
};

bool isBodyMethod(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
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
      tcp = std::make_unique<PlainServer>();
      return {};
    }
    auto tls = std::make_unique<httplib::SSLServer>(options.tlsCert.c_str(), options.tlsKey.c_str());
    if (!tls->is_valid())
      return fail(Errc::invalid_argument, "cannot load the TLS certificate " + options.tlsCert + " and key " + options.tlsKey);
    tcp = std::move(tls);
    return {};
  }

  // Answers at once and closes the connection: the body is left unread.
  static void refuse(httplib::Response& res, const WireError& error) {
    apply(errorResponse(error), res);
    res.set_header("Connection", "close");
    tCloseAfter = true;
  }

  // Requests with a body on a route that does not stream it: read here, at
  // most kMaxBodyBytes whatever the framing (httplib's own limit is the
  // image route's and does not bound a chunked body at all).
  void serveWithBody(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    if (api.streamsBody(req.method, rawPath(req))) {
      serveStreaming(req, res, reader);
      return;
    }
    std::string body;
    bool tooLarge = false;
    bool read = reader([&](const char* data, size_t length) {
      if (body.size() + length > kMaxBodyBytes) {
        tooLarge = true;
        return false;
      }
      body.append(data, length);
      return true;
    });
    if (!read) {
      refuse(res, transportError(tooLarge ? 413 : 400));
      return;
    }
    serve(req, res, std::move(body));
  }

  void serveStreaming(const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
    BodyPipe pipe(reader);
    serve(req, res, {}, [&pipe] { return pipe.next(); });
    // httplib marks a body its reader stopped reading as a bad request (400):
    // the answer is the handler's.
    int answered = res.status;
    bool complete = pipe.finish();
    res.status = answered;
    if (!complete) {
      // Refused, or the handler stopped early (a limit, a bad archive): the rest is never read.
      res.set_header("Connection", "close");
      tCloseAfter = true;
    }
  }

  void serve(const httplib::Request& req, httplib::Response& res, std::string body = {},
             BodyReader bodyReader = nullptr) {
    Api::Outcome outcome = api.handle(toRequest(req, std::move(body), std::move(bodyReader)));
    tTrace.callerId = std::move(outcome.callerId);
    if (outcome.response.takeOver) {
      // A TLS connection's bytes are httplib's (its SSL state): it cannot be handed over.
      if (!tConnection) {
        apply(errorResponse(WireError{503, "EXTERNAL_SERVICE_ERROR",
                                      "streams are served on the plain HTTP listener and the unix socket, not over TLS"}),
              res);
        return;
      }
      tConnection->detach();
      tTaker = std::move(outcome.response.takeOver);
      res.status = outcome.response.status;
      return;
    }
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
    // httplib refuses a Content-Length above this; every body it reads goes
    // through serveWithBody, which bounds it per route (the pre-routing hook
    // refuses a large Content-Length at once).
    server.set_payload_max_length(std::max<size_t>(kMaxBodyBytes, options.streamedBodyMaxBytes));
    server.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server.set_tcp_nodelay(true);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      tTrace = {true, monotonicMicros(), {}};
      if (hasNoBody(req)) {
        serve(req, res);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (api.streamsBody(req.method, rawPath(req))) return httplib::Server::HandlerResponse::Unhandled;
      // Never buffered: a declared length past the limit is refused before a byte is read.
      auto declared = parseContentLength(req.get_header_value("Content-Length"));
      if (!declared) {
        refuse(res, transportError(400));
        return httplib::Server::HandlerResponse::Handled;
      }
      if (*declared && **declared > kMaxBodyBytes) {
        refuse(res, transportError(413));
        return httplib::Server::HandlerResponse::Handled;
      }
      // httplib reads a GET's or OPTIONS's body whole, unbounded when chunked.
      if (!isBodyMethod(req.method) && req.has_header("Transfer-Encoding")) {
        refuse(res, WireError{400, "VALIDATION_ERROR", "a chunked body is taken only by POST, PUT, PATCH and DELETE"});
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;  // the body is read next, bounded
    });
    // Every method on every path goes to Api::handle, which owns 404 and 405.
    auto handler = [this](const httplib::Request& req, httplib::Response& res) { serve(req, res, req.body); };
    auto bodyHandler = [this](const httplib::Request& req, httplib::Response& res,
                              const httplib::ContentReader& reader) { serveWithBody(req, res, reader); };
    server.Get(".*", handler);
    server.Post(".*", bodyHandler);
    server.Put(".*", bodyHandler);
    server.Patch(".*", bodyHandler);
    server.Delete(".*", bodyHandler);
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
    unixSocket = std::make_unique<PlainServer>();
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
