#include "net/netns.hpp"

#include <fcntl.h>
#include <sched.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace berth::net {

namespace {

// /proc/self would name the thread group leader's namespace, not this thread's.
constexpr const char* kThreadNetns = "/proc/thread-self/ns/net";

Result<UniqueFd> openThreadNetns() {
  UniqueFd fd(::open(kThreadNetns, O_RDONLY | O_CLOEXEC));
  if (!fd) return sysFail(std::string("opening ") + kThreadNetns);
  return fd;
}

}  // namespace

Result<ScopedNetns> ScopedNetns::remember() {
  BERTH_TRY(UniqueFd original, openThreadNetns());
  return ScopedNetns(std::move(original));
}

Result<ScopedNetns> ScopedNetns::enter(int netnsFd) {
  BERTH_TRY(UniqueFd original, openThreadNetns());
  if (::setns(netnsFd, CLONE_NEWNET) != 0) return sysFail("entering a network namespace (setns)");
  return ScopedNetns(std::move(original));
}

ScopedNetns::~ScopedNetns() {
  if (!original_) return;  // moved from
  if (::setns(original_.get(), CLONE_NEWNET) != 0) {
    std::fprintf(stderr, "berth: cannot return a thread to its network namespace (setns: %s)\n",
                 std::strerror(errno));
    std::abort();
  }
}

Result<UniqueFd> createNetworkNamespace() {
  BERTH_TRY(ScopedNetns back, ScopedNetns::remember());
  // unshare moves only this thread (CLONE_NEWNET needs no single-threaded process).
  if (::unshare(CLONE_NEWNET) != 0) return sysFail("creating a network namespace (unshare)");
  return openThreadNetns();
}

Result<UniqueFd> openNetworkNamespaceOf(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ESRCH)
      return fail(Errc::not_found, "process " + std::to_string(pid) + " is gone");
    return sysFail("opening " + path);
  }
  return fd;
}

}  // namespace berth::net
