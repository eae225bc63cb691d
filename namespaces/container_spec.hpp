#pragma once
// A container init described in full by its caller rather than by berth's
// defaults: what an OCI bundle's config.json asks for (berth-oci maps the
// spec onto this). Namespaces to make or join, the mounts in order, devices,
// masked and read-only paths, sysctls, the process's user, capability sets,
// rlimits and seccomp filter, and the start gate: the init stops, fully set
// up, before exec until `start` opens the gate fifo.
#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/process.hpp"
#include "namespaces/security.hpp"

namespace berth::ns {

struct MountSpec {
  std::string destination;  // absolute, inside the container
  std::string type;         // "bind" for a bind mount (or flags with MS_BIND)
  std::string source;
  unsigned long flags = 0;        // MS_* without propagation
  unsigned long propagation = 0;  // MS_PRIVATE, MS_SHARED, ... (with MS_REC), 0: none
  std::string data;               // filesystem options
};

// A cgroup hierarchy mounted read-only from inside the container's cgroup
// namespace, so that its root is the container's own group.
struct CgroupMount {
  std::string name;                  // its dir under the cgroup mount point; "" on a pure v2
                                     // host (the mount point itself)
  std::string fstype;                // "cgroup" (v1) or "cgroup2"
  std::string controllers;           // v1: the hierarchy's controllers, exactly as the host mounted it ("cpu,cpuacct")
  std::vector<std::string> aliases;  // symlinks to it beside it ("cpu" -> "cpu,cpuacct")
  // The container's group in it, on the host: under a user namespace, where
  // a v1 hierarchy cannot be mounted, the parent binds this dir instead.
  std::string hostDir;
};

struct NamespaceSpec {
  int type = 0;      // CLONE_NEWPID, CLONE_NEWNET, ...
  std::string path;  // empty: a new one; else one to join
};

struct RlimitSpec {
  int resource = 0;  // RLIMIT_*
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct DeviceSpec {
  std::string path;  // absolute, inside the container
  char type = 'c';   // c, b, p (u counts as c)
  uint32_t major = 0;
  uint32_t minor = 0;
  mode_t fileMode = 0666;
  uid_t uid = 0;
  gid_t gid = 0;
};

struct ContainerProcess {
  std::vector<std::string> args;
  std::vector<std::string> env;  // KEY=VALUE
  std::string cwd = "/";
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additionalGids;
  std::optional<mode_t> umask;
  CapabilitySets capabilities;
  std::vector<RlimitSpec> rlimits;
  bool noNewPrivileges = false;
  std::vector<sock_filter> seccompFilter;  // empty: none
};

struct ContainerSpec {
  std::string rootfs;  // an absolute directory on the host
  bool rootReadonly = false;
  unsigned long rootPropagation = 0;  // 0: MS_REC | MS_PRIVATE
  std::string hostname;               // set when a new uts namespace is made
  std::vector<NamespaceSpec> namespaces;
  std::vector<MountSpec> mounts;
  // How a mount of type "cgroup" is made: the host's hierarchies (a tmpfs
  // holding one mount each on a hybrid host); empty: the cgroup2 tree alone.
  std::vector<CgroupMount> cgroupMounts;
  std::vector<DeviceSpec> devices;  // beyond the default ones (null, zero, full, random, urandom, tty)
  std::vector<std::string> maskedPaths;
  std::vector<std::string> readonlyPaths;
  std::map<std::string, std::string> sysctl;
  ContainerProcess process;
  int cgroupFd = -1;                         // the cgroup2 group the init is born in
  std::vector<std::string> cgroupJoinFiles;  // the other hierarchies', joined by writing
  // >= 0: a connected unix socket; the init sends its terminal's master over
  // it (SCM_RIGHTS) and gets the slave as stdio. -1: stdio are the caller's 0-2.
  int consoleSocketFd = -1;
  std::string startFifo;  // opened for writing (blocking) once set up; exec follows
};

// Clones the init and returns once it is set up and waiting at the start
// gate (an Error naming the failed step otherwise; the child is then reaped).
// Its parent is the caller; it outlives the caller if the caller exits.
Result<ChildProcess> createContainer(const ContainerSpec& spec);

}  // namespace berth::ns
