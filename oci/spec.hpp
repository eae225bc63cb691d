#pragma once
// The bundle's config.json (OCI runtime spec 1.0 and later 1.x) parsed into
// what berth-oci acts on. Pure: parseSpec touches nothing but its input;
// loadBundleSpec only reads <bundle>/config.json.
//
// What parsing guarantees, so the runtime need not check again:
//   - every known field has its JSON type (a wrong type is an error; an
//     unknown field, at any level, is ignored: the spec allows extensions);
//   - names are resolved: capabilities to bit masks, rlimits to RLIMIT_*
//     numbers, mount options to MS_* flags, namespaces to an enum, seccomp
//     names to namespaces/oci_seccomp.hpp's enums;
//   - the spec's MUSTs hold: ociVersion 1.x, non-empty process.args, an
//     absolute cwd, mount destinations, device and namespace paths, unique
//     namespace and rlimit types, soft <= hard, oomScoreAdj in -1000..1000,
//     hook paths absolute and timeouts > 0; and runc's checks across
//     fields: id mappings only with a user namespace, a hostname or
//     domainname only with a uts namespace.
// Every error is Errc::invalid_argument and starts with the JSON path of
// the offending value: "process.capabilities.bounding[3]: unknown capability
// CAP_FOO"; a map's key is quoted: "linux.sysctl[\"net.ipv4.ip_forward\"]: ...".
//
// Not applied by berth, but accepted and kept (so the runtime can refuse or
// warn): process.apparmorProfile, process.selinuxLabel; ignored outright:
// linux.mountLabel, linux.intelRdt, linux.personality, resources other than
// the ones below (blockIO, hugepageLimits, network, rdma).
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgroup/cgroup.hpp"
#include "common/error.hpp"
#include "namespaces/oci_seccomp.hpp"
#include "namespaces/security.hpp"

namespace berth::oci {

// ---- process ------------------------------------------------------------

struct User {
  std::uint32_t uid = 0;
  std::uint32_t gid = 0;
  std::optional<std::uint32_t> umask;  // unset: leave the runtime's umask
  std::vector<std::uint32_t> additionalGids;
};

// Bit n = capability n (CAP_CHOWN = bit 0), as /proc/<pid>/status shows them:
// the five sets exactly as the init applies them.
using Capabilities = ns::CapabilitySets;

struct Rlimit {
  std::string type;  // "RLIMIT_NOFILE", as given
  int resource = 0;  // RLIMIT_NOFILE, for setrlimit/prlimit
  std::uint64_t hard = 0;
  std::uint64_t soft = 0;  // <= hard
};

struct ConsoleSize {
  unsigned height = 0;
  unsigned width = 0;
};

struct Process {
  bool terminal = false;
  std::optional<ConsoleSize> consoleSize;
  User user;
  std::vector<std::string> args;  // non-empty; args[0] is looked up in the container's PATH if it has no '/'
  std::vector<std::string> env;   // "KEY=VALUE"
  std::string cwd;                // absolute, inside the container
  // Absent: the spec says nothing, and the runtime chooses (berth's default
  // set, ns::defaultCapabilities(), is the safe choice). Present, each set
  // is exactly what was listed (an absent list is an empty set).
  std::optional<Capabilities> capabilities;
  std::vector<Rlimit> rlimits;  // each type once
  bool noNewPrivileges = false;
  std::optional<int> oomScoreAdj;  // -1000..1000
  std::string apparmorProfile;     // not applied by berth
  std::string selinuxLabel;        // not applied by berth
};

// ---- root and mounts ----------------------------------------------------

struct Root {
  // As in config.json from parseSpec (may be relative to the bundle);
  // loadBundleSpec makes it absolute.
  std::string path;
  bool readonly = false;
};

// Mount options as mount(2) and mount_setattr(2) take them (runc's table).
// Flag words apply in the order given: "ro,rw" is read-write.
struct MountOptions {
  unsigned long flags = 0;  // MS_RDONLY, MS_NOSUID, MS_BIND, MS_BIND | MS_REC, MS_REMOUNT...
  // MS_PRIVATE, MS_SHARED, MS_SLAVE or MS_UNBINDABLE, with MS_REC for the
  // r-forms: a second mount(2) on the target after the mount itself. 0: none.
  unsigned long propagation = 0;
  // MOUNT_ATTR_* for mount_setattr(AT_RECURSIVE) after the mount (runc's
  // "rro", "rnosuid", "rnoatime"...). attrClear holds MOUNT_ATTR__ATIME when
  // an atime mode is set.
  std::uint64_t attrSet = 0;
  std::uint64_t attrClear = 0;
  bool tmpcopyup = false;  // runc's extension: copy the image's files up into a tmpfs mounted there
  std::string data;        // every other option, joined with ',' ("mode=755,size=65536k")
};

// The translation alone, for options from elsewhere (a command line).
MountOptions translateMountOptions(const std::vector<std::string>& options);

struct Mount {
  std::string destination;  // absolute, inside the container
  std::string type;         // may be empty (a bind mount); "bind" is a bind mount too
  std::string source;
  std::vector<std::string> options;  // as given
  MountOptions parsed;               // translateMountOptions(options)
  // MS_BIND in parsed.flags or type "bind". The kernel ignores other flags
  // (ro, nosuid...) on the bind itself: a runtime remounts with
  // MS_REMOUNT | MS_BIND | flags afterwards, as runc does.
  bool isBind() const;
};

// ---- linux --------------------------------------------------------------

enum class NamespaceType : std::uint8_t { pid, network, mount, ipc, uts, user, cgroup, time };

// "network" -> NamespaceType::network.
std::optional<NamespaceType> namespaceTypeFromName(std::string_view name);
std::string_view namespaceTypeName(NamespaceType type);
// CLONE_NEWPID ... CLONE_NEWTIME (the latter for unshare/clone3 only).
int cloneFlagOf(NamespaceType type);

struct Namespace {
  NamespaceType type = NamespaceType::pid;
  std::string path;  // empty: a new namespace; else absolute, an existing one to join (setns)
};

struct IdMapping {
  std::uint32_t containerID = 0;
  std::uint32_t hostID = 0;
  std::uint32_t size = 0;
};

// Unset fields leave the kernel's default. -1 means unlimited where the
// spec allows it (memory limit, swap, cpu quota, pids limit).
struct MemoryResources {
  std::optional<std::int64_t> limit;        // bytes
  std::optional<std::int64_t> reservation;  // bytes (soft limit)
  std::optional<std::int64_t> swap;         // memory + swap, bytes
  std::optional<std::uint64_t> swappiness;
  std::optional<bool> disableOOMKiller;
};

struct CpuResources {
  std::optional<std::uint64_t> shares;  // v1 cpu.shares
  std::optional<std::int64_t> quota;    // usec per period; -1 unlimited
  std::optional<std::uint64_t> period;  // usec
  std::optional<std::int64_t> realtimeRuntime;
  std::optional<std::uint64_t> realtimePeriod;
  std::string cpus;  // cpuset, "0-3,7"; empty: unset
  std::string mems;
};

struct PidsResources {
  std::optional<std::int64_t> limit;  // -1 unlimited; 0 is treated as unset, as runc does
};

// One device-cgroup rule (linux.resources.devices), applied in order.
struct DeviceRule {
  bool allow = false;
  std::string type;  // "a" (all, also when empty), "c" or "b"
  std::optional<std::int64_t> major;  // unset: any ("*")
  std::optional<std::int64_t> minor;
  std::string access;  // some of "rwm"; empty: "rwm"
};

struct Resources {
  std::vector<DeviceRule> devices;
  MemoryResources memory;
  CpuResources cpu;
  PidsResources pids;
  std::map<std::string, std::string> unified;  // cgroup v2 file -> value, written as is
};

// What cgroup::Limits can hold of it: memory.limit (-1 -> 0, no limit; 0
// unset), the cpu quota over its period (default 100 ms) as millicores,
// rounded up so a small quota stays a limit (-1 -> 0, no limit), pids.limit
// (-1 -> 0). Limits derives cpu weight from millicores, so cpu.shares and
// everything else is not carried.
cgroup::Limits limitsOf(const Resources& resources);

// linux.resources.devices for the device cgroup, then the default allow list
// after them (as runc: a spec cannot take /dev/null away). Read from "deny
// all", so a spec without rules gets the default.
std::vector<cgroup::DeviceRule> deviceRulesOf(const Resources& resources);

// linux.cgroupsPath, read for the cgroup driver in use.
//   cgroupfs: a path. Absolute ("/default/abc") is from the hierarchy's
//     root; relative ("abc") is from a place the runtime chooses. Empty:
//     the runtime chooses all of it. Repeated and trailing '/' are dropped;
//     "." and ".." components are refused.
//   systemd: "slice:prefix:name" ("kubepods-besteffort.slice:cri-containerd:abc"):
//     the unit is "prefix-name.scope" in that slice (name alone if it ends
//     in ".slice"). slice may be empty (the runtime's default) and must
//     otherwise end in ".slice"; no part may hold '/'; name is required.
struct CgroupsPath {
  bool systemd = false;
  std::string path;  // cgroupfs: normalised; systemd: the text as given
  bool absolute = false;  // cgroupfs only
  std::string slice;      // systemd only
  std::string prefix;
  std::string name;
  bool empty() const { return path.empty(); }
  // systemd only: "prefix-name.scope", or name when it is a slice itself.
  std::string unitName() const;
};

Result<CgroupsPath> parseCgroupsPath(std::string_view text, bool systemd);

// linux.devices: a node made in the container's /dev (besides the defaults).
struct Device {
  std::string path;  // absolute, inside the container
  char type = 'c';   // 'c', 'b', 'u' (unbuffered char) or 'p' (fifo)
  std::int64_t major = 0;  // required for c, b, u; 0 for p
  std::int64_t minor = 0;
  std::optional<std::uint32_t> fileMode;  // permission bits; unset: 0666 per runc
  std::optional<std::uint32_t> uid;
  std::optional<std::uint32_t> gid;
};

struct Linux {
  std::vector<Namespace> namespaces;  // each type once; order as given
  std::vector<IdMapping> uidMappings;
  std::vector<IdMapping> gidMappings;
  Resources resources;
  std::string cgroupsPath;  // as given; may be empty
  CgroupsPath cgroups;      // cgroupsPath read per ParseOptions::systemdCgroup
  std::vector<std::string> maskedPaths;    // absolute
  std::vector<std::string> readonlyPaths;  // absolute
  std::map<std::string, std::string> sysctl;
  std::optional<ns::SeccompProfile> seccomp;  // absent: no filter asked for
  std::vector<Device> devices;
  // MS_PRIVATE / MS_SHARED / MS_SLAVE / MS_UNBINDABLE (| MS_REC) for the
  // root's propagation; 0 when unset: the runtime's choice (runc's is
  // MS_SLAVE | MS_REC, so host mounts still reach the container).
  unsigned long rootfsPropagation = 0;

  bool hasNamespace(NamespaceType type) const;
  const Namespace* findNamespace(NamespaceType type) const;
};

// ---- hooks --------------------------------------------------------------

struct Hook {
  std::string path;  // absolute, on the host (createContainer/startContainer: in the container)
  std::vector<std::string> args;  // with argv[0]
  std::vector<std::string> env;
  std::optional<int> timeout;  // seconds, > 0
};

struct Hooks {
  std::vector<Hook> prestart;  // deprecated by the spec, still sent
  std::vector<Hook> createRuntime;
  std::vector<Hook> createContainer;
  std::vector<Hook> startContainer;
  std::vector<Hook> poststart;
  std::vector<Hook> poststop;
};

// ---- the whole ----------------------------------------------------------

struct Spec {
  std::string ociVersion;  // "1.x..."
  Process process;         // required by berth (the spec makes it optional until start)
  Root root;
  std::string hostname;
  std::string domainname;
  std::vector<Mount> mounts;  // in order
  // JSON "linux", optional there (all defaults when absent). Not called
  // `linux`: that is a predefined macro in GNU C++ modes.
  Linux linuxSpec;
  Hooks hooks;
  std::map<std::string, std::string> annotations;
};

struct ParseOptions {
  // berth-oci's --systemd-cgroup: linux.cgroupsPath is "slice:prefix:name".
  bool systemdCgroup = false;
};

Result<Spec> parseSpec(std::string_view configJson, const ParseOptions& options = {});
// Reads <bundleDir>/config.json and parses it; root.path becomes absolute
// and lexically clean (a relative one is taken from the bundle, and a
// relative bundleDir from the current directory). Read errors are
// host_refused (not_found for a missing config.json); parseSpec's errors
// come prefixed with the file's path.
Result<Spec> loadBundleSpec(const std::string& bundleDir, const ParseOptions& options = {});

// "CAP_SYS_ADMIN" -> 21, for the capabilities this build knows (0..40).
std::optional<int> capabilityFromName(std::string_view name);
// "RLIMIT_NOFILE" -> RLIMIT_NOFILE.
std::optional<int> rlimitFromName(std::string_view name);

// ---- what every container gets (runtime spec, "Default Devices" and
// "Dev symbolic links") --------------------------------------------------

struct DefaultDevice {
  std::string_view path;
  char type;
  std::uint32_t major;
  std::uint32_t minor;
  std::uint32_t fileMode;
};

// Made (or bind-mounted from the host, in a user namespace) in every
// container's /dev. /dev/console is bound from the terminal's pty when
// process.terminal is set; /dev/ptmx is the symlink below.
inline constexpr DefaultDevice kDefaultDevices[] = {
    {"/dev/null", 'c', 1, 3, 0666},    {"/dev/zero", 'c', 1, 5, 0666},    {"/dev/full", 'c', 1, 7, 0666},
    {"/dev/random", 'c', 1, 8, 0666},  {"/dev/urandom", 'c', 1, 9, 0666}, {"/dev/tty", 'c', 5, 0, 0666},
};

struct DevSymlink {
  std::string_view link;    // made in the container
  std::string_view target;  // what it points to
};

// /dev/core only where the container's /proc has kcore (runc's rule).
inline constexpr DevSymlink kDefaultDevSymlinks[] = {
    {"/dev/fd", "/proc/self/fd"},          {"/dev/stdin", "/proc/self/fd/0"},
    {"/dev/stdout", "/proc/self/fd/1"},    {"/dev/stderr", "/proc/self/fd/2"},
    {"/dev/ptmx", "pts/ptmx"},             {"/dev/core", "/proc/kcore"},
};

}  // namespace berth::oci
