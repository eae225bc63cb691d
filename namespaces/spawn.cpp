#include "namespaces/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "namespaces/child.hpp"
#include "namespaces/init_plan.hpp"

namespace berth::ns {

namespace {

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

Result<Pipe> makePipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail(Errc::host_refused, "pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// The cgroup namespace is not among these: the child unshares it once the
// parent has moved it into all its cgroups (v1 ones come from beforeSetup),
// so the namespace's root is the container's own group, not ours.
constexpr std::uint64_t kNamespaces =
    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

// Blocks every signal in the calling thread for its lifetime: the child is
// born with them blocked, so no handler of ours ever runs in it.
class SignalsBlocked {
 public:
  SignalsBlocked() {
    sigset_t all;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &saved_);
  }
  ~SignalsBlocked() { ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr); }
  SignalsBlocked(const SignalsBlocked&) = delete;
  SignalsBlocked& operator=(const SignalsBlocked&) = delete;

 private:
  sigset_t saved_;
};

Result<ChildProcess> cloneChild(const InitSpec& spec, const InitPlan& plan, const Pipe& errorPipe,
                                const Pipe& syncPipe) {
  int pidfd = -1;
  clone_args args{};
  args.flags = kNamespaces | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (spec.cgroupFd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(spec.cgroupFd);
  }
  long pid;
  {
    SignalsBlocked blocked;
    pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) runChild(plan, ChildFds{errorPipe.write.get(), syncPipe.read.get(), syncPipe.write.get()});
  }
  if (pid < 0) {
    return sysFail(Errc::host_refused,
                   spec.cgroupFd >= 0 ? "clone3 into cgroup fd " + std::to_string(spec.cgroupFd) : "clone3");
  }
  return ChildProcess(static_cast<pid_t>(pid), UniqueFd(pidfd));
}

Result<void> writeByte(int fd) {
  const char go = 1;
  ssize_t n;
  while ((n = ::write(fd, &go, 1)) < 0 && errno == EINTR) {
  }
  if (n != 1) return sysFail(Errc::host_refused, "release container init");
  return {};
}

}  // namespace

Result<ChildProcess> spawnInit(const InitSpec& spec) {
  BERTH_TRY(const InitPlan plan, InitPlan::build(spec));
  BERTH_TRY(Pipe errorPipe, makePipe());
  BERTH_TRY(Pipe syncPipe, makePipe());
  BERTH_TRY(ChildProcess child, cloneChild(spec, plan, errorPipe, syncPipe));
  // The child holds its own copies; ours would keep EOF from arriving.
  errorPipe.write.reset();
  syncPipe.read.reset();

  if (spec.beforeSetup) {
    auto placed = spec.beforeSetup(child.pid());
    if (!placed) return tl::unexpected(std::move(placed.error()));  // child's destructor kills and reaps it
  }
  BERTH_TRYV(writeByte(syncPipe.write.get()));
  syncPipe.write.reset();

  // EOF: exec closed the child's O_CLOEXEC end. A report: a step failed.
  ChildReport report{};
  ssize_t n;
  while ((n = ::read(errorPipe.read.get(), &report, sizeof report)) < 0 && errno == EINTR) {
  }
  if (n < 0) return sysFail(Errc::host_refused, "read container init status");
  if (n == 0) return child;
  if (n != sizeof report) return fail(Errc::internal, "short status from container init");
  return tl::unexpected(plan.failure(report));  // child's destructor reaps it
}

}  // namespace berth::ns
