#include "common/process.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "common/clock.hpp"
#include "common/files.hpp"

namespace berth {

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    killAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { killAndReap(); }

void ChildProcess::killAndReap() {
  if (pid_ <= 0) return;
  if (pidfd_) ::syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
  else ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  pidfd_.reset();
}

Result<void> ChildProcess::signal(int sig) const {
  if (pid_ <= 0) return fail(Errc::internal, "signal: no process");
  if (::syscall(SYS_pidfd_send_signal, pidfd_.get(), sig, nullptr, 0) != 0)
    return sysFail("pidfd_send_signal " + std::to_string(pid_));
  return {};
}

namespace {
ExitStatus decode(int status) {
  ExitStatus out;
  if (WIFEXITED(status)) out.exitCode = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) {
    out.signal = WTERMSIG(status);
    out.coreDumped = WCOREDUMP(status);
    out.exitCode = 128 + out.signal;
  }
  return out;
}
}  // namespace

Result<std::optional<ExitStatus>> ChildProcess::tryWait() {
  if (pid_ <= 0) return fail(Errc::internal, "wait: no process");
  int status = 0;
  pid_t got = ::waitpid(pid_, &status, WNOHANG);
  if (got < 0) return sysFail("waitpid " + std::to_string(pid_));
  if (got == 0) return std::optional<ExitStatus>{};
  pid_ = -1;
  pidfd_.reset();
  return std::optional<ExitStatus>{decode(status)};
}

Result<std::optional<ExitStatus>> ChildProcess::wait(std::optional<std::chrono::milliseconds> deadline) {
  if (pid_ <= 0) return fail(Errc::internal, "wait: no process");
  BERTH_TRY(bool exited, waitPidfdReadable(pidfd_.get(), deadline));
  if (!exited) return std::optional<ExitStatus>{};
  int status = 0;
  pid_t got;
  while ((got = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  if (got < 0) return sysFail("waitpid " + std::to_string(pid_));
  pid_ = -1;
  pidfd_.reset();
  return std::optional<ExitStatus>{decode(status)};
}

UniqueFd ChildProcess::release() {
  pid_ = -1;
  return std::move(pidfd_);
}

Result<UniqueFd> openPidfd(pid_t pid) {
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return sysFail("pidfd_open " + std::to_string(pid));
  return UniqueFd(fd);
}

std::string commandLineOf(pid_t pid) {
  auto cmdline = readFile("/proc/" + std::to_string(pid) + "/cmdline");
  std::string command = cmdline ? *cmdline : "";
  std::replace(command.begin(), command.end(), '\0', ' ');
  while (!command.empty() && command.back() == ' ') command.pop_back();
  return command;
}

Result<bool> waitPidfdReadable(int pidfd, std::optional<std::chrono::milliseconds> deadline) {
  int64_t end = deadline ? monotonicMillis() + deadline->count() : 0;
  for (;;) {
    int timeout = -1;
    if (deadline) {
      int64_t left = end - monotonicMillis();
      timeout = left > 0 ? static_cast<int>(left) : 0;
    }
    pollfd pfd{pidfd, POLLIN, 0};
    int n = ::poll(&pfd, 1, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("poll pidfd");
    }
    return n > 0;
  }
}

}  // namespace berth
