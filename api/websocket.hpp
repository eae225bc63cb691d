#pragma once
// A WebSocket (RFC 6455) server connection, sans-IO: it is given the upgrade
// request the HTTP layer parsed and the bytes read from the socket, and it
// gives back the bytes to write. It never touches a socket, a thread or a
// clock, so the event stream, a terminal and a compatibility dialect's event
// socket can each drive it from whatever loop they have.
//
// The protocol itself (frame parsing, unmasking, the accept key, UTF-8
// validation of text, close-code rules) is websocketpp's hybi13 processor;
// this class adds only the connection's state (open, closing, closed), the
// answers the protocol requires (pong, close reply) and berth's error
// convention. Only api/websocket.cpp includes websocketpp.
//
// Not thread-safe: one connection is driven by one thread at a time. The
// message handler runs inside feed(); it may call sendText, sendBinary, ping
// and close, but must not feed the connection or destroy it.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.hpp"

namespace berth::api {

// The upgrade request as the HTTP layer parsed it. Header names compare
// case-insensitively; a name given twice counts as one comma-joined list.
struct UpgradeRequest {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
};

// The close codes berth sends (RFC 6455 section 7.4.1).
namespace ws_close {
inline constexpr uint16_t kNormal = 1000;
inline constexpr uint16_t kGoingAway = 1001;       // the service is stopping
inline constexpr uint16_t kProtocolError = 1002;
inline constexpr uint16_t kNoStatus = 1005;        // never sent: a peer's close without a code
inline constexpr uint16_t kInvalidPayload = 1007;  // text that is not UTF-8
inline constexpr uint16_t kPolicyViolation = 1008;
inline constexpr uint16_t kMessageTooBig = 1009;
inline constexpr uint16_t kInternalError = 1011;
}  // namespace ws_close

class WebSocketConnection {
 public:
  using MessageHandler = std::function<void(bool binary, std::string_view payload)>;
  static constexpr size_t kDefaultMaxMessageSize = size_t{1} << 20;

  // Validates the upgrade: method GET, "Upgrade: websocket", "Connection:
  // upgrade" (tokens of comma lists, any case), "Sec-WebSocket-Version: 13"
  // and a Sec-WebSocket-Key that is the base64 of 16 bytes. A bad one is
  // invalid_argument, its message naming what is wrong; the caller answers
  // 400 (with "Sec-WebSocket-Version: 13" for a wrong version) and switches
  // nothing. On success the first output is the "HTTP/1.1 101 Switching
  // Protocols" answer. No subprotocol and no extension is agreed.
  static Result<std::unique_ptr<WebSocketConnection>> accept(const UpgradeRequest& request);

  ~WebSocketConnection();
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // The bytes to write to the socket now, in order (empty when none).
  std::string takeOutput();

  // Bytes read from the socket, in any split. Complete text and binary
  // messages go to the handler (a fragmented one once, whole); a ping is
  // answered with a pong; a close is answered with a close carrying the same
  // code (1000 for a close without one) and ends the connection. A protocol
  // error (an unmasked frame, a reserved opcode or bit, a fragmented or
  // oversized control frame, a continuation out of place, a bad close code)
  // queues a close 1002, text that is not UTF-8 a close 1007 and a message
  // over the size cap a close 1009, and ends the connection. Input after the
  // end is ignored. Never throws.
  void feed(const char* data, size_t size);

  // Queue one unfragmented message. state_conflict unless open (after a close
  // was sent or received); invalid_argument for text that is not UTF-8.
  Result<void> sendText(std::string_view text);
  Result<void> sendBinary(std::string_view bytes);
  // A keep-alive from the server (payload at most 125 bytes). The peer's
  // pong is not reported: any input shows the peer is alive.
  Result<void> ping(std::string_view payload = {});
  // Starts the closing handshake: queues a close frame; input is still taken
  // until the peer's close arrives (the caller bounds that wait), but data
  // messages are no longer delivered. invalid_argument for a code that may
  // not be sent (below 1000, 1004-1006, 1015-2999, 5000 and up) or a reason
  // over 123 bytes or not UTF-8; state_conflict unless open.
  Result<void> close(uint16_t code, std::string_view reason = {});

  // True once no more input is taken: write what takeOutput gives, then
  // close the socket.
  bool closed() const;
  // The code that ends (or is ending) the connection: the peer's when it
  // closed first (1005 for a close without a code), else the one sent.
  std::optional<uint16_t> closeCode() const;

  void onMessage(MessageHandler handler);
  // The cap on one incoming message (all its fragments); past it, close 1009.
  void setMaxMessageSize(size_t bytes);

 private:
  struct Impl;
  explicit WebSocketConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::api
