#include "api/http_server.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include <httplib.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include "api/connection_gate.hpp"
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

using SteadyClock = std::chrono::steady_clock;

// A request body must keep coming: within the body timeout of its header,
// plus a second for each kBodyMinRate bytes received (as Apache's
// mod_reqtimeout), so a body trickled a byte at a time cannot hold a worker
// for long while a large upload at any sane speed is never cut off.
constexpr uint64_t kBodyMinRate = 1024;
constexpr size_t kReadChunk = 4096;
// At most this much of a body leaves in one write with its held header.
constexpr size_t kBodyBytesWithHeader = 64 * 1024;

// Rounded up: a poll that wakes before its deadline would pass for a read
// error rather than a timeout.
int millisUntil(SteadyClock::time_point deadline) {
  auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, std::numeric_limits<int>::max()));
}

struct SslFree {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
using SslHandle = std::unique_ptr<SSL, SslFree>;

// One connection as httplib reads and writes it, plain or TLS, with httplib's
// own semantics (a timeout on each read and write, a read buffer: its header
// parser reads a byte at a time), plus what httplib lacks: the bytes the gate
// read already come first, a body must keep progressing (kBodyMinRate), and a
// handler may take a plain connection over. From then on httplib's writes go
// nowhere and the socket is the taker's.
//
// A plain socket is blocking (poll bounds each call); a TLS one is
// non-blocking, since OpenSSL would block on a partial record.
class ConnectionStream final : public httplib::Stream {
 public:
  // names: the connection's addresses if an earlier request looked them up.
  ConnectionStream(int sock, SSL* ssl, std::string received, int readTimeoutMs, int writeTimeoutMs,
                   std::chrono::milliseconds bodyTimeout, std::optional<EndpointNames> names = std::nullopt)
      : sock_(sock),
        ssl_(ssl),
        readTimeoutMs_(readTimeoutMs),
        writeTimeoutMs_(writeTimeoutMs),
        bodyTimeout_(bodyTimeout),
        buffer_(std::move(received)),
        names_(std::move(names)) {}

  bool is_readable() const override {
    return !detached_ && (bufferStart_ < buffer_.size() || (ssl_ && SSL_pending(ssl_) > 0) ||
                          waitFor(sock_, POLLIN, readTimeoutMs_));
  }
  bool is_writable() const override {
    if (detached_) return true;
    if (!waitFor(sock_, POLLOUT, writeTimeoutMs_)) return false;
    // Writable but closed by the peer: a read that would not block sees the end.
    if (!waitFor(sock_, POLLIN, 0)) return true;
    char byte;
    return ::recv(sock_, &byte, 1, MSG_PEEK) > 0;
  }
  // Whatever the buffer holds past the header comes from the body, so every
  // read that reaches the socket is a body read (see holdsRequestHeader).
  ssize_t read(char* ptr, size_t size) override {
    if (detached_) return 0;
    if (bufferStart_ < buffer_.size()) return copyBuffered(ptr, size);
    auto deadline = bodyStart_ + bodyTimeout_ + std::chrono::seconds(bodyBytes_ / kBodyMinRate);
    auto bound = std::min(deadline, SteadyClock::now() + std::chrono::milliseconds(readTimeoutMs_));
    ssize_t got;
    if (size >= kReadChunk) {
      got = receive(ptr, size, bound);
    } else {
      buffer_.resize(kReadChunk);
      got = receive(buffer_.data(), kReadChunk, bound);
      buffer_.resize(got > 0 ? static_cast<size_t>(got) : 0);
      bufferStart_ = 0;
    }
    if (got > 0) {
      bodyBytes_ += static_cast<uint64_t>(got);
    } else if (got < 0 && SteadyClock::now() >= deadline) {
      bodyTimedOut_ = true;
    }
    if (got <= 0 || size >= kReadChunk) return got;
    return copyBuffered(ptr, size);
  }
  // httplib writes a response's header, then its body. A header announcing
  // a body of known length waits for the body's first bytes, so that both
  // leave in one write and wake the client once (a streamed body, chunked
  // or with no length, may be long in coming: its header goes at once).
  ssize_t write(const char* ptr, size_t size) override {
    if (detached_) return static_cast<ssize_t>(size);
    std::string_view bytes(ptr, size);
    if (heldHeader_.empty() && announcesBody(bytes)) {
      heldHeader_.assign(bytes);
      return static_cast<ssize_t>(size);
    }
    if (heldHeader_.empty()) return sendNow(ptr, size);
    size_t joined = std::min(size, kBodyBytesWithHeader);
    heldHeader_.append(ptr, joined);
    if (!sendAll(heldHeader_)) return -1;
    heldHeader_.clear();
    return static_cast<ssize_t>(joined);
  }
  // After each request: a held header whose body never came (a HEAD's) goes alone.
  bool flushHeld() {
    if (heldHeader_.empty() || detached_) return true;
    bool sent = sendAll(heldHeader_);
    heldHeader_.clear();
    return sent;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    const EndpointNames& known = names();
    ip = known.peerIp;
    port = known.peerPort;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    const EndpointNames& known = names();
    ip = known.localIp;
    port = known.localPort;
  }
  // Looked up on the first request; the connection keeps them (PlainServer).
  const EndpointNames& names() const {
    if (!names_) {
      names_.emplace();
      addressOf(::getpeername, names_->peerIp, names_->peerPort);
      addressOf(::getsockname, names_->localIp, names_->localPort);
    }
    return *names_;
  }
  socket_t socket() const override { return sock_; }

  // Before each request: its body's clock starts.
  void beginRequest() {
    bodyStart_ = SteadyClock::now();
    bodyBytes_ = 0;
    bodyTimedOut_ = false;
  }
  bool bodyTimedOut() const { return bodyTimedOut_; }
  // The next request's header is read already (pipelined, or by fillHeader).
  bool holdsRequestHeader() const {
    return headerEnd(std::string_view(buffer_).substr(bufferStart_)) != std::string_view::npos;
  }
  // The bytes read past the last request, sized to fit (a parked connection holds them).
  std::string takeRest() { return buffer_.substr(bufferStart_); }

  enum class Fill { complete, timedOut, tooLarge, closed };
  // What the gate does for a plain connection, here for a TLS one (its bytes
  // are readable only after the handshake): reads until the buffer holds a
  // whole header. Its first byte must come by `firstByteBy`; the whole header
  // by `wholeBy` and within headerTimeout of its first byte. timedOut: a
  // header begun and not finished in time (nothing begun is just closed).
  Fill fillHeader(SteadyClock::time_point firstByteBy, SteadyClock::time_point wholeBy,
                  std::chrono::milliseconds headerTimeout, size_t maxBytes) {
    buffer_.erase(0, bufferStart_);
    bufferStart_ = 0;
    if (!buffer_.empty()) wholeBy = std::min(wholeBy, SteadyClock::now() + headerTimeout);
    while (!holdsRequestHeader()) {
      if (buffer_.size() > maxBytes) return Fill::tooLarge;
      size_t before = buffer_.size();
      buffer_.resize(before + kReadChunk);
      ssize_t got = receive(buffer_.data() + before, kReadChunk, before == 0 ? std::min(firstByteBy, wholeBy) : wholeBy);
      buffer_.resize(before + static_cast<size_t>(std::max<ssize_t>(got, 0)));
      if (got == 0) return Fill::closed;
      if (got < 0) return before > 0 && SteadyClock::now() >= wholeBy ? Fill::timedOut : Fill::closed;
      if (before == 0) wholeBy = std::min(wholeBy, SteadyClock::now() + headerTimeout);
    }
    return Fill::complete;
  }
  // A response the gate's canned bytes make (a refusal before any request was read).
  void writeRaw(const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      ssize_t sent = write(bytes.data() + done, bytes.size() - done);
      if (sent <= 0) return;
      done += static_cast<size_t>(sent);
    }
  }

  void detach() { detached_ = true; }
  bool detached() const { return detached_; }
  bool tls() const { return ssl_ != nullptr; }

 private:
  // At most `size` bytes, waiting no later than `deadline`; -1 on error or timeout, 0 at the end.
  ssize_t receive(char* ptr, size_t size, SteadyClock::time_point deadline) {
    if (ssl_) return receiveTls(ptr, size, deadline);
    if (!waitFor(sock_, POLLIN, millisUntil(deadline))) return -1;
    for (;;) {
      ssize_t got = ::recv(sock_, ptr, size, 0);
      if (got < 0 && errno == EINTR) continue;
      return got;
    }
  }
  ssize_t receiveTls(char* ptr, size_t size, SteadyClock::time_point deadline) {
    int chunk = static_cast<int>(std::min<size_t>(size, std::numeric_limits<int>::max()));
    for (;;) {
      int got = SSL_read(ssl_, ptr, chunk);
      if (got > 0) return got;
      int error = SSL_get_error(ssl_, got);
      if (error == SSL_ERROR_ZERO_RETURN) return 0;
      short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (events == 0 || !waitFor(sock_, events, millisUntil(deadline))) return -1;
    }
  }
  ssize_t sendNow(const char* ptr, size_t size) {
    if (ssl_) return sendTls(ptr, size);
    if (!is_writable()) return -1;
    for (;;) {
      ssize_t sent = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (sent < 0 && errno == EINTR) continue;
      return sent;
    }
  }
  bool sendAll(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t sent = sendNow(bytes.data(), bytes.size());
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(sent));
    }
    return true;
  }
  // A whole response header (httplib writes one in one call) with a nonzero Content-Length.
  static bool announcesBody(std::string_view bytes) {
    if (!bytes.starts_with("HTTP/1.") || !bytes.ends_with("\r\n\r\n")) return false;
    constexpr std::string_view kLength = "\r\nContent-Length: ";
    size_t at = bytes.find(kLength);
    return at != std::string_view::npos && bytes.substr(at + kLength.size(), 3) != "0\r\n";
  }
  ssize_t sendTls(const char* ptr, size_t size) {
    int chunk = static_cast<int>(std::min<size_t>(size, std::numeric_limits<int>::max()));
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(writeTimeoutMs_);
    for (;;) {
      int sent = SSL_write(ssl_, ptr, chunk);
      if (sent > 0) return sent;
      int error = SSL_get_error(ssl_, sent);
      short events = error == SSL_ERROR_WANT_WRITE ? POLLOUT : error == SSL_ERROR_WANT_READ ? POLLIN : 0;
      if (events == 0 || !waitFor(sock_, events, millisUntil(deadline))) return -1;
    }
  }
  ssize_t copyBuffered(char* ptr, size_t size) {
    size_t n = std::min(size, buffer_.size() - bufferStart_);
    std::memcpy(ptr, buffer_.data() + bufferStart_, n);
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
  SSL* ssl_;  // null: plain
  int readTimeoutMs_;
  int writeTimeoutMs_;
  std::chrono::milliseconds bodyTimeout_;
  std::string buffer_;
  size_t bufferStart_ = 0;
  std::string heldHeader_;  // a response header waiting for its body (write())
  SteadyClock::time_point bodyStart_ = SteadyClock::now();
  uint64_t bodyBytes_ = 0;
  bool bodyTimedOut_ = false;
  bool detached_ = false;
  mutable std::optional<EndpointNames> names_;
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

// What a server needs of the gate's limits beyond the gate (a TLS header is
// read on the worker).
struct ConnectionLimits {
  GateOptions gate;
  std::chrono::milliseconds bodyTimeout;
};

// httplib's request processing over a ConnectionStream, so that a response
// can hand its connection over (httplib can only write responses). It never
// accepts: the gate does, and hands it connections.
class GatedServer : public httplib::Server {
 public:
  explicit GatedServer(ConnectionLimits limits) : limits_(std::move(limits)) {}
  // Serves the connection's requests until it must wait for another one.
  virtual void serveConnection(GatedConnection connection, ConnectionGate& gate) = 0;
  // From stop(): requests in flight answer "Connection: close" and streams end
  // (httplib's chunked writer ends when the listening socket is gone).
  void markStopping() { svr_sock_ = INVALID_SOCKET; }

 protected:
  bool stopping() const { return svr_sock_ == INVALID_SOCKET; }
  int readTimeoutMs() const { return toMillis(read_timeout_sec_, read_timeout_usec_); }
  int writeTimeoutMs() const { return toMillis(write_timeout_sec_, write_timeout_usec_); }

  enum class After { next, close, linger, takenOver };
  // One request; what the connection does next.
  After serveOne(ConnectionStream& stream, bool& connectionClosed) {
    bool stoppingNow = stopping();
    connectionClosed = false;
    tConnection = &stream;
    tCloseAfter = false;
    stream.beginRequest();
    bool ok = process_request(stream, stoppingNow, connectionClosed, nullptr);
    ok = stream.flushHeld() && ok;
    tConnection = nullptr;
    if (stream.detached()) return After::takenOver;
    if (tCloseAfter) {
      tCloseAfter = false;
      return After::linger;
    }
    return !ok || connectionClosed || stoppingNow ? After::close : After::next;
  }

  ConnectionLimits limits_;
};

// Plain HTTP (TCP or the unix socket): the gate has read the request header.
class PlainServer final : public GatedServer {
 public:
  using GatedServer::GatedServer;

  // Serves the requests the connection holds, then parks it in the gate to
  // wait for its next one (or closes it).
  void serveConnection(GatedConnection connection, ConnectionGate& gate) override {
    int sock = connection.socket.get();
    ConnectionStream stream(sock, nullptr, std::move(connection.received), readTimeoutMs(), writeTimeoutMs(),
                            limits_.bodyTimeout, std::move(connection.names));
    for (;;) {
      bool connectionClosed = false;
      switch (serveOne(stream, connectionClosed)) {
        case After::takenOver: {
          ConnectionTaker taker = std::move(tTaker);
          tTaker = nullptr;
          taker(std::move(connection.socket));
          return;
        }
        case After::linger: lingerAndDrain(sock); break;
        case After::close: break;
        case After::next:
          if (stream.holdsRequestHeader()) continue;  // pipelined
          connection.received = stream.takeRest();
          connection.names = stream.names();
          gate.park(std::move(connection));
          return;
      }
      ::shutdown(sock, SHUT_RDWR);
      return;
    }
  }
};

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};

// HTTPS: the gate only saw the first bytes come. The handshake and the header
// are read here, on the worker, within the header timeout together; a kept
// alive connection waits here for its next request (the gate cannot read
// encrypted bytes without holding the TLS state).
class TlsServer final : public GatedServer {
 public:
  static Result<std::unique_ptr<TlsServer>> make(const std::string& cert, const std::string& key,
                                                  ConnectionLimits limits) {
    std::unique_ptr<SSL_CTX, SslCtxFree> ctx(SSL_CTX_new(TLS_server_method()));
    if (!ctx) return fail(Errc::host_refused, "cannot make a TLS context");
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
    SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1)
      return fail(Errc::invalid_argument, "cannot load the TLS certificate " + cert + " and key " + key);
    return std::unique_ptr<TlsServer>(new TlsServer(std::move(ctx), std::move(limits)));
  }

  void serveConnection(GatedConnection connection, ConnectionGate&) override {
    int sock = connection.socket.get();
    int flags = ::fcntl(sock, F_GETFL);
    if (flags < 0 || ::fcntl(sock, F_SETFL, flags | O_NONBLOCK) != 0) {
      spdlog::warn("TLS: O_NONBLOCK on a connection: {}", std::strerror(errno));
      return;
    }
    SslHandle ssl(SSL_new(ctx_.get()));
    if (!ssl || SSL_set_fd(ssl.get(), sock) != 1) {
      spdlog::warn("TLS: cannot set up a connection");
      return;
    }
    const GateOptions& gate = limits_.gate;
    // The handshake and the first header share one deadline.
    auto firstBy = SteadyClock::now() + gate.headerTimeout;
    if (!handshake(ssl.get(), sock, firstBy)) return;
    ConnectionStream stream(sock, ssl.get(), {}, readTimeoutMs(), writeTimeoutMs(), limits_.bodyTimeout);
    auto wholeBy = firstBy;
    for (bool serving = true; serving;) {
      switch (stream.fillHeader(firstBy, wholeBy, gate.headerTimeout, gate.maxHeaderBytes)) {
        case ConnectionStream::Fill::complete: break;
        case ConnectionStream::Fill::tooLarge: stream.writeRaw(gate.headerTooLarge); serving = false; continue;
        case ConnectionStream::Fill::timedOut: stream.writeRaw(gate.headerTimedOut); serving = false; continue;
        case ConnectionStream::Fill::closed: serving = false; continue;
      }
      bool connectionClosed = false;
      // No take-over on TLS (serve() refuses it); a refused body is left unread.
      serving = serveOne(stream, connectionClosed) == After::next;
      firstBy = SteadyClock::now() + gate.idleTimeout;
      wholeBy = SteadyClock::time_point::max();
    }
    SSL_shutdown(ssl.get());  // the close_notify, if the socket takes it now; never waits
    ::shutdown(sock, SHUT_RDWR);
  }

 private:
  TlsServer(std::unique_ptr<SSL_CTX, SslCtxFree> ctx, ConnectionLimits limits)
      : GatedServer(std::move(limits)), ctx_(std::move(ctx)) {}

  static bool handshake(SSL* ssl, int sock, SteadyClock::time_point deadline) {
    for (;;) {
      int done = SSL_accept(ssl);
      if (done == 1) return true;
      int error = SSL_get_error(ssl, done);
      short events = error == SSL_ERROR_WANT_READ ? POLLIN : error == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (events == 0 || !waitFor(sock, events, millisUntil(deadline))) {
        spdlog::debug("TLS handshake ended: {}", events == 0 ? "refused" : "timed out");
        return false;
      }
    }
  }

  std::unique_ptr<SSL_CTX, SslCtxFree> ctx_;
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

WireError bodyTimedOut() {
  return {408, "VALIDATION_ERROR", "the request body did not keep arriving (body_timeout_s, then at least 1 KiB/s)"};
}

// httplib's listen backlog is 5, compiled into the library: 64 clients
// connecting at once overflow it, and the dropped ones wait out SYN
// retransmits (1 s, 3 s, ...). A second listen() on the bound socket widens it.
Result<void> widenBacklog(int listenFd) {
  if (listenFd < 0) return fail(Errc::internal, "the listening socket was not seen");
  if (::listen(listenFd, SOMAXCONN) != 0) return sysFail("listen (widening the backlog)");
  return {};
}

// A whole HTTP response with the envelope, for the gate to write before any request is read.
std::string rawResponse(const WireError& error) {
  HttpResponse response = errorResponse(error);
  return "HTTP/1.1 " + std::to_string(response.status) + " " + std::string(reasonPhrase(response.status)) +
         "\r\nContent-Type: " + response.contentType + "\r\nContent-Length: " + std::to_string(response.body.size()) +
         "\r\nConnection: close\r\n\r\n" + response.body;
}

ConnectionLimits limitsOf(const ServerOptions& options) {
  auto seconds = [](std::chrono::milliseconds t) { return std::to_string(t.count() / 1000) + " s"; };
  ConnectionLimits limits;
  limits.bodyTimeout = options.bodyTimeout;
  GateOptions& gate = limits.gate;
  gate.headerTimeout = options.headerTimeout;
  gate.idleTimeout = options.keepAliveTimeout;
  gate.maxConnectionsPerClient = options.maxConnectionsPerClient;
  gate.tooManyConnections = rawResponse(
      {503, "EXTERNAL_SERVICE_ERROR",
       "too many connections from this address (max_connections_per_client " +
           std::to_string(options.maxConnectionsPerClient) + "); close some and retry"});
  gate.headerTooLarge = rawResponse(
      {431, "VALIDATION_ERROR", "request header exceeds " + std::to_string(gate.maxHeaderBytes) + " bytes"});
  gate.headerTimedOut = rawResponse(
      {408, "VALIDATION_ERROR", "the request header did not arrive within " + seconds(options.headerTimeout) +
                                    " (header_timeout_s)"});
  return limits;
}

}  // namespace

struct HttpServer::Impl {
  Api& api;
  ServerOptions options;
  ConnectionLimits limits;
  std::unique_ptr<ConnectionGate> gate;
  std::unique_ptr<GatedServer> tcp;
  std::unique_ptr<GatedServer> unixSocket;
  // Made before the listeners they serve and shut down after the gate stops.
  std::unique_ptr<WorkerPool> tcpWorkers;
  std::unique_ptr<WorkerPool> unixWorkers;
  int boundPort = 0;
  int tcpListenFd = -1;  // httplib's until bind hands it to the gate; seen as it is made
  int unixListenFd = -1;
  UniqueFd unixListening;  // from bindUnixSocket to the gate

  Impl(Api& a, ServerOptions o) : api(a), options(std::move(o)), limits(limitsOf(options)) {}

  Result<void> makeTcpServer() {
    if (options.tlsCert.empty()) {
      tcp = std::make_unique<PlainServer>(limits);
      return {};
    }
    BERTH_TRY(tcp, TlsServer::make(options.tlsCert, options.tlsKey, limits));
    return {};
  }

  // The gate hands a connection to its server's pool; it must not block.
  ConnectionGate::Dispatch dispatchTo(GatedServer& server, WorkerPool& workers) {
    return [this, &server, &workers](GatedConnection connection) {
      // A std::function is copyable; the connection is not.
      auto pending = std::make_shared<GatedConnection>(std::move(connection));
      workers.enqueue([this, &server, pending] { server.serveConnection(std::move(*pending), *gate); });
    };
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
      refuse(res, tConnection && tConnection->bodyTimedOut() ? bodyTimedOut() : transportError(tooLarge ? 413 : 400));
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
      if (!tConnection || tConnection->tls()) {
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

  void configure(httplib::Server& server, int& listenFd) {
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
    // Only what the Keep-Alive header announces: between requests a connection
    // waits in the gate, holding no worker, so no count bounds it.
    server.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server.set_keep_alive_timeout(std::max<time_t>(1, options.keepAliveTimeout.count() / 1000));
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
    unixSocket = std::make_unique<PlainServer>(limits);
    configure(*unixSocket, unixListenFd);
    unixSocket->set_address_family(AF_UNIX);
    // The port is unused for AF_UNIX, but 0 would make httplib look for the
    // kernel-chosen port of an inet socket and fail.
    constexpr int kUnusedPort = 1;
    if (!unixSocket->bind_to_port(path, kUnusedPort)) return fail(Errc::host_refused, "cannot bind unix socket " + path);
    unixListening = UniqueFd(unixListenFd);
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
  Impl& m = *impl;
  BERTH_TRY(m.gate, ConnectionGate::make(m.limits.gate));
  BERTH_TRYV(m.makeTcpServer());
  m.configure(*m.tcp, m.tcpListenFd);
  if (options.port == 0) {
    m.boundPort = m.tcp->bind_to_any_port(options.host);
    if (m.boundPort <= 0) return fail(Errc::host_refused, "cannot bind " + options.host + " to a free port");
  } else {
    if (!m.tcp->bind_to_port(options.host, options.port))
      return fail(Errc::host_refused, "cannot bind " + options.host + ":" + std::to_string(options.port));
    m.boundPort = options.port;
  }
  // httplib never listens on it (the gate accepts), so it never closes it either.
  UniqueFd tcpListening(m.tcpListenFd);
  BERTH_TRYV(widenBacklog(m.tcpListenFd));
  m.tcpWorkers = std::make_unique<WorkerPool>(options.workerThreads);
  auto framing = options.tlsCert.empty() ? ConnectionGate::Framing::http : ConnectionGate::Framing::tls;
  BERTH_TRYV(m.gate->addListener(std::move(tcpListening), framing, true, m.dispatchTo(*m.tcp, *m.tcpWorkers)));
  if (options.socketPath) {
    BERTH_TRYV(m.bindUnixSocket(*options.socketPath));
    m.unixWorkers = std::make_unique<WorkerPool>(options.unixWorkerThreads);
    BERTH_TRYV(m.gate->addListener(std::move(m.unixListening), ConnectionGate::Framing::http, false,
                                   m.dispatchTo(*m.unixSocket, *m.unixWorkers)));
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->boundPort; }

Result<void> HttpServer::run() {
  Impl& m = *impl_;
  auto served = m.gate->run();
  // Requests in flight finish (their connections close rather than park).
  m.tcpWorkers->shutdown();
  if (m.unixWorkers) m.unixWorkers->shutdown();
  return served;
}

void HttpServer::stop() {
  Impl& m = *impl_;
  m.tcp->markStopping();
  if (m.unixSocket) m.unixSocket->markStopping();
  m.gate->stop();
}

}  // namespace berth::api
