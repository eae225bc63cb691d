#pragma once
// The per-container monitor ("shim"): a small process in its own session that
// is the parent of the container's init, holds its stdout/stderr (a log file)
// and records its exit durably, so berthd can restart or crash freely.
//
// Files in the instance's run dir (<run-dir>/<runtime_id>/):
//   spec.json  what to run (written by berthd)
//   shim.json  shim and init pids once init runs (written by the shim)
//   exit.json  exit code, signal and time once init is gone (written by the shim)
#include <linux/filter.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "namespaces/container_spec.hpp"
#include "namespaces/spawn.hpp"
#include "net/port_proxy.hpp"

namespace berth::runtime {

struct ShimSpec {
  std::string containerId;
  std::string runtimeId;
  std::string imageDir;
  std::string upperDir;
  std::string workDir;
  std::string mergedDir;
  std::vector<std::string> argv;
  std::vector<std::string> env;  // KEY=VALUE
  std::string workingDir = "/";
  std::string hostname;
  std::string logPath;
  uint64_t logMaxBytes = 0;  // console.log rotates to console.log.1 past this; 0: unbounded
  std::vector<std::string> cgroupJoinFiles;  // cgroup::Group::joinFiles(): v2 is entered at clone, v1 by writing
  std::vector<ns::CgroupMount> cgroupMounts;   // the container's /sys/fs/cgroup
  std::vector<sock_filter> seccompFilter;      // the default filter, compiled once by berthd
  // A network namespace berthd prepared (bridge containers), joined by init.
  // berthd's fd; the shim gets it as kShimNetnsFd (spec.json says only whether).
  int netnsFd = -1;
  std::string hostsFile;     // bind-mounted as /etc/hosts
  std::string hostnameFile;  // bind-mounted as /etc/hostname
  // Published ports, served by the shim while init runs.
  std::vector<net::PortForward> ports;
  std::string execDir;  // the records of execs (runtime/exec.hpp)
  // The init, execs and terminals run as this (nullopt: as the shim); umask likewise.
  std::optional<ns::ProcessUser> user;
  std::optional<mode_t> umask;
  std::optional<ns::UserNamespaceMap> userNamespace;  // isolation user-namespace
};

// Where the shim finds the network namespace to hand to init.
inline constexpr int kShimNetnsFd = 4;

struct ShimState {
  pid_t shimPid = 0;
  pid_t initPid = 0;
  UnixMillis startedAt = 0;
};

struct ExitRecord {
  int exitCode = 0;
  int signal = 0;  // 0: exited normally
  UnixMillis finishedAt = 0;
};

struct InstancePaths {
  std::string dir;  // <run-dir>/<runtime_id>
  std::string spec() const { return dir + "/spec.json"; }
  std::string state() const { return dir + "/shim.json"; }
  std::string exit() const { return dir + "/exit.json"; }
};

Result<std::optional<ShimState>> readShimState(const InstancePaths& paths);
Result<std::optional<ExitRecord>> readExitRecord(const InstancePaths& paths);

// A running shim as berthd sees it: its pidfd tells when it (and so init) is gone.
struct LaunchedShim {
  ShimState state;
  UniqueFd shimPidfd;
  bool isOurChild = true;  // reaped by us; an adopted shim (after a restart) is not
};

// Writes spec.json, starts the shim and returns once init has exec'd the
// container's command, or with the error the shim reported (container_config
// for the container's own fault, host_refused otherwise).
Result<LaunchedShim> launchShim(const std::string& shimBinary, const InstancePaths& paths, const ShimSpec& spec,
                                std::chrono::milliseconds deadline);

// The shim's main: reads spec.json, starts init, reports on reportFd, waits,
// writes exit.json. Returns the process exit code.
int runShim(const std::string& instanceDir, int reportFd);

}  // namespace berth::runtime
