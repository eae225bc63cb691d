#include "api/websocket.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <exception>
#include <system_error>

// websocketpp 0.8.2 in its C++11 STL mode (no Boost), header-only. Only the
// protocol pieces are used: the hybi13 processor (RFC 6455), its HTTP
// request/response types, message buffers and close codes. Not its endpoint,
// connection or transports: config/core.hpp pulls in logger/basic.hpp,
// which GCC 12 refuses in C++20 (constructors spelled basic<...>(...)), and
// the processor alone is already sans-IO.
#include <websocketpp/base64/base64.hpp>
#include <websocketpp/close.hpp>
#include <websocketpp/extensions/permessage_deflate/disabled.hpp>
#include <websocketpp/frame.hpp>
#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>
#include <websocketpp/message_buffer/alloc.hpp>
#include <websocketpp/message_buffer/message.hpp>
#include <websocketpp/processors/hybi13.hpp>
#include <websocketpp/random/none.hpp>
#include <websocketpp/utf8_validator.hpp>

namespace berth::api {

namespace {

namespace wspp = websocketpp;

// What hybi13<config> reads from its config: websocketpp::config::core's
// choices, minus the endpoint parts.
struct ProcessorConfig {
  using request_type = wspp::http::parser::request;
  using response_type = wspp::http::parser::response;
  using message_type = wspp::message_buffer::message<wspp::message_buffer::alloc::con_msg_manager>;
  using con_msg_manager_type = wspp::message_buffer::alloc::con_msg_manager<message_type>;
  // Only a client masks, so a server never draws a number.
  using rng_type = wspp::random::none::int_generator<uint32_t>;
  struct permessage_deflate_config {
    using request_type = wspp::http::parser::request;
  };
  using permessage_deflate_type = wspp::extensions::permessage_deflate::disabled<permessage_deflate_config>;
  static constexpr size_t max_message_size = WebSocketConnection::kDefaultMaxMessageSize;
  static constexpr bool enable_extensions = false;
};

using Processor = wspp::processor::hybi13<ProcessorConfig>;
using MessagePtr = ProcessorConfig::message_type::ptr;
using Opcode = wspp::frame::opcode::value;

// Bytes fed are copied here first: the processor unmasks in place.
constexpr size_t kScratchSize = 16 * 1024;

// The largest close reason: a control frame's 125 bytes less the code.
constexpr size_t kMaxCloseReason = wspp::frame::limits::close_reason_size;

std::string_view trimmed(std::string_view text) {
  size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(" \t");
  return text.substr(begin, end - begin + 1);
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

// Whether a comma-separated header value lists the token (any case).
bool listsToken(std::string_view value, std::string_view token) {
  while (true) {
    size_t comma = value.find(',');
    if (equalsIgnoringCase(trimmed(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) return false;
    value.remove_prefix(comma + 1);
  }
}

// RFC 6455 4.2.1: the key is a base64-encoded 16-byte value, so exactly the
// canonical 24 characters that decode to 16 bytes.
bool isHandshakeKey(const std::string& key) {
  if (key.size() != 24) return false;
  std::string raw = wspp::base64_decode(key);
  return raw.size() == 16 && wspp::base64_encode(raw) == key;
}

// The close code a processor error ends the connection with. websocketpp
// answers a length that is not minimally encoded with 1011 (its default for
// errors it has no code for); it is the client's protocol error.
uint16_t closeCodeFor(const std::error_code& error) {
  if (error == wspp::processor::error::make_error_code(wspp::processor::error::non_minimal_encoding))
    return ws_close::kProtocolError;
  wspp::close::status::value code = wspp::processor::error::to_ws(error);
  return code == wspp::close::status::blank ? ws_close::kInternalError : code;
}

Error refusedUpgrade(std::string message) {
  return Error{Errc::invalid_argument, 0, "websocket upgrade: " + std::move(message), {}};
}

}  // namespace

struct WebSocketConnection::Impl {
  enum class State { open, closing, closed };

  // rng is held by reference by the processor: declared first.
  ProcessorConfig::rng_type rng;
  ProcessorConfig::con_msg_manager_type::ptr messages = std::make_shared<ProcessorConfig::con_msg_manager_type>();
  Processor processor{false, true, messages, rng};
  State state = State::open;
  std::optional<uint16_t> closeCode;
  std::string output;
  MessageHandler handler;
  std::array<uint8_t, kScratchSize> scratch{};

  void queue(const MessagePtr& frame) {
    output += frame->get_header();
    output += frame->get_payload();
  }

  Result<void> requireOpen() const {
    if (state == State::open) return {};
    return fail(Errc::state_conflict, state == State::closing ? "websocket: closing" : "websocket: closed");
  }

  Result<void> sendData(Opcode opcode, std::string_view payload) {
    BERTH_TRYV(requireOpen());
    MessagePtr in = messages->get_message(opcode, payload.size());
    in->set_payload(payload.data(), payload.size());
    MessagePtr out = messages->get_message();
    std::error_code error = processor.prepare_data_frame(in, out);
    if (error) return fail(Errc::invalid_argument, "websocket: " + error.message());
    queue(out);
    return {};
  }

  Result<void> sendPing(std::string_view payload) {
    BERTH_TRYV(requireOpen());
    MessagePtr out = messages->get_message();
    std::error_code error = processor.prepare_ping(std::string(payload), out);
    if (error) return fail(Errc::invalid_argument, "websocket: ping: " + error.message());
    queue(out);
    return {};
  }

  // Queues a close frame with a code that may be sent (the processor itself
  // would take 1005 as "no code" and send an empty close).
  Result<void> queueClose(uint16_t code, std::string_view reason) {
    if (wspp::close::status::invalid(code) || wspp::close::status::reserved(code))
      return fail(Errc::invalid_argument, "websocket: close code " + std::to_string(code) + " may not be sent");
    if (reason.size() > kMaxCloseReason)
      return fail(Errc::invalid_argument, "websocket: a close reason is at most 123 bytes");
    if (!wspp::utf8_validator::validate(std::string(reason)))
      return fail(Errc::invalid_argument, "websocket: a close reason must be UTF-8");
    MessagePtr out = messages->get_message();
    std::error_code error = processor.prepare_close(code, std::string(reason), out);
    if (error) return fail(Errc::invalid_argument, "websocket: close code " + std::to_string(code) + ": " + error.message());
    queue(out);
    return {};
  }

  // Fails the connection (RFC 6455 7.1.7): a close with the code unless one
  // was sent already, then no more input.
  void failConnection(uint16_t code, std::string_view reason) {
    if (state == State::open) {
      closeCode = code;
      if (!queueClose(code, reason.substr(0, kMaxCloseReason))) (void)queueClose(code, {});
    }
    state = State::closed;
  }

  void receiveClose(const std::string& payload) {
    std::error_code error;
    wspp::close::status::value code = wspp::close::extract_code(payload, error);
    if (error) return failConnection(ws_close::kProtocolError, "invalid close code");
    std::string reason = wspp::close::extract_reason(payload, error);
    if (error) return failConnection(ws_close::kProtocolError, "invalid close reason");
    if (state == State::open) {
      // Echo the peer's close; one without a code is answered "normal".
      closeCode = code;
      bool echoes = code != wspp::close::status::no_status;
      if (!queueClose(echoes ? code : ws_close::kNormal, echoes ? reason : std::string()))
        (void)queueClose(ws_close::kNormal, {});
    }
    // When closing, this is the answer to ours.
    state = State::closed;
  }

  void dispatch(const MessagePtr& message) {
    if (!message) return;
    switch (message->get_opcode()) {
      case wspp::frame::opcode::text:
        // websocketpp 0.8.2 checks that text ends on a whole code point only
        // when its last frame is the first (finalize_message looks at the
        // frame's opcode, a continuation's is 0): a fragmented text cut
        // inside a code point would pass. So the whole text is checked again.
        if (!wspp::utf8_validator::validate(message->get_payload()))
          return failConnection(ws_close::kInvalidPayload, "Invalid UTF8 encoding");
        [[fallthrough]];
      case wspp::frame::opcode::binary:
        // Data after a close was sent is dropped (RFC 6455 1.4).
        if (state == State::open && handler)
          handler(message->get_opcode() == wspp::frame::opcode::binary, message->get_payload());
        break;
      case wspp::frame::opcode::ping:
        if (state == State::open) (void)sendPong(message->get_payload());
        break;
      case wspp::frame::opcode::close:
        receiveClose(message->get_payload());
        break;
      default:  // pong
        break;
    }
  }

  Result<void> sendPong(const std::string& payload) {
    MessagePtr out = messages->get_message();
    std::error_code error = processor.prepare_pong(payload, out);
    if (error) return fail(Errc::internal, "websocket: pong: " + error.message());
    queue(out);
    return {};
  }

  void feed(const char* data, size_t size) {
    while (size > 0 && state != State::closed) {
      size_t chunk = std::min(size, scratch.size());
      std::memcpy(scratch.data(), data, chunk);
      data += chunk;
      size -= chunk;
      size_t done = 0;
      while (done < chunk && state != State::closed) {
        std::error_code error;
        size_t used = processor.consume(scratch.data() + done, chunk - done, error);
        done += used;
        if (error) return failConnection(closeCodeFor(error), error.message());
        if (processor.ready()) {
          dispatch(processor.get_message());
        } else if (used == 0) {
          // The processor neither took bytes nor finished a message: it
          // would loop forever, so it is treated as a failure of ours.
          return failConnection(ws_close::kInternalError, "internal error");
        }
      }
    }
  }
};

WebSocketConnection::WebSocketConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebSocketConnection::~WebSocketConnection() = default;

Result<std::unique_ptr<WebSocketConnection>> WebSocketConnection::accept(const UpgradeRequest& request) try {
  if (request.method != "GET") return tl::unexpected(refusedUpgrade("method " + request.method + " is not GET"));

  ProcessorConfig::request_type parsed;
  parsed.set_method(request.method);
  parsed.set_uri(request.target);
  parsed.set_version("HTTP/1.1");
  for (const auto& [name, value] : request.headers) {
    try {
      parsed.append_header(name, value);
    } catch (const wspp::http::exception&) {
      return tl::unexpected(refusedUpgrade("malformed header name"));
    }
  }

  if (!listsToken(parsed.get_header("Upgrade"), "websocket"))
    return tl::unexpected(refusedUpgrade("the Upgrade header does not name websocket"));
  if (!listsToken(parsed.get_header("Connection"), "upgrade"))
    return tl::unexpected(refusedUpgrade("the Connection header does not name upgrade"));
  std::string_view version = trimmed(parsed.get_header("Sec-WebSocket-Version"));
  if (version.empty()) return tl::unexpected(refusedUpgrade("no Sec-WebSocket-Version header"));
  if (version != "13")
    return tl::unexpected(refusedUpgrade("Sec-WebSocket-Version " + std::string(version) + " is not 13"));
  const std::string& key = parsed.get_header("Sec-WebSocket-Key");
  if (key.empty()) return tl::unexpected(refusedUpgrade("no Sec-WebSocket-Key header"));
  if (!isHandshakeKey(key)) return tl::unexpected(refusedUpgrade("the Sec-WebSocket-Key is not the base64 of 16 bytes"));

  auto impl = std::make_unique<Impl>();
  if (std::error_code error = impl->processor.validate_handshake(parsed))
    return tl::unexpected(refusedUpgrade(error.message()));
  ProcessorConfig::response_type response;
  response.set_version("HTTP/1.1");
  response.set_status(wspp::http::status_code::switching_protocols);
  if (std::error_code error = impl->processor.process_handshake(parsed, "", response))
    return tl::unexpected(refusedUpgrade(error.message()));
  impl->output = impl->processor.get_raw(response);
  return std::unique_ptr<WebSocketConnection>(new WebSocketConnection(std::move(impl)));
} catch (const std::exception& e) {
  return fail(Errc::internal, std::string("websocket upgrade: ") + e.what());
}

std::string WebSocketConnection::takeOutput() { return std::exchange(impl_->output, {}); }

void WebSocketConnection::feed(const char* data, size_t size) {
  try {
    impl_->feed(data, size);
  } catch (...) {
    // websocketpp (an allocation) or the handler threw: the connection ends,
    // with a close 1011 if one can still be queued.
    try {
      impl_->failConnection(ws_close::kInternalError, "internal error");
    } catch (...) {
      impl_->state = Impl::State::closed;
    }
  }
}

Result<void> WebSocketConnection::sendText(std::string_view text) try {
  return impl_->sendData(wspp::frame::opcode::text, text);
} catch (const std::exception& e) {
  return fail(Errc::internal, std::string("websocket: ") + e.what());
}

Result<void> WebSocketConnection::sendBinary(std::string_view bytes) try {
  return impl_->sendData(wspp::frame::opcode::binary, bytes);
} catch (const std::exception& e) {
  return fail(Errc::internal, std::string("websocket: ") + e.what());
}

Result<void> WebSocketConnection::ping(std::string_view payload) try {
  return impl_->sendPing(payload);
} catch (const std::exception& e) {
  return fail(Errc::internal, std::string("websocket: ") + e.what());
}

Result<void> WebSocketConnection::close(uint16_t code, std::string_view reason) try {
  BERTH_TRYV(impl_->requireOpen());
  BERTH_TRYV(impl_->queueClose(code, reason));
  impl_->closeCode = code;
  impl_->state = Impl::State::closing;
  return {};
} catch (const std::exception& e) {
  return fail(Errc::internal, std::string("websocket: ") + e.what());
}

bool WebSocketConnection::closed() const { return impl_->state == Impl::State::closed; }

std::optional<uint16_t> WebSocketConnection::closeCode() const { return impl_->closeCode; }

void WebSocketConnection::onMessage(MessageHandler handler) { impl_->handler = std::move(handler); }

void WebSocketConnection::setMaxMessageSize(size_t bytes) { impl_->processor.set_max_message_size(bytes); }

}  // namespace berth::api
