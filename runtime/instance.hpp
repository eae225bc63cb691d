#pragma once
// The runtime instance of one container: its cgroup, the monitor of its init
// while it runs, and the wake-up that cuts a graceful stop short. The manager
// decides what happens to a container; the instance does it on the host.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "runtime/config.hpp"
#include "runtime/host.hpp"

namespace berth::runtime {

// How the container's init ended, as the monitor recorded it.
struct ExitFacts {
  int exitCode = 255;                 // 255 when the monitor recorded no exit
  std::optional<std::string> signal;  // "SIGKILL"
  bool oomKilled = false;
  UnixMillis finishedAt = 0;
};
ExitFacts exitFactsOf(const ExitRecord& exit);

class ContainerInstance {
 public:
  ContainerInstance(std::unique_ptr<ContainerGroup> group, InstanceTimeouts timeouts);
  ContainerInstance(const ContainerInstance&) = delete;
  ContainerInstance& operator=(const ContainerInstance&) = delete;

  ContainerGroup& group() { return *group_; }
  const ContainerGroup& group() const { return *group_; }

  // A monitor runs the container's init (from a start, or adopted after a
  // service restart); OOM kills are counted from here on.
  void attach(std::unique_ptr<Monitor> monitor);
  bool running() const { return monitor_ != nullptr; }
  const Monitor& monitor() const { return *monitor_; }
  // Whether the monitor has exited (its exit fd is readable now).
  bool monitorGone() const;

  // SIGTERM to init, then up to `grace` for it to exit, cut short by
  // escalate(); what is left is killed (kill()). Returns whether init exited
  // within the grace period. The group must not be frozen (thaw() first).
  Result<bool> terminate(std::chrono::milliseconds grace);
  // SIGKILL to every process of the group, then a wait for the monitor to go;
  // deadline_exceeded if it does not within the kill timeout.
  Result<void> kill();
  Result<void> freeze();
  // freeze() in two halves (ContainerGroup::beginFreeze), for a pause that
  // commits while the kernel freezes.
  Result<void> beginFreeze();
  Result<void> finishFreeze();
  Result<void> thaw();
  // Once the monitor is gone: reaps it, reads the exit it recorded and the
  // OOM verdict, and detaches it.
  ExitFacts absorbExit(const Clock& clock);
  // Wakes a terminate() that is waiting out its grace period; false if none is.
  bool escalate();

 private:
  // Waits for the monitor to exit or an escalation; true if the monitor went.
  Result<bool> waitExitOrEscalation(std::chrono::milliseconds timeout);

  std::unique_ptr<ContainerGroup> group_;
  InstanceTimeouts timeouts_;
  std::unique_ptr<Monitor> monitor_;
  uint64_t oomKillsAtStart_ = 0;
  std::mutex graceMutex_;
  bool inGrace_ = false;  // guarded by graceMutex_
  UniqueFd escalation_;   // an eventfd
};

}  // namespace berth::runtime
