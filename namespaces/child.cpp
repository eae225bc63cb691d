#include "namespaces/child.hpp"

#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unix_socket.hpp"

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

// "0" is the writer itself.
int joinCgroup(const Step& step) noexcept {
  if (step.fd >= 0) return ::write(step.fd, "0", 1) == 1 ? 0 : errno;
  int fd = ::open(step.target, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
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

// mkdir -p over the step's own copy of the path, cut at each '/' in turn.
int makePath(char* path) noexcept {
  for (char* slash = path + 1;; ++slash) {
    if (*slash != '/' && *slash != '\0') continue;
    const char kept = *slash;
    *slash = '\0';
    int err = ::mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : errno;
    *slash = kept;
    if (err != 0) return err;
    if (kept == '\0') return 0;
  }
}

int maskPath(const char* path) noexcept {
  struct stat st {};
  if (::stat(path, &st) != 0) return errno == ENOENT ? 0 : errno;
  if (S_ISDIR(st.st_mode)) return ::mount("tmpfs", path, "tmpfs", MS_RDONLY, nullptr) == 0 ? 0 : errno;
  return ::mount("/dev/null", path, nullptr, MS_BIND, nullptr) == 0 ? 0 : errno;
}

int writeFile(const char* path, const char* data) noexcept {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  const size_t size = std::strlen(data);
  int err = ::write(fd, data, size) == static_cast<ssize_t>(size) ? 0 : errno;
  ::close(fd);
  return err;
}

int makeNode(const Step& step) noexcept {
  if (::mknod(step.target, static_cast<mode_t>(step.flags), static_cast<dev_t>(step.device)) != 0 && errno != EEXIST)
    return errno;
  return ::chown(step.target, static_cast<uid_t>(step.soft), static_cast<gid_t>(step.hard)) == 0 ? 0 : errno;
}

// Binds the pty's slave (/dev/pts/<n> of the container's devpts) on `console`.
int bindConsole(int master, const char* console) noexcept {
  unsigned number = 0;
  if (::ioctl(master, TIOCGPTN, &number) != 0) return errno;
  char path[32] = "/dev/pts/";
  char digits[12];
  int count = 0;
  do {
    digits[count++] = static_cast<char>('0' + number % 10);
    number /= 10;
  } while (number != 0);
  size_t at = std::strlen(path);
  while (count > 0) path[at++] = digits[--count];
  path[at] = '\0';
  return ::mount(path, console, nullptr, MS_BIND, nullptr) == 0 ? 0 : errno;
}

// A terminal of the container's devpts: the master goes to whoever listens on
// the console socket, the slave becomes stdin, stdout and stderr (and /dev/console, for an init).
int setUpConsole(int socket, const char* console) noexcept {
  int master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return errno;
  int unlock = 0;
  int err = 0;
  int slave = -1;
  if (::ioctl(master, TIOCSPTLCK, &unlock) != 0) err = errno;
  if (err == 0 && (slave = ::ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) err = errno;
  if (err == 0 && console != nullptr) err = bindConsole(master, console);
  if (err == 0) {
    const char byte = 0;
    if (sendWithFd(socket, &byte, 1, master) < 0) err = errno;
  }
  ::close(master);
  ::close(socket);
  for (int i = 0; err == 0 && i < 3; ++i)
    if (::dup2(slave, i) < 0) err = errno;
  if (slave > 2) ::close(slave);
  return err;
}

int setUser(const Step& step, const InitPlan& plan) noexcept {
  if (::setgroups(plan.groups().size(), plan.groups().data()) != 0) return errno;
  const auto gid = static_cast<gid_t>(step.hard);
  const auto uid = static_cast<uid_t>(step.soft);
  if (::setresgid(gid, gid, gid) != 0) return errno;
  if (::setresuid(uid, uid, uid) != 0) return errno;
  return 0;
}

// An init in a user namespace: its root as the parent sent it (this process's own memory: it was cloned fork-style).
int receivedRoot = -1;

// The parent has written our id maps once the root arrives; until uid and gid
// are ids of the namespace, nothing we create could be owned by anyone.
int awaitUserNamespace(int socket) noexcept {
  receivedRoot = receiveFd(socket);
  if (receivedRoot < 0) return errno;
  // The socket stays open for the mounts that follow (attachMount); exec closes it.
  if (::setresgid(0, 0, 0) != 0) return errno;
  if (::setresuid(0, 0, 0) != 0) return errno;
  return 0;
}

// Over the merged dir (our cwd, in our mount namespace now: named by an empty
// path, as the host's directories above it may not be searched by us), then
// into it: the steps up to pivot_root use paths relative to it.
int attachRoot() noexcept {
  if (::move_mount(receivedRoot, "", AT_FDCWD, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return errno;
  if (::fchdir(receivedRoot) != 0) return errno;
  ::close(receivedRoot);
  return 0;
}

// The next mount the parent sent, attached on target (which exists: a file or a dir made for it).
int attachMount(int socket, const char* target) noexcept {
  int mount = receiveFd(socket);
  if (mount < 0) return errno;
  int err = ::move_mount(mount, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) == 0 ? 0 : errno;
  ::close(mount);
  return err;
}

// The gate: blocks until `start` opens the fifo for reading, then tells it we passed.
int awaitStart(const char* fifo) noexcept {
  int fd = ::open(fifo, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = ::write(fd, "0", 1) == 1 ? 0 : errno;
  ::close(fd);
  return err;
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
    if (err == EACCES)
      denied = true;
    else if (err != ENOENT && err != ENOTDIR)
      return err;
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
      return joinCgroup(step);
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
    case StepKind::makePath:
      return makePath(step.path);
    case StepKind::makeNode:
      return makeNode(step);
    case StepKind::maskPath:
      return maskPath(step.target);
    case StepKind::writeFile:
      return writeFile(step.target, step.data);
    case StepKind::consoleSetup:
      return setUpConsole(step.fd, step.target);
    case StepKind::setRlimit: {
      const rlimit limit{step.soft, step.hard};
      return ::setrlimit(static_cast<__rlimit_resource>(step.flags), &limit) == 0 ? 0 : errno;
    }
    case StepKind::setUmask:
      ::umask(static_cast<mode_t>(step.flags));
      return 0;
    case StepKind::boundingSet:
      return limitBoundingSet(plan.capabilitySets().bounding, plan.security().lastCap);
    case StepKind::keepCaps:
      return ::prctl(PR_SET_KEEPCAPS, step.flags, 0, 0, 0) == 0 ? 0 : errno;
    case StepKind::setUser:
      return setUser(step, plan);
    case StepKind::capabilitySets:
      return applyCapabilitySets(plan.capabilitySets());
    case StepKind::reportReady:
      return 0;  // runChild writes it: only it has the pipe
    case StepKind::awaitStart:
      return awaitStart(step.target);
    case StepKind::awaitUserNamespace:
      return awaitUserNamespace(step.fd);
    case StepKind::attachRoot:
      return attachRoot();
    case StepKind::attachMount:
      return attachMount(step.fd, step.target);
  }
  return EINVAL;
}

}  // namespace

void runChild(const InitPlan& plan, int errorWrite) noexcept {
  const std::vector<Step>& steps = plan.steps();
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind == StepKind::reportReady) {
      const ChildReport ready{kReadyStep, 0};
      if (::write(errorWrite, &ready, sizeof ready) != static_cast<ssize_t>(sizeof ready))
        reportFailure(errorWrite, i, errno);
      continue;
    }
    int err = runStep(steps[i], plan);
    if (err != 0) reportFailure(errorWrite, i, err);
  }
  // exec is the last step and only returns on failure.
  ::_exit(127);
}

}  // namespace berth::ns
