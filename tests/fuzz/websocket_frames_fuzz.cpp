// libFuzzer target over api/websocket.cpp: a connection accepted from a
// fixed valid upgrade is fed the input as the client's bytes. The
// properties: never a crash, a hang, a sanitizer report or an exception;
// every message delivered is within the size cap, and a text one is UTF-8
// (sending it back as text succeeds); what the server writes is a run of
// well-formed unmasked frames, with at most one close, last, carrying a code
// that may be sent; once closed(), the close code is known and no message
// arrives and nothing is written any more.
//
// The first byte picks how the rest is split into feeds (1 to 15 bytes each,
// or all at once), so frames cut anywhere are exercised.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "api/websocket.hpp"

namespace {

using namespace berth::api;

constexpr size_t kCap = 1000;

void require(bool condition) {
  if (!condition) std::abort();
}

UpgradeRequest upgrade() {
  return {"GET",
          "/api/v1/events/ws",
          {{"Upgrade", "websocket"},
           {"Connection", "Upgrade"},
           {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
           {"Sec-WebSocket-Version", "13"}}};
}

bool maySend(uint16_t code) {
  return code >= 1000 && code < 5000 && code != 1004 && code != 1005 && code != 1006 && !(code >= 1015 && code < 3000);
}

// Checks the server's frames as a client would read them; returns whether a
// close was among them.
bool checkServerFrames(std::string_view bytes) {
  bool sawClose = false;
  while (!bytes.empty()) {
    require(!sawClose);
    require(bytes.size() >= 2);
    auto byte = [&](size_t i) { return static_cast<uint8_t>(bytes[i]); };
    require((byte(0) & 0x70) == 0);  // no reserved bits
    uint8_t opcode = byte(0) & 0x0f;
    require(opcode == 0x1 || opcode == 0x2 || opcode == 0x8 || opcode == 0x9 || opcode == 0xA);
    require((byte(0) & 0x80) != 0);  // never fragmented
    require((byte(1) & 0x80) == 0);  // never masked
    uint64_t size = byte(1) & 0x7f;
    size_t header = 2;
    if (size >= 126) {
      size_t lengthBytes = size == 126 ? 2 : 8;
      require(bytes.size() >= 2 + lengthBytes);
      size = 0;
      for (size_t i = 0; i < lengthBytes; ++i) size = size << 8 | byte(2 + i);
      header += lengthBytes;
    }
    require(bytes.size() >= header && bytes.size() - header >= size);
    if (opcode >= 0x8) require(size <= 125);
    if (opcode == 0x8) {
      sawClose = true;
      require(size != 1);
      if (size >= 2) require(maySend(static_cast<uint16_t>(byte(header) << 8 | byte(header + 1))));
    }
    bytes.remove_prefix(header + static_cast<size_t>(size));
  }
  return sawClose;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t step = data[0] % 16;
  std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (step == 0) step = input.size() + 1;

  auto accepted = WebSocketConnection::accept(upgrade());
  require(accepted.has_value());
  WebSocketConnection& ws = **accepted;
  ws.setMaxMessageSize(kCap);
  require(ws.takeOutput().starts_with("HTTP/1.1 101 "));

  bool closeWritten = false;
  ws.onMessage([&](bool binary, std::string_view payload) {
    require(!ws.closed());
    require(payload.size() <= kCap);
    require(binary ? ws.sendBinary(payload).has_value() : ws.sendText(payload).has_value());
    if (payload == "close") require(ws.close(1000, "asked").has_value());
    if (payload == "ping") require(ws.ping(payload).has_value());
  });

  while (!input.empty()) {
    bool wasClosed = ws.closed();
    std::string_view piece = input.substr(0, step);
    input.remove_prefix(piece.size());
    ws.feed(piece.data(), piece.size());
    std::string output = ws.takeOutput();
    if (wasClosed) require(output.empty());
    if (checkServerFrames(output)) {
      require(!closeWritten);
      closeWritten = true;
    } else {
      require(!closeWritten || output.empty());
    }
    if (ws.closed()) require(ws.closeCode().has_value());
  }
  if (ws.closeCode()) require(closeWritten);
  return 0;
}
