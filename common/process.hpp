#pragma once
// A child process that owns its pidfd: killed and reaped on destruction
// unless released, so no failure path leaves a stray process or a zombie.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth {

struct ExitStatus {
  int exitCode = 0;    // valid when signal == 0
  int signal = 0;      // the signal that ended it, 0 if it exited
  bool coreDumped = false;
};

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  bool valid() const { return pid_ > 0; }

  Result<void> signal(int sig) const;
  // Waits for exit and reaps; nullopt when the deadline passed first.
  Result<std::optional<ExitStatus>> wait(std::optional<std::chrono::milliseconds> deadline = std::nullopt);
  // Non-blocking reap.
  Result<std::optional<ExitStatus>> tryWait();
  // Gives up ownership (the process lives on, someone else reaps it). Returns the pidfd.
  UniqueFd release();

 private:
  void killAndReap();
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// pidfd_open(2) for a process that is not our child.
Result<UniqueFd> openPidfd(pid_t pid);
// A process's command line as one string, arguments joined by spaces; empty
// if it is gone or cannot be read.
std::string commandLineOf(pid_t pid);
// Waits until a pidfd is readable (the process exited) or the deadline passes.
Result<bool> waitPidfdReadable(int pidfd, std::optional<std::chrono::milliseconds> deadline);

}  // namespace berth
