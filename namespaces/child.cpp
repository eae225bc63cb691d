#include "namespaces/child.hpp"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::ns {

namespace {

[[noreturn]] void reportFailure(int fd, std::size_t step, int err) noexcept {
  const ChildReport report{static_cast<std::uint32_t>(step), err};
  // Best effort: a parent that is gone has no one to tell.
  ssize_t written = ::write(fd, &report, sizeof report);
  (void)written;
  ::_exit(127);
}

int pivotInto(const char* root) noexcept {
  if (::chdir(root) != 0) return errno;
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  // The old root is now stacked on the new one at "/"; detaching it leaves
  // the container nothing of the host's tree.
  if (::umount2(".", MNT_DETACH) != 0) return errno;
  if (::chdir("/") != 0) return errno;
  return 0;
}

int joinCgroup(const char* procsFile) noexcept {
  int fd = ::open(procsFile, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  // "0" is the writer itself.
  int err = ::write(fd, "0", 1) == 1 ? 0 : errno;
  ::close(fd);
  return err;
}

int bringLoopbackUp() noexcept {
  int sock = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) return errno;
  ifreq request{};
  std::memcpy(request.ifr_name, "lo", 3);
  int err = 0;
  if (::ioctl(sock, SIOCGIFFLAGS, &request) != 0) {
    err = errno;
  } else {
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    if (::ioctl(sock, SIOCSIFFLAGS, &request) != 0) err = errno;
  }
  ::close(sock);
  return err;
}

int installStdio(const int* sources) noexcept {
  // Moved above 2 first, so a source that is itself 0, 1 or 2 is not overwritten before its turn.
  int moved[3];
  for (int i = 0; i < 3; ++i) {
    moved[i] = ::fcntl(sources[i], F_DUPFD_CLOEXEC, 3);
    if (moved[i] < 0) return errno;
  }
  for (int i = 0; i < 3; ++i) {
    if (::dup2(moved[i], i) < 0) return errno;
  }
  // Whatever else the parent had open without O_CLOEXEC stays out of the container.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) return errno;
  return 0;
}

// Signals have been blocked since clone (the parent blocked them around it),
// so none of the parent's handlers ever ran here. exec resets caught signals
// by itself; ignored ones and the mask it would keep.
void resetSignals() noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // SIGKILL, SIGSTOP refuse: fine
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
}

// execvp's rules over the candidates the parent resolved: go on past
// ENOENT/ENOTDIR, remember EACCES, stop at anything else.
int execCommand(const InitPlan& plan) noexcept {
  resetSignals();
  int err = ENOENT;
  bool denied = false;
  for (const char* candidate : plan.execCandidates()) {
    ::execve(candidate, plan.argv(), plan.envp());
    err = errno;
    if (err == EACCES) denied = true;
    else if (err != ENOENT && err != ENOTDIR) return err;
  }
  return denied ? EACCES : err;
}

int runStep(const Step& step, const InitPlan& plan) noexcept {
  switch (step.kind) {
    case StepKind::mount:
      if (::mount(step.source, step.target, step.fstype, step.flags, step.data) == 0) return 0;
      return step.optional && errno == ENOENT ? 0 : errno;
    case StepKind::makeDir:
      return ::mkdir(step.target, 0755) == 0 || errno == EEXIST ? 0 : errno;
    case StepKind::makeFile: {
      int fd = ::open(step.target, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
      if (fd < 0) return errno;
      ::close(fd);
      return 0;
    }
    case StepKind::symlink:
      return ::symlink(step.source, step.target) == 0 ? 0 : errno;
    case StepKind::joinNetns:
      return ::setns(step.fd, CLONE_NEWNET) == 0 ? 0 : errno;
    case StepKind::joinNamespaces:
      return ::setns(step.fd, static_cast<int>(step.flags)) == 0 ? 0 : errno;
    case StepKind::joinCgroup:
      return joinCgroup(step.target);
    case StepKind::unshareCgroupNs:
      return ::unshare(CLONE_NEWCGROUP) == 0 ? 0 : errno;
    case StepKind::pivotRoot:
      return pivotInto(step.target);
    case StepKind::hostname:
      return ::sethostname(step.data, std::strlen(step.data)) == 0 ? 0 : errno;
    case StepKind::loopbackUp:
      return bringLoopbackUp();
    case StepKind::stdio:
      return installStdio(plan.stdioFds());
    case StepKind::workingDir:
      return ::chdir(step.target) == 0 ? 0 : errno;
    case StepKind::newSession:
      return ::setsid() >= 0 ? 0 : errno;
    case StepKind::controllingTerminal:
      return ::ioctl(0, TIOCSCTTY, 0) == 0 ? 0 : errno;
    case StepKind::capabilities:
      return limitCapabilities(plan.security());
    case StepKind::noNewPrivs:
      return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno;
    case StepKind::seccomp:
      return loadSeccompFilter(plan.security());
    case StepKind::exec:
      return execCommand(plan);
  }
  return EINVAL;
}

}  // namespace

void runChild(const InitPlan& plan, int errorWrite) noexcept {
  const std::vector<Step>& steps = plan.steps();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    int err = runStep(steps[i], plan);
    if (err != 0) reportFailure(errorWrite, i, err);
  }
  // exec is the last step and only returns on failure.
  ::_exit(127);
}

}  // namespace berth::ns
