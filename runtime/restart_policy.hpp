#pragma once
// Restart policies (issue 20, as Docker's --restart): whether a container
// that exited by itself starts again, and after which backoff. Pure logic;
// the manager applies it (restarts.cpp), the record keeps the loop's state.
#include <cstdint>
#include <optional>

#include "store/records.hpp"

namespace berth::runtime {

// The backoff doubles from the first to the largest, and starts over once a
// run lasted long enough to count as healthy.
inline constexpr int64_t kFirstRestartBackoffMs = 100;
inline constexpr int64_t kMaxRestartBackoffMs = 30000;
inline constexpr int64_t kHealthyRunMs = 10000;

struct RestartPlan {
  int64_t backoffMs = 0;
  uint32_t attempt = 0;  // 1 for the first restart of a loop
};

// The wait before the next restart, after the last one waited lastBackoffMs
// (0: none yet) and the run since lasted ranForMs.
int64_t nextRestartBackoffMs(int64_t lastBackoffMs, int64_t ranForMs);

// After an exit by the container itself (failed: not exit code 0, or killed
// by a signal): the restart the policy wants, nullopt when it wants none.
// restartsSoFar counts the loop's restarts; on-failure:N stops after N.
std::optional<RestartPlan> planRestart(const store::RestartPolicy& policy, uint32_t restartsSoFar,
                                       int64_t lastBackoffMs, bool failed, int64_t ranForMs);

// Whether a start of the service starts this stopped container that has no
// restart pending (Docker's rule at a daemon start): `always` does, and
// `unless-stopped` unless a user stopped it; only one that has run before.
bool restartsAtServiceStart(const store::ContainerRecord& record);

}  // namespace berth::runtime
