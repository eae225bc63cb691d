#include "namespaces/spawn.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "namespaces/child.hpp"
#include "namespaces/container_spec.hpp"
#include "namespaces/init_plan.hpp"
#include "namespaces/userns.hpp"

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

// The plan's namespaces leave out the cgroup namespace: the child unshares
// it once it has joined its cgroups, so the namespace's root is the
// container's own group.

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

#if defined(__SANITIZE_ADDRESS__)
#define BERTH_ADDRESS_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BERTH_ADDRESS_SANITIZER 1
#endif
#endif

// clone3 fork-style: the child runs on its copy of our memory. An exec's
// child is born in the container's cgroup2 group (CLONE_INTO_CGROUP), which
// spares it the migration a cgroup.procs write costs (an RCU grace period).
Result<ChildProcess> cloneForked(const InitPlan& plan, const Pipe& errorPipe) {
  int pidfd = -1;
  clone_args args{};
  args.flags = static_cast<std::uint64_t>(plan.cloneNamespaces()) | CLONE_PIDFD;
  if (plan.cloneCgroupFd() >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<std::uint64_t>(plan.cloneCgroupFd());
  }
  args.pidfd = reinterpret_cast<std::uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  long pid;
  {
    SignalsBlocked blocked;
    pid = ::syscall(SYS_clone3, &args, sizeof args);
    if (pid == 0) runChild(plan, errorPipe.write.get());
  }
  if (pid < 0) return sysFail(Errc::host_refused, "clone3");
  return ChildProcess(static_cast<pid_t>(pid), UniqueFd(pidfd));
}

#ifdef BERTH_ADDRESS_SANITIZER
// ASan's runtime cannot follow a child that shares our memory on a stack it
// does not know (its first report crashes the child), so a sanitized build clones fork-style.
Result<ChildProcess> cloneChild(const InitPlan& plan, const Pipe& errorPipe) { return cloneForked(plan, errorPipe); }
#else
// The child's stack while it shares our memory; the lowest page is a guard,
// so an overflow faults instead of writing over our heap.
class ChildStack {
 public:
  static constexpr std::size_t kSize = 256 * 1024;

  static Result<ChildStack> allocate() {
    void* base = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) return sysFail(Errc::host_refused, "mmap child stack");
    ChildStack stack(base);
    if (::mprotect(base, static_cast<std::size_t>(::getpagesize()), PROT_NONE) != 0)
      return sysFail(Errc::host_refused, "mprotect child stack guard");
    return stack;
  }
  ChildStack(ChildStack&& other) noexcept : base_(std::exchange(other.base_, nullptr)) {}
  ChildStack& operator=(ChildStack&&) = delete;
  ~ChildStack() {
    if (base_) ::munmap(base_, kSize);
  }
  void* top() const { return static_cast<char*>(base_) + kSize; }  // stacks grow down

 private:
  explicit ChildStack(void* base) : base_(base) {}
  void* base_;
};

struct ChildStart {
  const InitPlan* plan;
  int errorWrite;
};

int childMain(void* arg) {
  const auto* start = static_cast<const ChildStart*>(arg);
  runChild(*start->plan, start->errorWrite);
}

// CLONE_VM | CLONE_VFORK, as posix_spawn does: no copy of our address space
// to make and tear down again at exec (1-2 ms of a start on a 2-core VM). We
// are suspended until the child has exec'd or exited.
Result<ChildProcess> cloneChild(const InitPlan& plan, const Pipe& errorPipe) {
  BERTH_TRY(ChildStack stack, ChildStack::allocate());
  ChildStart start{&plan, errorPipe.write.get()};
  int pidfd = -1;
  int pid;
  {
    SignalsBlocked blocked;
    pid = ::clone(childMain, stack.top(), plan.cloneNamespaces() | CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                  &start, &pidfd);
  }
  if (pid < 0) return sysFail(Errc::host_refused, "clone");
  return ChildProcess(static_cast<pid_t>(pid), UniqueFd(pidfd));
}
#endif

// Waits for the child to exec: EOF on the error pipe (exec closed the child's
// O_CLOEXEC end) gives nullopt; a report names the step that failed.
Result<std::optional<ChildReport>> awaitExec(Pipe errorPipe) {
  // The child held its own copy; ours would keep EOF from arriving.
  errorPipe.write.reset();
  ChildReport report{};
  ssize_t n;
  while ((n = ::read(errorPipe.read.get(), &report, sizeof report)) < 0 && errno == EINTR) {
  }
  if (n < 0) return sysFail(Errc::host_refused, "read container process status");
  if (n == 0) return std::optional<ChildReport>{};
  if (n != sizeof report) return fail(Errc::internal, "short status from container process");
  return std::optional<ChildReport>{report};
}

// An init in a user namespace: cloned fork-style, since it waits for us
// (userns.hpp) where a vfork child would keep us waiting for it; in the merged dir, the cwd it attaches its root over.
Result<ChildProcess> cloneIntoUserNamespace(const InitSpec& spec, const InitPlan& plan, const Pipe& errorPipe) {
  UniqueFd ownCwd(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!ownCwd) return sysFail(Errc::host_refused, "open the current directory");
  if (::chdir(spec.rootfs.mergedDir.c_str()) != 0) return sysFail(Errc::host_refused, "chdir " + spec.rootfs.mergedDir);
  auto child = cloneForked(plan, errorPipe);
  if (::fchdir(ownCwd.get()) != 0) return sysFail(Errc::internal, "back to our own directory");
  if (!child) return child;
  BERTH_TRYV(prepareUserNamespaceInit(child->pid(), spec, plan.userNamespaceSocket()));
  return child;
}

}  // namespace

Result<ChildProcess> spawnInit(const InitSpec& spec) {
  BERTH_TRY(const InitPlan plan, InitPlan::build(spec));
  BERTH_TRY(Pipe errorPipe, makePipe());
  // Only clone3 places a child in a cgroup at birth; its copy of a small
  // caller's memory costs far less than the grace period a cgroup.procs write waits for.
  BERTH_TRY(ChildProcess child, spec.userNamespace          ? cloneIntoUserNamespace(spec, plan, errorPipe)
                                : plan.cloneCgroupFd() >= 0 ? cloneForked(plan, errorPipe)
                                                            : cloneChild(plan, errorPipe));
  BERTH_TRY(auto report, awaitExec(std::move(errorPipe)));
  if (report) return tl::unexpected(plan.failure(*report));  // child's destructor reaps it
  return child;
}

Result<ExecStart> spawnExec(const ExecSpec& spec) {
  BERTH_TRY(const InitPlan plan, InitPlan::buildExec(spec));
  // pid_for_children: a pid namespace cannot be entered by the process itself,
  // only by its children. Ours comes back once the child is cloned: a later
  // fork must not land in a container's namespace (one that may be gone).
  UniqueFd ownPidNamespace(::open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC));
  if (!ownPidNamespace) return sysFail(Errc::host_refused, "open our own pid namespace");
  if (::setns(spec.initPidfd, CLONE_NEWPID) != 0)
    return sysFail(Errc::host_refused, "join the container's pid namespace");
  auto cloned = [&]() -> Result<std::pair<Pipe, ChildProcess>> {
    BERTH_TRY(Pipe errorPipe, makePipe());
    BERTH_TRY(ChildProcess child, cloneForked(plan, errorPipe));
    return std::pair<Pipe, ChildProcess>{std::move(errorPipe), std::move(child)};
  }();
  if (::setns(ownPidNamespace.get(), CLONE_NEWPID) != 0)
    return sysFail(Errc::internal, "return to our own pid namespace for children");
  if (!cloned) return tl::unexpected(cloned.error());
  auto [errorPipe, child] = std::move(*cloned);
  BERTH_TRY(auto report, awaitExec(std::move(errorPipe)));
  if (!report) return ExecStart{std::move(child)};
  if (report->step < plan.steps().size()) {
    const Step& step = plan.steps()[report->step];
    if (step.kind == StepKind::exec && isContainerExecError(report->err))
      return ExecStart{CommandNotRun{report->err, step.description}};
  }
  return tl::unexpected(plan.failure(*report));
}

Result<ChildProcess> createContainer(const ContainerSpec& spec) {
  for (const NamespaceSpec& ns : spec.namespaces) {
    if (ns.type != CLONE_NEWPID || ns.path.empty()) continue;
    UniqueFd fd(::open(ns.path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return sysFail(Errc::invalid_argument, "namespace path " + ns.path);
    if (::setns(fd.get(), CLONE_NEWPID) != 0) return sysFail(Errc::host_refused, "join pid namespace " + ns.path);
  }
  BERTH_TRY(const InitPlan plan, InitPlan::buildContainer(spec));
  BERTH_TRY(Pipe errorPipe, makePipe());
  // Fork-style: the child stops at the start gate, where a vfork parent would wait with it.
  BERTH_TRY(ChildProcess child, cloneForked(plan, errorPipe));
  BERTH_TRY(auto report, awaitExec(std::move(errorPipe)));
  if (!report) return child;  // no gate: it exec'd already
  if (report->step == kReadyStep) return child;
  return tl::unexpected(plan.failure(*report));
}

}  // namespace berth::ns
