#pragma once
// The terminals of API.md §13: each one a WebSocket bridged to the master
// side of a pseudo-terminal inside a container. A session is few and long
// (a person typing), so each has a thread; the service's end closes them
// all with 1001. When the process exits the session closes with 1000 and
// the exit code as the reason; when the client goes, the terminal is hung up
// (its master closed), which ends the shell as a closed ssh session would.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/websocket.hpp"
#include "common/unique_fd.hpp"
#include "runtime/exec.hpp"

namespace berth::api {

class TerminalSessions {
 public:
  static constexpr size_t kMaxSessions = 64;

  TerminalSessions();
  ~TerminalSessions();  // closes every session (1001) and waits for their threads
  TerminalSessions(const TerminalSessions&) = delete;
  TerminalSessions& operator=(const TerminalSessions&) = delete;

  bool hasRoom() const;
  // Takes over a connection whose upgrade was accepted: `head` (the 101) is
  // written first, then the session runs until either side ends it.
  void add(UniqueFd socket, std::string head, std::unique_ptr<WebSocketConnection> webSocket,
           std::unique_ptr<runtime::ExecHandle> exec);

 private:
  struct Session;
  void run(Session& session);
  void reapFinished();

  UniqueFd stop_;  // an eventfd, readable once the service is stopping
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Session>> sessions_;  // guarded by mutex_
  std::atomic<size_t> count_{0};
};

}  // namespace berth::api
