#include "api/terminal_sessions.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "api/validation.hpp"
#include "common/clock.hpp"

namespace berth::api {

namespace {

// Past this much unsent output the terminal is not read: the process then
// blocks on its own writes, as on a slow terminal.
constexpr size_t kMaxPendingOutput = size_t{1} << 20;
// Input the process has not read yet; a client past it is closed (1008).
constexpr size_t kMaxPendingInput = size_t{1} << 20;
// How long a close we sent waits for the client's answer.
constexpr int64_t kCloseHandshakeMs = 2000;

void setNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
    spdlog::warn("terminal: O_NONBLOCK on fd {}: {}", fd, std::strerror(errno));
}

}  // namespace

struct TerminalSessions::Session {
  UniqueFd socket;
  std::string head;
  std::unique_ptr<WebSocketConnection> webSocket;
  std::unique_ptr<runtime::ExecHandle> exec;
  std::thread thread;
  std::atomic<bool> done{false};
};

TerminalSessions::TerminalSessions() : stop_(::eventfd(0, EFD_CLOEXEC)) {
  if (!stop_) spdlog::error("terminal sessions: eventfd: {}", std::strerror(errno));
}

TerminalSessions::~TerminalSessions() {
  uint64_t one = 1;
  if (stop_ && ::write(stop_.get(), &one, sizeof one) != sizeof one)
    spdlog::error("terminal sessions: wake on stop: {}", std::strerror(errno));
  std::lock_guard lock(mutex_);
  for (auto& session : sessions_)
    if (session->thread.joinable()) session->thread.join();
}

bool TerminalSessions::hasRoom() const { return count_.load() < kMaxSessions; }

void TerminalSessions::reapFinished() {
  std::lock_guard lock(mutex_);
  std::erase_if(sessions_, [](std::unique_ptr<Session>& session) {
    if (!session->done.load()) return false;
    session->thread.join();
    return true;
  });
}

void TerminalSessions::add(UniqueFd socket, std::string head, std::unique_ptr<WebSocketConnection> webSocket,
                           std::unique_ptr<runtime::ExecHandle> exec) {
  reapFinished();
  auto session = std::make_unique<Session>();
  session->socket = std::move(socket);
  session->head = std::move(head);
  session->webSocket = std::move(webSocket);
  session->exec = std::move(exec);
  Session& started = *session;
  ++count_;
  std::lock_guard lock(mutex_);
  sessions_.push_back(std::move(session));
  started.thread = std::thread([this, &started] {
    run(started);
    // The handle goes first: its master closed hangs the terminal up.
    started.exec.reset();
    started.socket.reset();
    --count_;
    started.done.store(true);
  });
}

void TerminalSessions::run(Session& session) {
  WebSocketConnection& ws = *session.webSocket;
  runtime::ExecHandle& exec = *session.exec;
  const int socket = session.socket.get();
  const int terminal = exec.terminalFd();
  setNonBlocking(socket);
  setNonBlocking(terminal);
  std::string toClient = std::move(session.head);
  std::string toTerminal;
  bool terminalReadable = true;  // until the container's side is closed (EIO)
  bool exited = false;
  std::optional<int64_t> closeSentAt;

  ws.onMessage([&](bool binary, std::string_view payload) {
    if (binary) {
      if (toTerminal.size() + payload.size() > kMaxPendingInput) {
        (void)ws.close(ws_close::kPolicyViolation, "input not read by the terminal");
        return;
      }
      toTerminal.append(payload);
      return;
    }
    auto size = parseTerminalMessage(payload);
    if (!size) {
      (void)ws.close(ws_close::kProtocolError, size.error().message.substr(0, 120));
      return;
    }
    if (auto resized = exec.resize(*size); !resized) spdlog::warn("terminal {}: {}", exec.id(), resized.error().describe());
  });
  auto closeWith = [&](uint16_t code, std::string_view reason) {
    if (!ws.closed() && ws.close(code, reason)) closeSentAt = monotonicMillis();
  };
  char buf[65536];
  auto readTerminal = [&] {
    for (;;) {
      ssize_t got = ::read(terminal, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EAGAIN) return;
      if (got <= 0) {  // EIO: every process closed the container's side
        terminalReadable = false;
        return;
      }
      if (ws.closed()) continue;  // closing: the output has no one to go to
      (void)ws.sendBinary(std::string_view(buf, static_cast<size_t>(got)));
      if (toClient.size() > kMaxPendingOutput) return;
    }
  };

  for (;;) {
    toClient += ws.takeOutput();
    if (!toClient.empty()) {
      ssize_t sent = ::send(socket, toClient.data(), toClient.size(), MSG_NOSIGNAL);
      if (sent < 0 && errno != EAGAIN && errno != EINTR) return;  // the client is gone
      if (sent > 0) toClient.erase(0, static_cast<size_t>(sent));
    }
    if (ws.closed() && toClient.empty()) return;
    if (closeSentAt && monotonicMillis() - *closeSentAt > kCloseHandshakeMs) return;
    if (!toTerminal.empty()) {
      ssize_t written = ::write(terminal, toTerminal.data(), toTerminal.size());
      if (written > 0) toTerminal.erase(0, static_cast<size_t>(written));
      else if (written < 0 && errno != EAGAIN && errno != EINTR) toTerminal.clear();  // the process is gone
    }

    const bool readMore = terminalReadable && !ws.closed() && toClient.size() <= kMaxPendingOutput;
    pollfd fds[4] = {
        {socket, static_cast<short>(POLLIN | (toClient.empty() ? 0 : POLLOUT)), 0},
        {terminal, static_cast<short>((readMore ? POLLIN : 0) | (toTerminal.empty() ? 0 : POLLOUT)), 0},
        {exited ? -1 : exec.finishedFd(), POLLIN, 0},
        {stop_.get(), POLLIN, 0},
    };
    int n = ::poll(fds, 4, closeSentAt ? 100 : -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("terminal {}: poll: {}", exec.id(), std::strerror(errno));
      return;
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = ::recv(socket, buf, sizeof buf, 0);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return;  // the client is gone
      if (got > 0) ws.feed(buf, static_cast<size_t>(got));
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) readTerminal();
    if (fds[2].revents) {
      exited = true;
      auto record = exec.wait();
      readTerminal();  // what it wrote last
      if (record) {
        closeWith(ws_close::kNormal, std::to_string(record->exitCode));
      } else {
        spdlog::warn("terminal {}: {}", exec.id(), record.error().describe());
        closeWith(ws_close::kInternalError, "the terminal's process could not be followed");
      }
    }
    if (fds[3].revents) closeWith(ws_close::kGoingAway, "the service is stopping");
  }
}

}  // namespace berth::api
