#pragma once
// Starts a container's init: clone into fresh pid, mount, uts, ipc, net (or
// one the caller prepared) and cgroup namespaces (the child first joins its
// cgroups), an overlayfs root over the image, pivot_root, minimal /dev, fresh
// /proc, read-only /sys with the container's own cgroups at /sys/fs/cgroup, a
// tmpfs /run, then exec. Every mount happens inside the new mount namespace, so
// nothing is left on the host when the container's last process is gone.
#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/error.hpp"
#include "common/process.hpp"
#include "namespaces/container_spec.hpp"

namespace berth::ns {

struct RootfsSpec {
  std::string imageDir;   // read-only lower layer (an image's rootfs)
  std::string upperDir;   // the container's writable layer
  std::string workDir;    // overlayfs work dir, same filesystem as upperDir
  std::string mergedDir;  // mount point of the overlay (an empty directory)
};

// A host file bind-mounted over a path inside the container (made if missing).
struct FileBind {
  std::string source;  // on the host
  std::string target;  // absolute, inside the container
};

// Who a container process runs as: setgroups, setresgid and setresuid once
// its capabilities are limited (ids as the container sees them).
struct ProcessUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary
};

// A user namespace for the init: the container's ids 0..size-1 are the
// host's hostUid.. and hostGid.. .
struct UserNamespaceMap {
  uid_t hostUid = 0;
  gid_t hostGid = 0;
  uint32_t size = 0;
};

struct InitSpec {
  RootfsSpec rootfs;
  std::vector<std::string> argv;  // argv[0] resolved through PATH inside the container if it has no '/'
  std::vector<std::string> env;   // "KEY=VALUE"
  std::string workingDir = "/";
  std::string hostname;
  int stdinFd = -1;   // -1: /dev/null
  int stdoutFd = -1;  // -1: /dev/null
  int stderrFd = -1;  // -1: /dev/null
  // >= 0: the container's cgroup2 group (a directory): the init is born in it
  // (CLONE_INTO_CGROUP), which takes no global lock, as writing cgroup.procs does.
  int cgroupFd = -1;
  // Files the child writes "0" to, to join cgroups before anything else
  // (cgroup::Group::joinFiles; without cgroupFd's group, v1JoinFiles with it); empty: it stays in the caller's cgroups.
  std::vector<std::string> cgroupJoinFiles;
  // >= 0: the init joins this network namespace (prepared by the caller) instead of a new, empty one.
  int netnsFd = -1;
  // Bound after the root is mounted, before pivot_root (/etc/hosts, /etc/hostname).
  std::vector<FileBind> files;
  // compileDefaultFilter()'s program, from a caller that compiled it once; empty: compiled for this start.
  std::vector<sock_filter> seccompFilter;
  // What /sys/fs/cgroup shows (read-only, the container's own groups); empty: nothing.
  std::vector<CgroupMount> cgroupMounts;
  // Filesystems mounted after pivot_root at their destinations inside (made
  // if missing), with their own flags: volumes, a test's tmpfs. No binds.
  std::vector<MountSpec> mounts;
  std::optional<ProcessUser> user;  // nullopt: the caller's ids and groups
  std::optional<mode_t> umask;      // nullopt: the caller's
  // Set: the init runs in a user namespace of its own with this map, its root
  // the image idmapped to it under the writable layer (userns.hpp). Its
  // network namespace is its own (netnsFd must be -1).
  std::optional<UserNamespaceMap> userNamespace;
};

// A process started inside a running container (exec, a terminal): it joins
// the init's namespaces and cgroups and gets the init's security profile
// (capabilities, no_new_privs, seccomp), in a session of its own.
struct ExecSpec {
  int initPidfd = -1;  // the container's init; its namespaces are joined through this pidfd
  int cgroupFd = -1;   // the container's cgroup2 group (a directory): the child is born in it
  // Other hierarchies' files (cgroup v1 `tasks`), joined by writing "0" before anything else.
  std::vector<std::string> cgroupJoinFiles;
  std::vector<std::string> argv;  // argv[0] resolved through PATH inside the container if it has no '/'
  std::vector<std::string> env;   // "KEY=VALUE"
  std::string workingDir = "/";   // inside the container
  int stdinFd = -1;               // -1: /dev/null
  int stdoutFd = -1;
  int stderrFd = -1;
  // stdin is a terminal, made the controlling terminal of the new session.
  bool controllingTerminal = false;
  std::vector<sock_filter> seccompFilter;  // as InitSpec's
  std::optional<ProcessUser> user;         // as InitSpec's (not with `process`)
  std::optional<mode_t> umask;
  bool joinUserNamespace = false;  // the init runs in a user namespace of its own
  // Set: the process's user, capability sets, rlimits, umask, no_new_privs
  // and seccomp filter are these (an OCI exec) instead of berth's defaults
  // (and seccompFilter); argv, env and workingDir above still apply.
  std::optional<ContainerProcess> process;
  // >= 0: a pty of the container's devpts, its master sent over this socket, its slave the stdio.
  int consoleSocketFd = -1;
};

// Returns once the child has exec'd the container's command. A failure in the
// child before exec comes back as an error naming the step, with its errno:
// Errc::container_config for the container's own fault (command not found or
// not executable, bad working dir), Errc::host_refused otherwise. The child is then already reaped.
Result<ChildProcess> spawnInit(const InitSpec& spec);

// An exec's command that the kernel would not execute (the child is gone):
// ENOENT/ENOTDIR for one that does not exist, EACCES/ENOEXEC for one that is not executable.
struct CommandNotRun {
  int err = 0;
  std::string description;  // exec "name"
};
using ExecStart = std::variant<ChildProcess, CommandNotRun>;

// The same for a process inside the running container, born in its pid
// namespace (the calling thread's pid_for_children is the init's for the
// clone, its own again after). Errors as spawnInit's.
Result<ExecStart> spawnExec(const ExecSpec& spec);

}  // namespace berth::ns
