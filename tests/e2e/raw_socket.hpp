#pragma once
// A client on a raw loopback socket, for the streams and WebSockets the
// HTTP client library cannot speak. Every call is bounded in time.
#include <chrono>
#include <string>

#include "common/unique_fd.hpp"

namespace berth::e2e {

// Connected to 127.0.0.1:port; a send never blocks for more than 5 s.
UniqueFd connectTo(int port);
// The same from a chosen loopback source address ("127.0.0.2"): another client as the service counts them.
UniqueFd connectFrom(int port, const std::string& sourceAddress);
void sendAll(int fd, const std::string& bytes);
// Appends what arrives within `timeout` (one read); false on EOF or error.
bool readSome(int fd, std::string& into, std::chrono::milliseconds timeout);

}  // namespace berth::e2e
