#pragma once
// A terminal session driven by an independent WebSocket client: node with
// tests/e2e/terminal_client.mjs (Debian's `ws` package), so the tests of
// GET /api/v1/containers/{id}/terminal check berthd against a client that
// shares none of its code. The client runs a list of steps and reports one
// JSON line; see the script's header for the steps and the fields.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth::e2e {

struct TerminalRun {
  bool opened = false;             // the upgrade succeeded
  int httpStatus = 0;              // the answer to a refused upgrade, 0 otherwise
  std::string httpBody;            // its body (JSON from berthd)
  int closeCode = 0;               // from the close frame; 0 if none was seen, 1006 for a dropped connection
  std::string closeReason;         // the terminal's exit code as text, when the process exited
  std::string closedBy;            // "server", "client" (after the steps, or a close step) or ""
  std::string output;              // every binary frame received, decoded as UTF-8
  std::vector<std::string> texts;  // every text frame received
  std::string error;               // empty unless a step failed, the connection failed or the 30 s limit passed
};

// Runs the client against `url` (ws://127.0.0.1:PORT/...), with
// "Authorization: Bearer <bearerToken>" unless the token is empty, feeding it
// `steps` (a JSON array). Waits for the client's exit. FAILs when the client
// cannot be run or answers nothing that parses (node or ws missing, bad steps).
TerminalRun runTerminalClient(const std::string& url, const std::string& bearerToken, const nlohmann::json& steps);

// "ws://127.0.0.1:<port>/api/v1/containers/<id>/terminal?command=<JSON array, percent-encoded>&cols=C&rows=R"
// (command left out when empty; "&token=<queryToken>" added when not empty).
std::string terminalUrl(int port, const std::string& containerId, const std::vector<std::string>& command, int cols,
                        int rows, const std::string& queryToken = {});

}  // namespace berth::e2e
