#pragma once
// The client end of GET /api/v1/containers/{id}/terminal (API.md §13), for
// `berth containers exec -i/-t`: a WebSocket (RFC 6455) over plain TCP or a
// unix socket, driven by one poll loop over stdin, the socket and a signalfd.
//
// Binary frames carry the terminal's bytes both ways; a SIGWINCH becomes a
// text frame {"type":"resize","cols":N,"rows":M}; the server ends the session
// with a close 1000 whose reason is the exit code. The framing is
// websocketpp's hybi13 processor; only cmd/terminal_client.cpp includes it.
#include <string>
#include <vector>

#include "common/error.hpp"

namespace berth::cli {

struct TerminalRequest {
  std::string serviceUrl;  // BERTH_URL: http://host[:port] or unix:///path (not https)
  std::string token;       // BERTH_TOKEN; empty sends no Authorization
  std::string containerId;
  std::vector<std::string> command;  // CMD and its arguments
  bool forwardStdin = false;         // -i: stdin's bytes go to the terminal
  bool rawTerminal = false;          // -t: the local terminal (stdin, if one) is raw while the session lasts
};

// Runs one session. Returns the remote command's exit code (0-255), or 128+N
// when signal N (SIGINT, SIGTERM, SIGHUP, SIGQUIT) made berth leave early.
// An answer other than 101 is an error carrying the envelope's status, code
// and message ("404 CONTAINER_NOT_FOUND: ..."). On every path, errors
// included, the local terminal's settings and the signal mask are back as
// they were when this returns. Errors are returned, not printed (but for a
// failure to restore those two, which nothing could return). SIGPIPE stays
// ignored afterwards (berth exits after the session).
//
// With -i, the end of stdin is sent as one ^D (the remote terminal's EOF)
// unless the local terminal is raw: there the user types ^D themselves.
Result<int> runTerminal(const TerminalRequest& request);

}  // namespace berth::cli
