#include "common/percent_encoding.hpp"
#include "cmd/terminal_client.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

// websocketpp 0.8.2 in its C++11 STL mode (no Boost), header-only, as in
// api/websocket.cpp: only the hybi13 processor (RFC 6455), its HTTP types and
// message buffers, never its endpoint or transports. Here in its client role:
// it masks every frame it sends and refuses masked frames from the service.
#include <websocketpp/close.hpp>
#include <websocketpp/concurrency/none.hpp>
#include <websocketpp/extensions/permessage_deflate/disabled.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/message_buffer/alloc.hpp>
#include <websocketpp/message_buffer/message.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/random/random_device.hpp>
#include <websocketpp/uri.hpp>

#include "common/unique_fd.hpp"

namespace berth::cli {

namespace {

namespace wspp = websocketpp;
using Json = nlohmann::json;

// What hybi13<config> reads from its config (websocketpp::config::core's
// choices, minus the endpoint parts).
struct ProcessorConfig {
  using request_type = wspp::http::parser::request;
  using response_type = wspp::http::parser::response;
  using message_type = wspp::message_buffer::message<wspp::message_buffer::alloc::con_msg_manager>;
  using con_msg_manager_type = wspp::message_buffer::alloc::con_msg_manager<message_type>;
  // A client masks each frame with a fresh unpredictable key (RFC 6455 5.3)
  // and draws the handshake key from it; one thread, so no locking.
  using rng_type = wspp::random::random_device::int_generator<uint32_t, wspp::concurrency::none>;
  struct permessage_deflate_config {
    using request_type = wspp::http::parser::request;
  };
  using permessage_deflate_type = wspp::extensions::permessage_deflate::disabled<permessage_deflate_config>;
  // Terminal output comes in small frames; this only bounds a broken service.
  static constexpr size_t max_message_size = size_t{16} << 20;
  static constexpr bool enable_extensions = false;
};

using Processor = wspp::processor::hybi13<ProcessorConfig>;
using MessagePtr = ProcessorConfig::message_type::ptr;
using Opcode = wspp::frame::opcode::value;

constexpr uint16_t kCloseNormal = wspp::close::status::normal;        // 1000
constexpr uint16_t kCloseGoingAway = wspp::close::status::going_away;  // 1001

constexpr size_t kReadChunk = 64 * 1024;
// While this much waits for the socket, stdin is not read: a large paste
// waits for the service instead of filling memory.
constexpr size_t kMaxQueuedOutput = 256 * 1024;
// An error answer's body is an envelope; more than this is not read.
constexpr size_t kMaxErrorBody = size_t{1} << 20;
// Once the session is over, the last frames (the close) get this long to leave.
constexpr std::chrono::milliseconds kFinalFlush{1000};

// The signals the session loop handles. SIGWINCH is a resize; the others
// make berth leave (in raw mode ^C and ^\ are bytes for the remote, so these
// come from elsewhere: kill, a closed terminal).
constexpr std::array kSessionSignals{SIGWINCH, SIGINT, SIGTERM, SIGHUP, SIGQUIT};

std::string signalName(int signal) {
  const char* abbreviation = ::sigabbrev_np(signal);
  return abbreviation ? std::string("SIG") + abbreviation : "signal " + std::to_string(signal);
}

// Where the service listens, from BERTH_URL.
struct ServiceAddress {
  std::string unixPath;    // set for unix:///path; then host and port are unused
  std::string host;        // a name or an address, IPv6 without its brackets
  std::string port;
  std::string hostHeader;  // the Host header: the URL's authority as written
};

Error badUrl(const std::string& url, const std::string& why) {
  return Error{Errc::invalid_argument, 0, "BERTH_URL " + url + ": " + why, {}};
}

// http://host[:port][/] or unix:///path, as ApiClient takes them (a bare
// host:port is http, as httplib reads it). TLS is not spoken here.
Result<ServiceAddress> parseServiceUrl(const std::string& url) {
  constexpr std::string_view unixScheme = "unix://", httpScheme = "http://", httpsScheme = "https://";
  auto startsWith = [&](std::string_view prefix) { return url.rfind(prefix, 0) == 0; };
  ServiceAddress address;
  if (startsWith(unixScheme)) {
    address.unixPath = url.substr(unixScheme.size());
    if (address.unixPath.empty()) return tl::unexpected(badUrl(url, "names no socket path"));
    if (address.unixPath.size() >= sizeof(sockaddr_un{}.sun_path))
      return tl::unexpected(badUrl(url, "the socket path is too long for a unix socket address"));
    address.hostHeader = "localhost";
    return address;
  }
  if (startsWith(httpsScheme))
    return tl::unexpected(badUrl(url, "exec -i/-t does not speak TLS; point BERTH_URL at the service's plain http "
                                      "address or its unix:// socket"));
  std::string authority = startsWith(httpScheme) ? url.substr(httpScheme.size()) : url;
  if (authority.find("://") != std::string::npos)
    return tl::unexpected(badUrl(url, "exec -i/-t needs an http:// or unix:// URL"));
  if (size_t slash = authority.find('/'); slash != std::string::npos) {
    if (slash + 1 != authority.size()) return tl::unexpected(badUrl(url, "a path after the address is not supported"));
    authority.resize(slash);
  }
  address.hostHeader = authority;

  std::string_view rest = authority;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return tl::unexpected(badUrl(url, "an IPv6 address without its ']'"));
    address.host = rest.substr(1, close - 1);
    rest.remove_prefix(close + 1);
  } else {
    size_t colon = std::min(rest.find(':'), rest.size());
    address.host = rest.substr(0, colon);
    rest.remove_prefix(colon);
  }
  if (address.host.empty()) return tl::unexpected(badUrl(url, "names no host"));
  if (rest.empty()) {
    address.port = "80";
  } else {
    std::string_view port = rest.substr(1);
    bool digits = rest.front() == ':' && !port.empty() &&
                  port.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits) return tl::unexpected(badUrl(url, "the port is not a number"));
    address.port = port;
  }
  return address;
}


Result<UniqueFd> connectToService(const ServiceAddress& address) {
  if (!address.unixPath.empty()) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return sysFail("socket(AF_UNIX)");
    sockaddr_un name{};
    name.sun_family = AF_UNIX;
    std::memcpy(name.sun_path, address.unixPath.data(), address.unixPath.size());
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&name), sizeof name) != 0)
      return sysFail("connecting to unix://" + address.unixPath);
    return fd;
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int status = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &found); status != 0) {
    if (status == EAI_SYSTEM) return sysFail("resolving " + address.host);
    return fail(Errc::host_refused, "resolving " + address.host + ": " + ::gai_strerror(status));
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  // Each address in turn, as a name may resolve to ::1 and 127.0.0.1 with
  // the service on only one; the last failure is the one reported.
  int lastErrno = 0;
  for (const addrinfo* candidate = addresses.get(); candidate; candidate = candidate->ai_next) {
    UniqueFd fd(::socket(candidate->ai_family, candidate->ai_socktype | SOCK_CLOEXEC, candidate->ai_protocol));
    if (!fd) {
      lastErrno = errno;
      continue;
    }
    if (::connect(fd.get(), candidate->ai_addr, candidate->ai_addrlen) != 0) {
      lastErrno = errno;
      continue;
    }
    // Keystrokes are tiny writes that must leave at once, not wait to be coalesced.
    int on = 1;
    if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
      return sysFail("setsockopt(TCP_NODELAY)");
    return fd;
  }
  return sysFail("connecting to " + address.hostHeader, lastErrno);
}

// Reads what is there (blocking until something is); 0 is the end of input.
Result<size_t> readSome(int fd, char* buffer, size_t size, const char* what) {
  while (true) {
    ssize_t got = ::read(fd, buffer, size);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return sysFail(std::string("reading from ") + what);
  }
}

// Writes all of `data` (SIGPIPE is ignored: a closed peer is EPIPE). A
// descriptor someone made non-blocking (a shared terminal can be) is waited
// for rather than failed.
Result<void> writeAll(int fd, std::string_view data, const char* what) {
  while (!data.empty()) {
    ssize_t wrote = ::write(fd, data.data(), data.size());
    if (wrote >= 0) {
      data.remove_prefix(static_cast<size_t>(wrote));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return sysFail(std::string("writing to ") + what);
    pollfd writable{fd, POLLOUT, 0};
    if (::poll(&writable, 1, -1) < 0 && errno != EINTR) return sysFail(std::string("poll on ") + what);
  }
  return {};
}

// websocketpp's hybi13 processor in its client role, plus the bytes waiting
// for the socket. It never touches the socket itself.
class WebSocketClient {
 public:
  // The upgrade request for `resource`, as the bytes to write.
  Result<std::string> upgradeRequest(const std::string& resource, const std::string& hostHeader,
                                     const std::string& token) {
    auto uri = std::make_shared<wspp::uri>(false, hostHeader, resource);
    if (std::error_code error = processor_.client_handshake_request(request_, uri, {}))
      return fail(Errc::internal, "building the WebSocket upgrade: " + error.message());
    // websocketpp spells Host from its uri (no brackets for IPv6, no unix
    // socket); the URL's authority as written is what the service expects.
    request_.replace_header("Host", hostHeader);
    if (!token.empty()) request_.replace_header("Authorization", "Bearer " + token);
    return request_.raw();
  }

  // Checks a 101 answer against the request: Upgrade, Connection and the
  // Sec-WebSocket-Accept derived from our key.
  Result<void> acceptUpgrade(ProcessorConfig::response_type& response) {
    if (std::error_code error = processor_.validate_server_handshake_response(request_, response))
      return fail(Errc::internal, "the service's WebSocket upgrade answer is invalid: " + error.message());
    return {};
  }

  Result<void> queueBinary(std::string_view bytes) { return queueData(wspp::frame::opcode::binary, bytes); }
  Result<void> queueText(std::string_view text) { return queueData(wspp::frame::opcode::text, text); }

  Result<void> queuePong(const std::string& payload) {
    MessagePtr out = messages_->get_message();
    if (std::error_code error = processor_.prepare_pong(payload, out))
      return fail(Errc::internal, "websocket pong: " + error.message());
    queue(out);
    return {};
  }

  Result<void> queueClose(uint16_t code, const std::string& reason) {
    MessagePtr out = messages_->get_message();
    if (std::error_code error = processor_.prepare_close(code, reason, out))
      return fail(Errc::internal, "websocket close " + std::to_string(code) + ": " + error.message());
    queue(out);
    return {};
  }

  // Takes bytes read from the socket (websocketpp may rewrite them); returns
  // how many were used. A complete message is then ready in takeMessage().
  Result<size_t> consume(uint8_t* bytes, size_t size) {
    std::error_code error;
    size_t used = processor_.consume(bytes, size, error);
    if (error) return fail(Errc::internal, "the service's WebSocket frames: " + error.message());
    return used;
  }

  std::optional<MessagePtr> takeMessage() {
    if (!processor_.ready()) return std::nullopt;
    return processor_.get_message();
  }

  // The framed bytes to write to the socket, in order; the writer erases
  // what it wrote.
  std::string& output() { return output_; }

 private:
  Result<void> queueData(Opcode opcode, std::string_view payload) {
    MessagePtr in = messages_->get_message(opcode, payload.size());
    in->set_payload(payload.data(), payload.size());
    MessagePtr out = messages_->get_message();
    if (std::error_code error = processor_.prepare_data_frame(in, out))
      return fail(Errc::internal, "websocket frame: " + error.message());
    queue(out);
    return {};
  }

  void queue(const MessagePtr& frame) {
    output_ += frame->get_header();
    output_ += frame->get_payload();
  }

  // The processor holds rng_ by reference: declared first.
  ProcessorConfig::rng_type rng_;
  ProcessorConfig::con_msg_manager_type::ptr messages_ = std::make_shared<ProcessorConfig::con_msg_manager_type>();
  Processor processor_{false, false, messages_, rng_};
  ProcessorConfig::request_type request_;
  std::string output_;
};

// A non-101 answer as berth prints API errors: "404 CONTAINER_NOT_FOUND: ...".
Error refusalFrom(int status, const std::string& body) {
  Json envelope = Json::parse(body, nullptr, false);
  std::string code = envelope.is_object() ? envelope.value("code", "") : "";
  std::string message = envelope.is_object() ? envelope.value("message", body) : body;
  return Error{Errc::unavailable, 0, std::to_string(status) + " " + code + ": " + message, {}};
}

// Sends the upgrade and reads the answer to the end of its headers. Returns
// the bytes read past them: the first frames. A non-101 answer is read whole
// and becomes its envelope's error.
Result<std::string> upgrade(int socket, WebSocketClient& client, const std::string& resource,
                            const std::string& hostHeader, const std::string& token) {
  BERTH_TRY(std::string request, client.upgradeRequest(resource, hostHeader, token));
  BERTH_TRYV(writeAll(socket, request, "the service"));

  ProcessorConfig::response_type response;
  std::vector<char> buffer(kReadChunk);
  std::string pastHeaders;
  try {
    while (!response.headers_ready()) {
      BERTH_TRY(size_t got, readSome(socket, buffer.data(), buffer.size(), "the service"));
      if (got == 0) return fail(Errc::unavailable, "the service closed the connection before answering the upgrade");
      size_t used = response.consume(buffer.data(), got);
      pastHeaders.assign(buffer.data() + used, got - used);
    }
    int status = response.get_status_code();
    if (status == wspp::http::status_code::switching_protocols) {
      BERTH_TRYV(client.acceptUpgrade(response));
      return pastHeaders;
    }
    // The error envelope: as long as Content-Length says, else up to the end.
    bool sized = !response.get_header("Content-Length").empty();
    std::string body = sized ? response.get_body() : pastHeaders;
    while (sized ? !response.ready() : body.size() < kMaxErrorBody) {
      BERTH_TRY(size_t got, readSome(socket, buffer.data(), buffer.size(), "the service"));
      if (got == 0) break;
      if (sized) {
        response.consume(buffer.data(), got);
        body = response.get_body();
        if (body.size() >= kMaxErrorBody) break;
      } else {
        body.append(buffer.data(), got);
      }
    }
    return tl::unexpected(refusalFrom(status, body));
  } catch (const wspp::http::exception& e) {
    return fail(Errc::internal, std::string("the service's answer to the upgrade is not HTTP: ") + e.what());
  }
}

// The size of the terminal on stdin; none when it reports 0x0 (a pty nobody sized).
Result<std::optional<winsize>> stdinWindowSize() {
  winsize size{};
  if (::ioctl(STDIN_FILENO, TIOCGWINSZ, &size) != 0) return sysFail("ioctl(stdin, TIOCGWINSZ)");
  if (size.ws_col == 0 || size.ws_row == 0) return std::nullopt;
  return size;
}

std::string terminalResource(const TerminalRequest& request, const std::optional<winsize>& size) {
  std::string resource = "/api/v1/containers/" + percentEncode(request.containerId) +
                         "/terminal?command=" + percentEncode(Json(request.command).dump());
  if (size) resource += "&cols=" + std::to_string(size->ws_col) + "&rows=" + std::to_string(size->ws_row);
  return resource;
}

// The session's signals, blocked and read from a signalfd, so no handler
// runs and the loop does the work. The previous mask is back on destruction;
// a signal still pending then is delivered as usual.
class BlockedSignals {
 public:
  BlockedSignals() = default;
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;
  ~BlockedSignals() {
    if (!blocked_) return;
    if (int error = ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr); error != 0)
      std::fprintf(stderr, "berth: restoring the signal mask: %s\n", std::strerror(error));
  }

  Result<void> block() {
    sigset_t handled;
    if (::sigemptyset(&handled) != 0) return sysFail("sigemptyset");
    for (int signal : kSessionSignals)
      if (::sigaddset(&handled, signal) != 0) return sysFail("sigaddset(" + signalName(signal) + ")");
    if (int error = ::pthread_sigmask(SIG_BLOCK, &handled, &previous_); error != 0)
      return sysFail("pthread_sigmask(SIG_BLOCK)", error);
    blocked_ = true;
    fd_.reset(::signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!fd_) return sysFail("signalfd");
    return {};
  }

  int fd() const { return fd_.get(); }

 private:
  sigset_t previous_{};
  bool blocked_ = false;
  UniqueFd fd_;
};

// The local terminal in raw mode (cfmakeraw: no echo, no line editing, no
// signal keys, so ^C reaches the remote as a byte), put back as it was on
// destruction, which every exit path of runTerminal passes through.
class RawTerminal {
 public:
  RawTerminal() = default;
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;
  ~RawTerminal() {
    if (fd_ < 0) return;
    // TCSADRAIN: what the session wrote is shown with the settings it was written for.
    if (::tcsetattr(fd_, TCSADRAIN, &saved_) != 0)
      std::fprintf(stderr, "berth: restoring the terminal's settings: %s\n", std::strerror(errno));
  }

  Result<void> enter(int fd) {
    if (::tcgetattr(fd, &saved_) != 0) return sysFail("tcgetattr");
    termios raw = saved_;
    ::cfmakeraw(&raw);
    // TCSANOW, not TCSAFLUSH: keys typed ahead still go to the remote.
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) return sysFail("tcsetattr(raw)");
    fd_ = fd;
    return {};
  }

 private:
  termios saved_{};
  int fd_ = -1;
};

// The exit code a close from the service carries: code 1000 and the exit
// code in decimal as the reason.
Result<int> exitCodeOfClose(uint16_t code, const std::string& reason) {
  if (code != kCloseNormal) {
    return fail(Errc::unavailable, "the service ended the terminal with close code " + std::to_string(code) +
                                       (reason.empty() ? "" : ": " + reason));
  }
  int exitCode = -1;
  const char* end = reason.data() + reason.size();
  auto [stop, error] = std::from_chars(reason.data(), end, exitCode);
  if (reason.empty() || error != std::errc() || stop != end || exitCode < 0 || exitCode > 255)
    return fail(Errc::internal,
                "the service ended the terminal without an exit code (close reason \"" + reason + "\")");
  return exitCode;
}

// One poll loop over the socket, the signalfd and (with -i) stdin, until the
// service closes the terminal or a signal makes berth leave.
class TerminalSession {
 public:
  // forwardsWindowSize: stdin is a terminal whose size the remote follows.
  // endsInputWithCtrlD: nobody can type ^D (no raw local terminal), so the
  // end of stdin is sent as one.
  TerminalSession(int socket, int signalFd, WebSocketClient& client, bool readsStdin, bool forwardsWindowSize,
                  bool endsInputWithCtrlD)
      : socket_(socket),
        signalFd_(signalFd),
        client_(client),
        forwardsWindowSize_(forwardsWindowSize),
        endsInputWithCtrlD_(endsInputWithCtrlD),
        readingStdin_(readsStdin),
        buffer_(kReadChunk) {}

  Result<int> run(std::string firstFrames) {
    BERTH_TRYV(consumeFrames(firstFrames.data(), firstFrames.size()));
    enum { kSocket, kSignals, kStdin };
    while (!ending_) {
      bool hasOutput = !client_.output().empty();
      bool takesStdin = readingStdin_ && client_.output().size() < kMaxQueuedOutput;
      std::array<pollfd, 3> fds{};
      fds[kSocket] = {socket_, static_cast<short>(POLLIN | (hasOutput ? POLLOUT : 0)), 0};
      fds[kSignals] = {signalFd_, POLLIN, 0};
      fds[kStdin] = {takesStdin ? STDIN_FILENO : -1, POLLIN, 0};  // a negative fd is skipped
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return sysFail("poll");
      }
      if (fds[kSignals].revents) BERTH_TRYV(readSignals());
      if (!ending_ && (fds[kSocket].revents & (POLLIN | POLLHUP | POLLERR))) BERTH_TRYV(readSocket());
      if (!ending_ && (fds[kSocket].revents & POLLOUT)) BERTH_TRYV(writeSocket());
      if (!ending_ && fds[kStdin].revents) BERTH_TRYV(readStdin());
    }
    flushBeforeLeaving();
    return std::move(*ending_);
  }

 private:
  Result<void> readSocket() {
    ssize_t got = ::read(socket_, buffer_.data(), buffer_.size());
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return {};
      return sysFail("reading from the service");
    }
    if (got == 0) return fail(Errc::unavailable, "the service closed the connection without closing the terminal");
    return consumeFrames(buffer_.data(), static_cast<size_t>(got));
  }

  Result<void> consumeFrames(char* data, size_t size) {
    auto* bytes = reinterpret_cast<uint8_t*>(data);
    while (size > 0 && !ending_) {
      BERTH_TRY(size_t used, client_.consume(bytes, size));
      bytes += used;
      size -= used;
      if (std::optional<MessagePtr> message = client_.takeMessage()) {
        BERTH_TRYV(onMessage(*message));
      } else if (used == 0) {
        // Neither bytes taken nor a message finished: it would spin forever.
        return fail(Errc::internal, "websocketpp took no bytes of the service's frames");
      }
    }
    return {};
  }

  Result<void> onMessage(const MessagePtr& message) {
    switch (message->get_opcode()) {
      case wspp::frame::opcode::binary:
        return writeAll(STDOUT_FILENO, message->get_payload(), "stdout");
      case wspp::frame::opcode::ping:
        return client_.queuePong(message->get_payload());
      case wspp::frame::opcode::close:
        return onClose(message->get_payload());
      default:  // text and pong: the service sends no text, a pong needs nothing
        return {};
    }
  }

  Result<void> onClose(const std::string& payload) {
    std::error_code error;
    wspp::close::status::value code = wspp::close::extract_code(payload, error);
    std::string reason;
    if (!error) reason = wspp::close::extract_reason(payload, error);
    if (error) {
      ending_ = fail(Errc::internal, "the service's close frame is invalid: " + error.message());
      return {};
    }
    // RFC 6455 5.5.1: a close is answered with a close, here of the same
    // code (one without a code, with 1000).
    BERTH_TRYV(client_.queueClose(code == wspp::close::status::no_status ? kCloseNormal : code, ""));
    ending_ = exitCodeOfClose(code, reason);
    return {};
  }

  Result<void> readStdin() {
    ssize_t got = ::read(STDIN_FILENO, buffer_.data(), buffer_.size());
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return {};
      return sysFail("reading stdin");
    }
    if (got > 0) return client_.queueBinary({buffer_.data(), static_cast<size_t>(got)});
    readingStdin_ = false;
    // The remote terminal is in line mode, where ^D is what the end of our
    // stdin means. A raw local terminal sends the user's own ^D instead.
    if (endsInputWithCtrlD_) return client_.queueBinary("\x04");
    return {};
  }

  Result<void> readSignals() {
    signalfd_siginfo info{};
    ssize_t got = ::read(signalFd_, &info, sizeof info);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) return {};
      return sysFail("reading the signalfd");
    }
    if (static_cast<size_t>(got) != sizeof info) return fail(Errc::internal, "a short read from the signalfd");
    int signal = static_cast<int>(info.ssi_signo);
    if (signal == SIGWINCH) return forwardsWindowSize_ ? sendWindowSize() : Result<void>{};
    // Leaving: the WebSocket's end is the remote terminal's hang-up.
    BERTH_TRYV(client_.queueClose(kCloseGoingAway, "berth got " + signalName(signal)));
    ending_ = 128 + signal;
    return {};
  }

  Result<void> sendWindowSize() {
    BERTH_TRY(std::optional<winsize> size, stdinWindowSize());
    if (!size) return {};
    return client_.queueText(Json{{"type", "resize"}, {"cols", size->ws_col}, {"rows", size->ws_row}}.dump());
  }

  Result<void> writeSocket() {
    std::string& output = client_.output();
    ssize_t wrote = ::write(socket_, output.data(), output.size());
    if (wrote < 0) {
      if (errno == EINTR || errno == EAGAIN) return {};
      return sysFail("writing to the service");
    }
    output.erase(0, static_cast<size_t>(wrote));
    return {};
  }

  // The outcome is known; the last frames (the close answer, a close 1001)
  // get a bounded time to leave, then our side of the connection ends. A
  // failure here changes nothing: the service may rightly be gone already.
  void flushBeforeLeaving() {
    auto deadline = std::chrono::steady_clock::now() + kFinalFlush;
    while (!client_.output().empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd writable{socket_, POLLOUT, 0};
      int ready = ::poll(&writable, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0 || !writeSocket()) break;
    }
    (void)::shutdown(socket_, SHUT_WR);
  }

  int socket_;
  int signalFd_;
  WebSocketClient& client_;
  bool forwardsWindowSize_;
  bool endsInputWithCtrlD_;
  bool readingStdin_;
  std::vector<char> buffer_;
  // Set when the session is over: the exit code, or why there is none.
  std::optional<Result<int>> ending_;
};

Result<void> setNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return sysFail("fcntl(F_GETFL)");
  if (::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) return sysFail("fcntl(F_SETFL, O_NONBLOCK)");
  return {};
}

}  // namespace

Result<int> runTerminal(const TerminalRequest& request) try {
  // A peer that went away (the service, the reader of our stdout) must be an
  // EPIPE reported after the terminal is restored, not a death in raw mode.
  // Not undone: berth exits after the session.
  if (std::signal(SIGPIPE, SIG_IGN) == SIG_ERR) return sysFail("signal(SIGPIPE, SIG_IGN)");
  BERTH_TRY(ServiceAddress address, parseServiceUrl(request.serviceUrl));
  bool stdinIsTerminal = ::isatty(STDIN_FILENO) == 1;
  std::optional<winsize> size;
  if (stdinIsTerminal) {
    BERTH_TRY(size, stdinWindowSize());
  }
  BERTH_TRY(UniqueFd socket, connectToService(address));
  WebSocketClient client;
  BERTH_TRY(std::string firstFrames,
            upgrade(socket.get(), client, terminalResource(request, size), address.hostHeader, request.token));

  // Until here the terminal is as the user left it and ^C simply ends berth.
  // Declared before the raw terminal, so destroyed after it: a signal still
  // pending when the mask is restored finds the terminal already restored.
  BlockedSignals signals;
  BERTH_TRYV(signals.block());
  // -t with stdin not a terminal (a pipe, a file) has nothing to make raw.
  bool raw = request.rawTerminal && stdinIsTerminal;
  RawTerminal rawTerminal;
  if (raw) BERTH_TRYV(rawTerminal.enter(STDIN_FILENO));
  BERTH_TRYV(setNonBlocking(socket.get()));
  TerminalSession session(socket.get(), signals.fd(), client, request.forwardStdin, stdinIsTerminal, !raw);
  return session.run(std::move(firstFrames));
} catch (const std::exception& e) {
  // websocketpp or nlohmann threw (an allocation, a command that is not UTF-8).
  return fail(Errc::internal, std::string("terminal: ") + e.what());
}

}  // namespace berth::cli
