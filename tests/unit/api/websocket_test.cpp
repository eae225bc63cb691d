#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/websocket.hpp"

namespace berth::api {
namespace {

// A client's side of RFC 6455, written out here so the tests do not share
// the library the server uses.
enum Opcode : uint8_t { kContinuation = 0x0, kText = 0x1, kBinary = 0x2, kClose = 0x8, kPing = 0x9, kPong = 0xA };

constexpr std::array<uint8_t, 4> kMask{0x37, 0xfa, 0x21, 0x3d};

struct FrameOptions {
  bool fin = true;
  bool masked = true;
  uint8_t rsv = 0;  // the three reserved bits, as 0-7
};

std::string clientFrame(uint8_t opcode, std::string_view payload, FrameOptions options = {}) {
  std::string frame;
  frame += static_cast<char>((options.fin ? 0x80 : 0) | (options.rsv << 4) | opcode);
  uint8_t maskBit = options.masked ? 0x80 : 0;
  uint64_t size = payload.size();
  if (size < 126) {
    frame += static_cast<char>(maskBit | size);
  } else if (size <= 0xffff) {
    frame += static_cast<char>(maskBit | 126);
    for (int shift = 8; shift >= 0; shift -= 8) frame += static_cast<char>((size >> shift) & 0xff);
  } else {
    frame += static_cast<char>(maskBit | 127);
    for (int shift = 56; shift >= 0; shift -= 8) frame += static_cast<char>((size >> shift) & 0xff);
  }
  if (!options.masked) return frame += payload;
  for (uint8_t byte : kMask) frame += static_cast<char>(byte);
  for (size_t i = 0; i < payload.size(); ++i) frame += static_cast<char>(payload[i] ^ kMask[i % 4]);
  return frame;
}

std::string closePayload(uint16_t code, std::string_view reason = {}) {
  std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
  return payload += reason;
}

struct Frame {
  bool fin = true;
  uint8_t opcode = 0;
  std::string payload;
};

// Decodes what the server wrote; a server never masks.
std::vector<Frame> decodeServerFrames(std::string_view bytes) {
  std::vector<Frame> frames;
  while (!bytes.empty()) {
    REQUIRE(bytes.size() >= 2);
    auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    Frame frame;
    frame.fin = (byte(0) & 0x80) != 0;
    REQUIRE((byte(0) & 0x70) == 0);
    frame.opcode = byte(0) & 0x0f;
    REQUIRE((byte(1) & 0x80) == 0);
    uint64_t size = byte(1) & 0x7f;
    size_t header = 2;
    if (size == 126 || size == 127) {
      size_t lengthBytes = size == 126 ? 2 : 8;
      REQUIRE(bytes.size() >= 2 + lengthBytes);
      size = 0;
      for (size_t i = 0; i < lengthBytes; ++i) size = size << 8 | byte(2 + i);
      header += lengthBytes;
    }
    REQUIRE(bytes.size() >= header + size);
    frame.payload = std::string(bytes.substr(header, size));
    frames.push_back(std::move(frame));
    bytes.remove_prefix(header + size);
  }
  return frames;
}

uint16_t codeOf(const Frame& close) {
  REQUIRE(close.opcode == kClose);
  REQUIRE(close.payload.size() >= 2);
  return static_cast<uint16_t>(static_cast<uint8_t>(close.payload[0]) << 8 | static_cast<uint8_t>(close.payload[1]));
}

UpgradeRequest validRequest() {
  return {"GET",
          "/api/v1/events/ws",
          {{"Host", "127.0.0.1:8080"},
           {"Upgrade", "websocket"},
           {"Connection", "Upgrade"},
           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
           {"Sec-WebSocket-Version", "13"}}};
}

UpgradeRequest withHeader(UpgradeRequest request, const std::string& name, std::optional<std::string> value) {
  std::erase_if(request.headers, [&](const auto& header) { return header.first == name; });
  if (value) request.headers.emplace_back(name, *value);
  return request;
}

struct Message {
  bool binary;
  std::string payload;
  bool operator==(const Message&) const = default;
};

// An accepted connection, its 101 answer taken, recording what it delivers.
struct Session {
  std::unique_ptr<WebSocketConnection> ws;
  std::vector<Message> messages;

  Session() {
    auto accepted = WebSocketConnection::accept(validRequest());
    REQUIRE(accepted);
    ws = std::move(*accepted);
    REQUIRE(ws->takeOutput().starts_with("HTTP/1.1 101 "));
    ws->onMessage([this](bool binary, std::string_view payload) { messages.push_back({binary, std::string(payload)}); });
  }
  Session(const Session&) = delete;

  void send(std::string_view bytes) { ws->feed(bytes.data(), bytes.size()); }
  std::vector<Frame> written() { return decodeServerFrames(ws->takeOutput()); }
  // The one frame written, which must be a close; its code.
  uint16_t closedWith() {
    std::vector<Frame> frames = written();
    REQUIRE(frames.size() == 1);
    return codeOf(frames[0]);
  }
};

std::string text(size_t size) {
  std::string payload;
  for (size_t i = 0; i < size; ++i) payload += static_cast<char>('a' + i % 26);
  return payload;
}

TEST_CASE("a valid upgrade is answered 101 with RFC 6455's accept key") {
  auto accepted = WebSocketConnection::accept(validRequest());
  REQUIRE(accepted);
  std::string answer = (*accepted)->takeOutput();
  CHECK(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
  CHECK(answer.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
  CHECK(answer.find("\r\nUpgrade: websocket\r\n") != std::string::npos);
  CHECK(answer.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  CHECK(answer.ends_with("\r\n\r\n"));
  CHECK((*accepted)->takeOutput().empty());
  CHECK_FALSE((*accepted)->closed());
  CHECK_FALSE((*accepted)->closeCode());
}

TEST_CASE("header names in any case and tokens inside lists are accepted") {
  UpgradeRequest request{"GET",
                         "/",
                         {{"upgrade", "WebSocket"},
                          {"connection", "keep-alive, Upgrade"},
                          {"sec-websocket-key", "AAAAAAAAAAAAAAAAAAAAAA=="},
                          {"sec-websocket-version", " 13 "}}};
  CHECK(WebSocketConnection::accept(request));
  // Connection given on two lines counts as one list.
  auto split = withHeader(validRequest(), "Connection", "keep-alive");
  split.headers.emplace_back("Connection", "upgrade");
  CHECK(WebSocketConnection::accept(split));
}

TEST_CASE("a bad upgrade is invalid_argument, naming what is wrong") {
  struct Case {
    const char* what;
    UpgradeRequest request;
    const char* named;
  };
  auto post = validRequest();
  post.method = "POST";
  std::vector<Case> cases{
      {"not GET", post, "POST"},
      {"no Upgrade", withHeader(validRequest(), "Upgrade", std::nullopt), "Upgrade"},
      {"Upgrade to something else", withHeader(validRequest(), "Upgrade", "h2c"), "Upgrade"},
      {"Upgrade as a substring", withHeader(validRequest(), "Upgrade", "websockets"), "Upgrade"},
      {"no Connection", withHeader(validRequest(), "Connection", std::nullopt), "Connection"},
      {"Connection without upgrade", withHeader(validRequest(), "Connection", "keep-alive"), "Connection"},
      {"no version", withHeader(validRequest(), "Sec-WebSocket-Version", std::nullopt), "Sec-WebSocket-Version"},
      {"version 8", withHeader(validRequest(), "Sec-WebSocket-Version", "8"), "Sec-WebSocket-Version"},
      {"version 13 twice", [] {
         auto twice = validRequest();
         twice.headers.emplace_back("Sec-WebSocket-Version", "13");
         return twice;
       }(), "Sec-WebSocket-Version"},
      {"no key", withHeader(validRequest(), "Sec-WebSocket-Key", std::nullopt), "Sec-WebSocket-Key"},
      {"key not base64", withHeader(validRequest(), "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ!!"), "Sec-WebSocket-Key"},
      {"key of 15 bytes", withHeader(validRequest(), "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j"), "Sec-WebSocket-Key"},
      {"key of 17 bytes", withHeader(validRequest(), "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQAA"), "Sec-WebSocket-Key"},
      {"key not canonical", withHeader(validRequest(), "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZR=="), "Sec-WebSocket-Key"},
      {"empty key", withHeader(validRequest(), "Sec-WebSocket-Key", ""), "Sec-WebSocket-Key"},
      {"malformed header name", [] {
         auto bad = validRequest();
         bad.headers.emplace_back("Bad Name", "x");
         return bad;
       }(), "header name"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto accepted = WebSocketConnection::accept(c.request);
    REQUIRE_FALSE(accepted);
    CHECK(accepted.error().code == Errc::invalid_argument);
    CHECK_THAT(accepted.error().message, Catch::Contains(c.named));
  }
}

TEST_CASE("masked text and binary messages arrive intact") {
  Session session;
  session.send(clientFrame(kText, "hello, wörld"));
  session.send(clientFrame(kBinary, std::string("\0\x01\xff", 3)));
  session.send(clientFrame(kText, ""));
  CHECK(session.messages == std::vector<Message>{{false, "hello, wörld"}, {true, std::string("\0\x01\xff", 3)}, {false, ""}});
  CHECK(session.ws->takeOutput().empty());
  CHECK_FALSE(session.ws->closed());
}

TEST_CASE("a fragmented message arrives once and whole, with a ping between its fragments answered") {
  Session session;
  session.send(clientFrame(kText, "frag", {.fin = false}) + clientFrame(kContinuation, "men", {.fin = false}));
  CHECK(session.messages.empty());
  session.send(clientFrame(kPing, "mid"));
  session.send(clientFrame(kContinuation, "ted"));
  CHECK(session.messages == std::vector<Message>{{false, "fragmented"}});
  auto frames = session.written();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].opcode == kPong);
  CHECK(frames[0].payload == "mid");
}

TEST_CASE("messages needing the 16-bit and the 64-bit length forms arrive intact") {
  Session session;
  std::string medium = text(300);
  std::string large = text(70'000);
  session.send(clientFrame(kText, medium));
  session.send(clientFrame(kBinary, large));
  session.send(clientFrame(kText, text(125)) + clientFrame(kText, text(126)) + clientFrame(kText, text(65'535)) +
               clientFrame(kText, text(65'536)));
  REQUIRE(session.messages.size() == 6);
  CHECK(session.messages[0] == Message{false, medium});
  CHECK(session.messages[1] == Message{true, large});
  CHECK(session.messages[2].payload.size() == 125);
  CHECK(session.messages[3].payload.size() == 126);
  CHECK(session.messages[4].payload.size() == 65'535);
  CHECK(session.messages[5].payload == text(65'536));
  CHECK_FALSE(session.ws->closed());
}

TEST_CASE("sendText and sendBinary write unmasked frames a client decodes") {
  Session session;
  REQUIRE(session.ws->sendText("{\"event\":\"started\"}"));
  REQUIRE(session.ws->sendBinary(text(70'000)));
  REQUIRE(session.ws->sendText(text(200)));
  auto frames = session.written();
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].fin);
  CHECK(frames[0].opcode == kText);
  CHECK(frames[0].payload == "{\"event\":\"started\"}");
  CHECK(frames[1].opcode == kBinary);
  CHECK(frames[1].payload == text(70'000));
  CHECK(frames[2].payload == text(200));
}

TEST_CASE("sendText refuses text that is not UTF-8") {
  Session session;
  auto sent = session.ws->sendText("\xc3\x28");
  REQUIRE_FALSE(sent);
  CHECK(sent.error().code == Errc::invalid_argument);
  CHECK(session.ws->takeOutput().empty());
  CHECK(session.ws->sendBinary("\xc3\x28"));
}

TEST_CASE("a ping is answered with a pong of the same payload; the server's ping is a ping frame") {
  Session session;
  session.send(clientFrame(kPing, "are you there"));
  auto frames = session.written();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].opcode == kPong);
  CHECK(frames[0].payload == "are you there");

  REQUIRE(session.ws->ping());
  REQUIRE(session.ws->ping("42"));
  frames = session.written();
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].opcode == kPing);
  CHECK(frames[0].payload.empty());
  CHECK(frames[1].payload == "42");
  // A pong from the client is taken quietly.
  session.send(clientFrame(kPong, "42"));
  CHECK(session.ws->takeOutput().empty());
  CHECK(session.messages.empty());
  CHECK(session.ws->ping(std::string(126, 'x')).error().code == Errc::invalid_argument);
}

TEST_CASE("a client's close is answered with the same code and ends the connection") {
  Session session;
  session.send(clientFrame(kClose, closePayload(1001, "page closed")) + clientFrame(kText, "after the close"));
  auto frames = session.written();
  REQUIRE(frames.size() == 1);
  CHECK(codeOf(frames[0]) == 1001);
  CHECK(frames[0].payload.substr(2) == "page closed");
  CHECK(session.ws->closed());
  CHECK(session.ws->closeCode() == 1001);
  CHECK(session.messages.empty());
  // Nothing more is taken or sent.
  session.send(clientFrame(kPing, ""));
  CHECK(session.ws->takeOutput().empty());
  CHECK(session.ws->sendText("late").error().code == Errc::state_conflict);
  CHECK(session.ws->close(1000).error().code == Errc::state_conflict);
}

TEST_CASE("a close without a code is answered 1000; closeCode says none was given") {
  Session session;
  session.send(clientFrame(kClose, ""));
  CHECK(session.closedWith() == 1000);
  CHECK(session.ws->closed());
  CHECK(session.ws->closeCode() == ws_close::kNoStatus);
}

TEST_CASE("a close with a bad code or reason is answered 1002") {
  for (const std::string& payload :
       {closePayload(999), closePayload(1005), closePayload(1006), closePayload(1004), closePayload(2000),
        closePayload(5000), std::string("\x03"), closePayload(1000, "\xff")}) {
    Session session;
    session.send(clientFrame(kClose, payload));
    CHECK(session.closedWith() == ws_close::kProtocolError);
    CHECK(session.ws->closed());
    CHECK(session.ws->closeCode() == ws_close::kProtocolError);
  }
}

TEST_CASE("the server's close waits for the client's; data in between is dropped") {
  Session session;
  REQUIRE(session.ws->close(ws_close::kGoingAway, "shutting down"));
  auto frames = session.written();
  REQUIRE(frames.size() == 1);
  CHECK(codeOf(frames[0]) == ws_close::kGoingAway);
  CHECK(frames[0].payload.substr(2) == "shutting down");
  CHECK_FALSE(session.ws->closed());
  CHECK(session.ws->closeCode() == ws_close::kGoingAway);
  CHECK(session.ws->sendText("late").error().code == Errc::state_conflict);

  session.send(clientFrame(kText, "in flight") + clientFrame(kPing, "x"));
  CHECK(session.messages.empty());
  CHECK(session.ws->takeOutput().empty());
  session.send(clientFrame(kClose, closePayload(ws_close::kGoingAway)));
  CHECK(session.ws->closed());
  CHECK(session.ws->takeOutput().empty());  // no second close
  CHECK(session.ws->closeCode() == ws_close::kGoingAway);
}

TEST_CASE("close refuses codes that may not be sent and over-long reasons") {
  Session session;
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000})
    CHECK(session.ws->close(code).error().code == Errc::invalid_argument);
  CHECK(session.ws->close(1000, std::string(124, 'x')).error().code == Errc::invalid_argument);
  CHECK(session.ws->close(1000, "\xff").error().code == Errc::invalid_argument);
  CHECK(session.ws->takeOutput().empty());
  CHECK_FALSE(session.ws->closeCode());
  CHECK(session.ws->close(4000, std::string(123, 'x')));
  CHECK(session.closedWith() == 4000);
}

TEST_CASE("protocol errors are answered with a close 1002 and end the connection") {
  struct Case {
    const char* what;
    std::string bytes;
  };
  std::vector<Case> cases{
      {"unmasked frame", clientFrame(kText, "hi", {.masked = false})},
      {"reserved data opcode", clientFrame(0x3, "hi")},
      {"reserved control opcode", clientFrame(0xB, "")},
      {"reserved bit", clientFrame(kText, "hi", {.rsv = 4})},
      {"reserved bit 3", clientFrame(kBinary, "hi", {.rsv = 1})},
      {"control frame over 125 bytes", clientFrame(kPing, text(126))},
      {"fragmented control frame", clientFrame(kPing, "x", {.fin = false})},
      {"continuation without a message", clientFrame(kContinuation, "x")},
      {"new message inside a fragmented one", clientFrame(kText, "a", {.fin = false}) + clientFrame(kText, "b")},
      {"length not minimally encoded", std::string("\x81\xfe\x00\x05", 4) + "\x37\xfa\x21\x3d" + "hello"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    Session session;
    session.send(c.bytes + clientFrame(kText, "after"));
    CHECK(session.closedWith() == ws_close::kProtocolError);
    CHECK(session.ws->closed());
    CHECK(session.ws->closeCode() == ws_close::kProtocolError);
    CHECK(session.messages.empty());
    session.send(clientFrame(kText, "later"));
    CHECK(session.messages.empty());
    CHECK(session.ws->takeOutput().empty());
  }
}

// RFC 6455 7.4.1 and websocketpp give text that is not UTF-8 its own code,
// 1007 (invalid frame payload data), not 1002.
TEST_CASE("text that is not UTF-8 is answered with a close 1007, even inside a fragment") {
  for (const std::string& bytes :
       {clientFrame(kText, "\xc3\x28"), clientFrame(kText, "ok\xed\xa0\x80"),
        clientFrame(kText, "\xf0\x9f", {.fin = false}) + clientFrame(kContinuation, "x"),
        clientFrame(kText, "\xf0\x9f\x98"),
        // Cut inside a code point at the end of a fragmented text.
        clientFrame(kText, "ok", {.fin = false}) + clientFrame(kContinuation, "\xf0\x9f"),
        clientFrame(kText, "o", {.fin = false}) + clientFrame(kContinuation, "k", {.fin = false}) +
            clientFrame(kContinuation, "\xcd")}) {
    Session session;
    session.send(bytes);
    CHECK(session.closedWith() == ws_close::kInvalidPayload);
    CHECK(session.ws->closed());
    CHECK(session.messages.empty());
  }
  // A code point split across fragments is fine.
  Session session;
  session.send(clientFrame(kText, "\xf0\x9f", {.fin = false}) + clientFrame(kContinuation, "\x98\x80"));
  CHECK(session.messages == std::vector<Message>{{false, "\xf0\x9f\x98\x80"}});
}

TEST_CASE("a message over the size cap is answered with a close 1009") {
  SECTION("the default cap of 1 MiB, refused on its header alone") {
    Session session;
    std::string frame = clientFrame(kBinary, std::string((1 << 20) + 1, 'x'));
    session.send(frame.substr(0, 14));
    CHECK(session.closedWith() == ws_close::kMessageTooBig);
    CHECK(session.ws->closed());
    CHECK(session.ws->closeCode() == ws_close::kMessageTooBig);
  }
  SECTION("exactly the cap is taken") {
    Session session;
    session.send(clientFrame(kBinary, std::string(1 << 20, 'x')));
    REQUIRE(session.messages.size() == 1);
    CHECK(session.messages[0].payload.size() == size_t{1} << 20);
  }
  SECTION("a smaller cap, over all fragments") {
    Session session;
    session.ws->setMaxMessageSize(1000);
    session.send(clientFrame(kText, text(1000)));
    CHECK(session.messages.size() == 1);
    session.send(clientFrame(kText, text(600), {.fin = false}) + clientFrame(kContinuation, text(401)));
    CHECK(session.closedWith() == ws_close::kMessageTooBig);
    CHECK(session.messages.size() == 1);
  }
}

TEST_CASE("feeding one byte at a time gives the same result") {
  std::string script = clientFrame(kText, "hello") + clientFrame(kPing, "p") +
                       clientFrame(kBinary, "bi", {.fin = false}) + clientFrame(kContinuation, "na", {.fin = false}) +
                       clientFrame(kContinuation, "ry") + clientFrame(kText, text(300)) +
                       clientFrame(kText, text(70'000)) + clientFrame(kClose, closePayload(1000, "done")) +
                       clientFrame(kText, "ignored");
  Session session;
  for (char byte : script) session.ws->feed(&byte, 1);
  CHECK(session.messages ==
        std::vector<Message>{{false, "hello"}, {true, "binary"}, {false, text(300)}, {false, text(70'000)}});
  auto frames = session.written();
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].opcode == kPong);
  CHECK(frames[0].payload == "p");
  CHECK(codeOf(frames[1]) == 1000);
  CHECK(frames[1].payload.substr(2) == "done");
  CHECK(session.ws->closed());
}

TEST_CASE("a handler may send and close; messages after its close are not delivered") {
  Session session;
  session.ws->onMessage([&](bool, std::string_view payload) {
    session.messages.push_back({false, std::string(payload)});
    REQUIRE(session.ws->sendText(std::string("echo ") + std::string(payload)));
    if (payload == "stop") REQUIRE(session.ws->close(ws_close::kNormal, "bye"));
  });
  session.send(clientFrame(kText, "one") + clientFrame(kText, "stop") + clientFrame(kText, "three"));
  CHECK(session.messages == std::vector<Message>{{false, "one"}, {false, "stop"}});
  auto frames = session.written();
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].payload == "echo one");
  CHECK(frames[1].payload == "echo stop");
  CHECK(codeOf(frames[2]) == ws_close::kNormal);
  CHECK_FALSE(session.ws->closed());
}

TEST_CASE("a handler that throws ends the connection with a close 1011, and nothing escapes") {
  Session session;
  session.ws->onMessage([](bool, std::string_view) { throw std::runtime_error("handler failed"); });
  session.send(clientFrame(kText, "boom") + clientFrame(kText, "again"));
  CHECK(session.closedWith() == ws_close::kInternalError);
  CHECK(session.ws->closed());
}

}  // namespace
}  // namespace berth::api
