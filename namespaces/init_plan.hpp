#pragma once
// The container init's setup as data: the parent builds every path, option
// string and argv/envp array before clone, so the child between clone and
// exec only makes system calls (no allocation, no locks: the parent may be
// multithreaded). A failed step is reported by its index and errno; the
// parent turns that into an Error with the step's description.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "namespaces/container_spec.hpp"
#include "namespaces/security.hpp"
#include "namespaces/spawn.hpp"

namespace berth::ns {

enum class StepKind : std::uint8_t {
  mount,            // mount(source, target, fstype, flags, data)
  makeDir,          // mkdir(target); an existing one is fine
  makeFile,         // an empty file as a bind-mount target
  symlink,          // symlink(source, target)
  joinNetns,        // setns(fd, CLONE_NEWNET)
  joinNamespaces,   // setns(fd, flags): a running init's namespaces through its pidfd
  joinCgroup,       // write "0" (ourselves) to fd if set, else to target: a cgroup.procs, or a v1 tasks file
  unshareCgroupNs,  // once in our cgroups, so they are the namespace's root
  pivotRoot,        // into target; the old root is detached
  hostname,         // sethostname(data)
  loopbackUp,
  stdio,       // stdio fds onto 0, 1, 2; every other fd close-on-exec
  workingDir,  // chdir(target)
  newSession,
  controllingTerminal,  // ioctl(0, TIOCSCTTY): stdin, a terminal, becomes the session's
  capabilities,         // the default set; see security.hpp
  noNewPrivs,
  seccomp,  // the default filter, compiled in the parent
  exec,     // execve of each candidate in turn
  // An init described by a ContainerSpec (container_plan.cpp):
  makePath,        // mkdir -p target
  makeNode,        // mknod(target, flags (mode | type), device), then chown to soft:hard; an existing one is fine
  maskPath,        // an empty read-only tmpfs over a directory, /dev/null over anything else; missing: skipped
  writeFile,       // write data to target (a sysctl under /proc/sys)
  consoleSetup,    // a pty from /dev/ptmx, its master sent over fd, its slave as stdio (and bound on target if set)
  setRlimit,       // setrlimit(flags, {soft, hard})
  setUmask,        // umask(flags)
  boundingSet,     // drop what the spec's bounding set leaves out
  keepCaps,        // prctl(PR_SET_KEEPCAPS, flags)
  setUser,         // setgroups, setresgid(hard), setresuid(soft)
  capabilitySets,  // the spec's effective, permitted, inheritable and ambient sets
  reportReady,     // tells the parent the init is set up (it waits at the start gate next)
  awaitStart,      // open target (the gate fifo) for writing: blocks until `start` reads it
  // An init in a user namespace (userns.hpp):
  awaitUserNamespace,  // receive the root over fd (the parent has written the id maps), then become uid and gid 0
  attachRoot,          // the root received: attached over the cwd (the merged dir), and made the cwd
  attachMount,         // the next mount the parent sent over fd (a file or a cgroup dir it cloned): attached on target
};

struct Step {
  StepKind kind;
  std::string description;  // names the step in the parent's error
  const char* target = nullptr;
  const char* source = nullptr;
  const char* fstype = nullptr;
  const char* data = nullptr;
  unsigned long flags = 0;
  int fd = -1;
  bool optional = false;  // a missing target (ENOENT) is skipped: paths this kernel may lack
  uint64_t soft = 0;      // setRlimit; the uid for setUser and makeNode
  uint64_t hard = 0;      // setRlimit; the gid for setUser and makeNode
  char* path = nullptr;   // makePath: a copy of its own, cut at each '/' in turn
  uint64_t device = 0;    // makeNode
};

// The report that says the init is set up (not a failed step).
inline constexpr std::uint32_t kReadyStep = 0xffffffffu;

// What the child writes to the error pipe before _exit(127).
struct ChildReport {
  std::uint32_t step;
  std::int32_t err;
};

class InitPlan {
 public:
  static Result<InitPlan> build(const InitSpec& spec);
  static Result<InitPlan> buildExec(const ExecSpec& spec);
  static Result<InitPlan> buildContainer(const ContainerSpec& spec);

  const std::vector<Step>& steps() const { return steps_; }
  // execve arguments; candidates are argv[0] resolved against PATH, tried in order.
  char* const* argv() const { return argv_.data(); }
  char* const* envp() const { return envp_.data(); }
  const std::vector<const char*>& execCandidates() const { return execCandidates_; }
  // Sources for fds 0, 1, 2 (/dev/null where the spec gave -1).
  const int* stdioFds() const { return stdio_; }
  const SecurityPlan& security() const { return security_; }
  const CapabilitySets& capabilitySets() const { return capabilitySets_; }
  const std::vector<gid_t>& groups() const { return groups_; }
  // The namespaces clone makes: CLONE_NEWNET only when no network namespace is given to join.
  int cloneNamespaces() const { return cloneNamespaces_; }
  // An exec's cgroup2 group to be born in (CLONE_INTO_CGROUP); -1: none.
  int cloneCgroupFd() const { return cloneCgroupFd_; }
  // An init in a user namespace: the parent's end of the socket its root goes
  // over (-1: none), then one detached mount for each file bind and, where
  // v1 hierarchies cannot be mounted inside, one for each cgroup hierarchy,
  // in the order of the spec (sendUserNamespaceMounts in userns.hpp).
  int userNamespaceSocket() const { return userNamespaceSocket_.get(); }

  // The error for a step the child reported failed.
  Error failure(const ChildReport& report) const;

 private:
  // Owns a string for the child; deque elements never move, so the
  // returned pointer stays valid as the plan grows and is moved.
  const char* keep(std::string text);
  Step& add(StepKind kind, std::string description);
  void addMount(std::string description, const char* source, const char* target, const char* fstype,
                unsigned long flags, const char* data = nullptr, bool optional = false);
  void addDevices(const std::string& merged);
  void addMaskedAndReadOnlyPaths();
  // The hierarchies at `at` (an absolute path as the init sees it then), each
  // mounted with `flags` (MS_RDONLY: the tmpfs holding them is read-only too).
  // In a user namespace the v1 ones are the container's groups the parent
  // bound read-only and sent (attachMount), as the kernel mounts v1 only for the host's root.
  Result<void> addCgroupfs(const std::string& at, const std::vector<CgroupMount>& hierarchies, unsigned long flags);
  // A makePath step over its own copy of the path.
  void addMakePath(const std::string& path, std::string description);
  Result<void> addStdio(const int (&given)[3]);
  // Capabilities, the user and umask, no_new_privs and seccomp, the last steps before exec.
  Result<void> addSecurity(std::vector<sock_filter> compiledFilter, const std::optional<ProcessUser>& user,
                           std::optional<mode_t> umask);
  // The start of an init in a user namespace: it waits for the parent, then
  // makes / private, unshares its cgroup namespace and attaches its root.
  Result<void> addUserNamespaceRoot();
  void addExec(const std::vector<std::string>& argv, const std::vector<std::string>& env);

  Result<void> addContainerMounts(const ContainerSpec& spec);
  // stdio: a pty whose master goes over consoleSocketFd (its slave bound on
  // `console` if not null), else 0-2 as they are; then a session.
  void addConsoleOrStdio(int consoleSocketFd, const char* console);
  // rlimits, umask, bounding set, user, capability sets, working dir.
  Result<void> addProcessIdentity(const ContainerProcess& process);
  Result<void> addContainerProcess(const ContainerSpec& spec);

  std::deque<std::string> strings_;
  std::deque<std::vector<char>> buffers_;  // makePath's own copies
  std::vector<UniqueFd> heldFds_;          // namespaces to join, the start gate
  std::vector<gid_t> groups_;
  CapabilitySets capabilitySets_;
  std::vector<Step> steps_;
  std::vector<char*> argv_;
  std::vector<char*> envp_;
  std::vector<const char*> execCandidates_;
  SecurityPlan security_;
  UniqueFd devNull_;
  int stdio_[3] = {-1, -1, -1};
  int cloneNamespaces_ = 0;
  int cloneCgroupFd_ = -1;
  UniqueFd userNamespaceSocket_;
  int userNamespaceChildSocket_ = -1;  // the init's end (held in heldFds_)
};

// Pure helpers, exposed for unit tests. "lowerdir=...,upperdir=...,workdir=..."; paths with ',' ':' or '\' are
// refused (overlayfs would split or unescape them).
Result<std::string> overlayOptions(const RootfsSpec& rootfs);
// Where execvp would look for argv0: itself if it contains '/', else each
// PATH entry (from env, or the default) joined with it.
std::vector<std::string> pathCandidates(const std::string& argv0, const std::vector<std::string>& env);
// An exec errno that is the container's fault (a bad command) rather than the host's.
bool isContainerExecError(int err);

}  // namespace berth::ns
