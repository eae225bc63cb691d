#pragma once
// Starts a container's init: clone3 into fresh pid, mount, uts, ipc, net and
// cgroup namespaces (straight into its v2 cgroup), an overlayfs root over the
// image, pivot_root, minimal /dev, fresh /proc, read-only /sys, then exec.
// Every mount happens inside the new mount namespace, so nothing is left on
// the host when the container's last process is gone.
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/process.hpp"

namespace berth::ns {

struct RootfsSpec {
  std::string imageDir;   // read-only lower layer (an image's rootfs)
  std::string upperDir;   // the container's writable layer
  std::string workDir;    // overlayfs work dir, same filesystem as upperDir
  std::string mergedDir;  // mount point of the overlay (an empty directory)
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
  int cgroupFd = -1;  // v2 cgroup dir fd for CLONE_INTO_CGROUP; -1: stay in the caller's cgroup
  // Runs in the parent after clone and before the child does anything of the
  // container's (joining v1 cgroups). A failure kills the child.
  std::function<Result<void>(pid_t)> beforeSetup;
};

// Returns once the child has exec'd the container's command. A failure in the
// child before exec comes back as an error naming the step, with its errno:
// Errc::container_config for the container's own fault (command not found or
// not executable, bad working dir), Errc::host_refused otherwise. The child is
// then already reaped.
Result<ChildProcess> spawnInit(const InitSpec& spec);

}  // namespace berth::ns
