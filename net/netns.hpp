#pragma once
// Network namespaces as fds. The kernel ties a thread (not a process) to a
// network namespace, so switching one thread is safe in berthd's
// multithreaded process as long as the thread is switched back.
#include <sys/types.h>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::net {

// A fresh network namespace (only lo, down) that the caller is not left in.
Result<UniqueFd> createNetworkNamespace();

// /proc/<pid>/ns/net; not_found when the process is gone.
Result<UniqueFd> openNetworkNamespaceOf(pid_t pid);

// Holds the calling thread in another network namespace until destruction,
// which returns it to the namespace it was in. Destroy it on the thread that
// made it. If the way back is refused the process aborts: a thread silently
// left in a container's namespace would make every later netlink call act on
// the wrong host.
class ScopedNetns {
 public:
  // Moves the calling thread into the namespace.
  static Result<ScopedNetns> enter(int netnsFd);
  // Only remembers the thread's namespace, for a caller that moves the thread itself (unshare).
  static Result<ScopedNetns> remember();

  ScopedNetns(ScopedNetns&& other) noexcept = default;
  ScopedNetns& operator=(ScopedNetns&&) = delete;
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;
  ~ScopedNetns();

 private:
  explicit ScopedNetns(UniqueFd original) : original_(std::move(original)) {}
  UniqueFd original_;
};

}  // namespace berth::net
