#include "runtime/instance.hpp"

#include "runtime/exec.hpp"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/process.hpp"
#include "common/scope_guard.hpp"

namespace berth::runtime {

ExitFacts exitFactsOf(const ExitRecord& exit) {
  ExitFacts facts;
  facts.exitCode = exit.exitCode;
  if (exit.signal) facts.signal = signalName(exit.signal);
  facts.finishedAt = exit.finishedAt;
  return facts;
}

ContainerInstance::ContainerInstance(std::unique_ptr<ContainerGroup> group, InstanceTimeouts timeouts)
    : group_(std::move(group)), timeouts_(timeouts), escalation_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  // Without it a force-stop waits for the grace period to end instead.
  if (!escalation_) spdlog::warn("eventfd for stop escalation: errno {}", errno);
}

void ContainerInstance::attach(std::unique_ptr<Monitor> monitor) {
  monitor_ = std::move(monitor);
  oomKillsAtStart_ = 0;
  if (auto stats = group_->stats()) oomKillsAtStart_ = stats->oomKills;
}

bool ContainerInstance::monitorGone() const {
  return monitor_ && waitPidfdReadable(monitor_->exitFd(), std::chrono::milliseconds(0)).value_or(false);
}

bool ContainerInstance::escalate() {
  std::lock_guard lock(graceMutex_);
  if (!inGrace_ || !escalation_) return false;
  uint64_t one = 1;
  return ::write(escalation_.get(), &one, sizeof one) == sizeof one;
}

Result<bool> ContainerInstance::waitExitOrEscalation(std::chrono::milliseconds timeout) {
  int64_t end = monotonicMillis() + timeout.count();
  for (;;) {
    int64_t left = std::max<int64_t>(0, end - monotonicMillis());
    pollfd fds[2] = {{monitor_->exitFd(), POLLIN, 0}, {escalation_.get(), POLLIN, 0}};
    int n = ::poll(fds, escalation_ ? 2 : 1, static_cast<int>(left));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("poll for the monitor's exit");
    }
    return fds[0].revents != 0;  // else the grace period ran out or a force-stop came
  }
}

Result<bool> ContainerInstance::terminate(std::chrono::milliseconds grace) {
  bool exited = false;
  if (grace.count() > 0) {
    {
      std::lock_guard lock(graceMutex_);
      inGrace_ = true;
      uint64_t stale;
      while (escalation_ && ::read(escalation_.get(), &stale, sizeof stale) > 0) {
      }
    }
    auto graceOver = ScopeGuard([&] {
      std::lock_guard lock(graceMutex_);
      inGrace_ = false;
    });
    BERTH_TRYV(monitor_->signalInit(SIGTERM));
    BERTH_TRY(exited, waitExitOrEscalation(grace));
  }
  if (!exited) BERTH_TRYV(kill());
  return exited;
}

Result<void> ContainerInstance::kill() {
  // One deadline for the kill and the monitor's exit.
  int64_t end = monotonicMillis() + timeouts_.kill.count();
  BERTH_TRYV(withContext(group_->killAll(timeouts_.kill), "kill"));
  auto left = std::chrono::milliseconds(std::max<int64_t>(0, end - monotonicMillis()));
  BERTH_TRY(bool gone, waitPidfdReadable(monitor_->exitFd(), left));
  if (!gone) return fail(Errc::deadline_exceeded, "the container's monitor did not exit after the kill");
  return {};
}

Result<void> ContainerInstance::freeze() { return withContext(group_->freeze(timeouts_.freeze), "freeze"); }

Result<void> ContainerInstance::beginFreeze() { return withContext(group_->beginFreeze(), "freeze"); }

Result<void> ContainerInstance::finishFreeze() {
  return withContext(group_->finishFreeze(timeouts_.freeze), "freeze");
}

Result<void> ContainerInstance::thaw() { return withContext(group_->thaw(timeouts_.freeze), "thaw"); }

ExitFacts ContainerInstance::absorbExit(const Clock& clock) {
  ExitFacts facts;
  facts.finishedAt = clock.now();
  auto exit = monitor_->collectExit();
  if (exit && *exit) {
    facts = exitFactsOf(**exit);
  } else {
    spdlog::warn("monitor {} left no exit record{}", monitor_->state().shimPid,
                 exit ? "" : ": " + exit.error().describe());
  }
  if (auto stats = group_->stats(); stats && stats->oomKills > oomKillsAtStart_) facts.oomKilled = true;
  monitor_.reset();
  return facts;
}

}  // namespace berth::runtime
