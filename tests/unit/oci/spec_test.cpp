// The bundle's config.json: `runc spec`'s example and a containerd-like
// config read field by field, and bad configs refused with their JSON path.
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "namespaces/security.hpp"
#include "oci/spec.hpp"
#include "support/test_support.hpp"

namespace berth::oci {
namespace {

using nlohmann::json;

constexpr std::uint64_t bit(int cap) { return std::uint64_t{1} << cap; }

// `runc spec` (runc 1.1.5, spec 1.0.2-dev), as it writes it.
constexpr const char* kRuncSpec = R"({
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
})";

// What containerd's CRI plugin writes for a pod's container (shortened),
// with the parts runc spec lacks: cgroupsPath, a seccomp profile with args,
// resources, devices, hooks, annotations, a namespace to join.
constexpr const char* kContainerdSpec = R"({
  "ociVersion": "1.1.0",
  "process": {
    "user": {"uid": 101, "gid": 101, "umask": 18, "additionalGids": [101, 10]},
    "args": ["nginx", "-g", "daemon off;"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NGINX_VERSION=1.25.3"],
    "cwd": "/usr/share/nginx",
    "capabilities": {
      "bounding": ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                   "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                   "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"],
      "effective": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
      "inheritable": [],
      "permitted": ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
      "ambient": null
    },
    "rlimits": [
      {"type": "RLIMIT_NOFILE", "hard": 1048576, "soft": 65536},
      {"type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 0}
    ],
    "noNewPrivileges": true,
    "oomScoreAdj": 1000,
    "apparmorProfile": "cri-containerd.apparmor.d",
    "selinuxLabel": ""
  },
  "root": {"path": "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc123/rootfs"},
  "hostname": "web-0",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
     "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    {"destination": "/etc/hosts", "type": "bind",
     "source": "/var/lib/kubelet/pods/4c3e/etc-hosts", "options": ["rbind", "rprivate", "rw"]},
    {"destination": "/var/run/secrets/kubernetes.io/serviceaccount", "type": "bind",
     "source": "/var/lib/kubelet/pods/4c3e/volumes/kube-api-access", "options": ["rbind", "rro", "rprivate"]},
    {"destination": "/cache", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "rw", "tmpcopyup", "rnoatime"]}
  ],
  "hooks": {
    "createRuntime": [{"path": "/usr/bin/nvidia-ctk", "args": ["nvidia-ctk", "hook"], "env": ["A=1"], "timeout": 5}],
    "poststop": [{"path": "/usr/local/bin/cleanup"}]
  },
  "annotations": {
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.sandbox-id": "f00d"
  },
  "linux": {
    "resources": {
      "devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rw"}
      ],
      "memory": {"limit": 268435456, "reservation": 134217728, "swap": 268435456},
      "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
      "pids": {"limit": 1024},
      "hugepageLimits": [],
      "unified": {"memory.oom.group": "1"}
    },
    "cgroupsPath": "/default/abc123",
    "namespaces": [
      {"type": "pid"},
      {"type": "ipc", "path": "/proc/4242/ns/ipc"},
      {"type": "uts"},
      {"type": "mount"},
      {"type": "network", "path": "/var/run/netns/cni-5e0f"},
      {"type": "cgroup"}
    ],
    "maskedPaths": ["/proc/acpi", "/proc/kcore", "/sys/firmware"],
    "readonlyPaths": ["/proc/bus", "/proc/sys"],
    "sysctl": {"net.ipv4.ip_unprivileged_port_start": "0"},
    "seccomp": {
      "defaultAction": "SCMP_ACT_ERRNO",
      "defaultErrnoRet": 1,
      "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
      "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
      "syscalls": [
        {"names": ["accept4", "read", "write", "openat", "close", "exit_group", "futex", "epoll_wait",
                   "landlock_create_ruleset_from_the_future"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
        {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
         "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
        {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
         "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}]},
        {"names": ["ptrace"], "action": "SCMP_ACT_KILL_PROCESS"}
      ]
    },
    "devices": [
      {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
      {"path": "/dev/loop-control", "type": "c", "major": 10, "minor": 237},
      {"path": "/dev/myfifo", "type": "p"}
    ],
    "rootfsPropagation": "rslave",
    "mountLabel": ""
  },
  "vendor.example.extension": {"anything": ["goes"]}
})";

Spec parsed(std::string_view text, ParseOptions options = {}) {
  auto spec = parseSpec(text, options);
  if (!spec) FAIL(spec.error().describe());
  return std::move(*spec);
}

TEST_CASE("runc spec's example config is read field by field", "[oci]") {
  Spec spec = parsed(kRuncSpec);
  CHECK(spec.ociVersion == "1.0.2-dev");

  const Process& process = spec.process;
  CHECK(process.terminal);
  CHECK_FALSE(process.consoleSize);
  CHECK(process.user.uid == 0);
  CHECK(process.user.gid == 0);
  CHECK_FALSE(process.user.umask);
  CHECK(process.user.additionalGids.empty());
  CHECK(process.args == std::vector<std::string>{"sh"});
  CHECK(process.env == std::vector<std::string>{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                                "TERM=xterm"});
  CHECK(process.cwd == "/");
  REQUIRE(process.capabilities);
  const std::uint64_t three = bit(CAP_AUDIT_WRITE) | bit(CAP_KILL) | bit(CAP_NET_BIND_SERVICE);
  CHECK(process.capabilities->bounding == three);
  CHECK(process.capabilities->effective == three);
  CHECK(process.capabilities->permitted == three);
  CHECK(process.capabilities->ambient == three);
  CHECK(process.capabilities->inheritable == 0);
  REQUIRE(process.rlimits.size() == 1);
  CHECK(process.rlimits[0].type == "RLIMIT_NOFILE");
  CHECK(process.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(process.rlimits[0].hard == 1024);
  CHECK(process.rlimits[0].soft == 1024);
  CHECK(process.noNewPrivileges);
  CHECK_FALSE(process.oomScoreAdj);

  CHECK(spec.root.path == "rootfs");
  CHECK(spec.root.readonly);
  CHECK(spec.hostname == "runc");

  REQUIRE(spec.mounts.size() == 7);
  const Mount& proc = spec.mounts[0];
  CHECK(proc.destination == "/proc");
  CHECK(proc.type == "proc");
  CHECK(proc.source == "proc");
  CHECK(proc.options.empty());
  CHECK(proc.parsed.flags == 0);
  CHECK(proc.parsed.data.empty());
  CHECK_FALSE(proc.isBind());
  const Mount& dev = spec.mounts[1];
  CHECK(dev.parsed.flags == (MS_NOSUID | MS_STRICTATIME));
  CHECK(dev.parsed.data == "mode=755,size=65536k");
  const Mount& pts = spec.mounts[2];
  CHECK(pts.destination == "/dev/pts");
  CHECK(pts.parsed.flags == (MS_NOSUID | MS_NOEXEC));
  CHECK(pts.parsed.data == "newinstance,ptmxmode=0666,mode=0620,gid=5");
  CHECK(spec.mounts[3].parsed.flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV));
  CHECK(spec.mounts[3].parsed.data == "mode=1777,size=65536k");
  CHECK(spec.mounts[4].parsed.data.empty());
  CHECK(spec.mounts[5].parsed.flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY));
  CHECK(spec.mounts[6].destination == "/sys/fs/cgroup");
  CHECK(spec.mounts[6].parsed.flags == (MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME | MS_RDONLY));
  CHECK(spec.mounts[6].parsed.propagation == 0);

  const Linux& linuxSpec = spec.linuxSpec;
  REQUIRE(linuxSpec.resources.devices.size() == 1);
  CHECK_FALSE(linuxSpec.resources.devices[0].allow);
  CHECK(linuxSpec.resources.devices[0].type.empty());
  CHECK_FALSE(linuxSpec.resources.devices[0].major);
  CHECK(linuxSpec.resources.devices[0].access == "rwm");
  CHECK_FALSE(linuxSpec.resources.memory.limit);
  CHECK_FALSE(linuxSpec.resources.cpu.quota);
  CHECK_FALSE(linuxSpec.resources.pids.limit);
  REQUIRE(linuxSpec.namespaces.size() == 5);
  CHECK(linuxSpec.namespaces[0].type == NamespaceType::pid);
  CHECK(linuxSpec.namespaces[1].type == NamespaceType::network);
  CHECK(linuxSpec.namespaces[2].type == NamespaceType::ipc);
  CHECK(linuxSpec.namespaces[3].type == NamespaceType::uts);
  CHECK(linuxSpec.namespaces[4].type == NamespaceType::mount);
  for (const Namespace& entry : linuxSpec.namespaces) CHECK(entry.path.empty());
  CHECK(linuxSpec.hasNamespace(NamespaceType::mount));
  CHECK_FALSE(linuxSpec.hasNamespace(NamespaceType::user));
  CHECK_FALSE(linuxSpec.hasNamespace(NamespaceType::cgroup));
  CHECK(linuxSpec.maskedPaths.size() == 10);
  CHECK(linuxSpec.maskedPaths.front() == "/proc/acpi");
  CHECK(linuxSpec.maskedPaths.back() == "/proc/scsi");
  CHECK(linuxSpec.readonlyPaths == std::vector<std::string>{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                            "/proc/sysrq-trigger"});
  CHECK(linuxSpec.cgroupsPath.empty());
  CHECK(linuxSpec.cgroups.empty());
  CHECK_FALSE(linuxSpec.seccomp);
  CHECK(linuxSpec.devices.empty());
  CHECK(linuxSpec.rootfsPropagation == 0);
  CHECK(linuxSpec.uidMappings.empty());
  CHECK(linuxSpec.sysctl.empty());

  CHECK(spec.hooks.prestart.empty());
  CHECK(spec.hooks.poststop.empty());
  CHECK(spec.annotations.empty());
}

TEST_CASE("a containerd-like config is read field by field", "[oci]") {
  Spec spec = parsed(kContainerdSpec);
  CHECK(spec.ociVersion == "1.1.0");

  const Process& process = spec.process;
  CHECK_FALSE(process.terminal);
  CHECK(process.user.uid == 101);
  CHECK(process.user.gid == 101);
  CHECK(process.user.umask == 18u);
  CHECK(process.user.additionalGids == std::vector<std::uint32_t>{101, 10});
  CHECK(process.args == std::vector<std::string>{"nginx", "-g", "daemon off;"});
  CHECK(process.cwd == "/usr/share/nginx");
  REQUIRE(process.capabilities);
  CHECK(process.capabilities->bounding == ns::defaultCapabilities());
  CHECK(process.capabilities->effective == (bit(CAP_CHOWN) | bit(CAP_NET_BIND_SERVICE)));
  CHECK(process.capabilities->permitted == process.capabilities->effective);
  CHECK(process.capabilities->inheritable == 0);
  CHECK(process.capabilities->ambient == 0);
  REQUIRE(process.rlimits.size() == 2);
  CHECK(process.rlimits[0].resource == RLIMIT_NOFILE);
  CHECK(process.rlimits[0].hard == 1048576);
  CHECK(process.rlimits[0].soft == 65536);
  CHECK(process.rlimits[1].resource == RLIMIT_CORE);
  CHECK(process.rlimits[1].hard == UINT64_MAX);  // RLIM_INFINITY
  CHECK(process.rlimits[1].soft == 0);
  CHECK(process.noNewPrivileges);
  CHECK(process.oomScoreAdj == 1000);
  CHECK(process.apparmorProfile == "cri-containerd.apparmor.d");

  CHECK(spec.root.path == "/run/containerd/io.containerd.runtime.v2.task/k8s.io/abc123/rootfs");
  CHECK_FALSE(spec.root.readonly);
  CHECK(spec.hostname == "web-0");

  REQUIRE(spec.mounts.size() == 6);
  const Mount& hosts = spec.mounts[3];
  CHECK(hosts.destination == "/etc/hosts");
  CHECK(hosts.type == "bind");
  CHECK(hosts.source == "/var/lib/kubelet/pods/4c3e/etc-hosts");
  CHECK(hosts.isBind());
  CHECK(hosts.parsed.flags == (MS_BIND | MS_REC));
  CHECK(hosts.parsed.propagation == (MS_PRIVATE | MS_REC));
  CHECK(hosts.parsed.data.empty());
  const Mount& secrets = spec.mounts[4];
  CHECK(secrets.parsed.flags == (MS_BIND | MS_REC));
  CHECK(secrets.parsed.attrSet == MOUNT_ATTR_RDONLY);
  CHECK(secrets.parsed.attrClear == 0);
  const Mount& cache = spec.mounts[5];
  CHECK(cache.parsed.flags == 0);  // "ro" then "rw"
  CHECK(cache.parsed.tmpcopyup);
  CHECK(cache.parsed.attrSet == MOUNT_ATTR_NOATIME);
  CHECK(cache.parsed.attrClear == MOUNT_ATTR__ATIME);
  CHECK(cache.parsed.data.empty());

  REQUIRE(spec.hooks.createRuntime.size() == 1);
  const Hook& hook = spec.hooks.createRuntime[0];
  CHECK(hook.path == "/usr/bin/nvidia-ctk");
  CHECK(hook.args == std::vector<std::string>{"nvidia-ctk", "hook"});
  CHECK(hook.env == std::vector<std::string>{"A=1"});
  CHECK(hook.timeout == 5);
  REQUIRE(spec.hooks.poststop.size() == 1);
  CHECK(spec.hooks.poststop[0].path == "/usr/local/bin/cleanup");
  CHECK_FALSE(spec.hooks.poststop[0].timeout);
  CHECK(spec.hooks.prestart.empty());
  CHECK(spec.annotations.size() == 2);
  CHECK(spec.annotations.at("io.kubernetes.cri.sandbox-id") == "f00d");

  const Linux& linuxSpec = spec.linuxSpec;
  const Resources& resources = linuxSpec.resources;
  REQUIRE(resources.devices.size() == 3);
  CHECK(resources.devices[1].allow);
  CHECK(resources.devices[1].type == "c");
  CHECK(resources.devices[1].major == 1);
  CHECK(resources.devices[1].minor == 3);
  CHECK(resources.devices[2].major == 136);
  CHECK_FALSE(resources.devices[2].minor);
  CHECK(resources.devices[2].access == "rw");
  CHECK(resources.memory.limit == 268435456);
  CHECK(resources.memory.reservation == 134217728);
  CHECK(resources.memory.swap == 268435456);
  CHECK(resources.cpu.shares == 512u);
  CHECK(resources.cpu.quota == 50000);
  CHECK(resources.cpu.period == 100000u);
  CHECK(resources.cpu.cpus == "0-1");
  CHECK(resources.cpu.mems == "0");
  CHECK(resources.pids.limit == 1024);
  CHECK(resources.unified.at("memory.oom.group") == "1");

  CHECK(linuxSpec.cgroupsPath == "/default/abc123");
  CHECK_FALSE(linuxSpec.cgroups.systemd);
  CHECK(linuxSpec.cgroups.absolute);
  CHECK(linuxSpec.cgroups.path == "/default/abc123");

  REQUIRE(linuxSpec.namespaces.size() == 6);
  const Namespace* network = linuxSpec.findNamespace(NamespaceType::network);
  REQUIRE(network);
  CHECK(network->path == "/var/run/netns/cni-5e0f");
  CHECK(linuxSpec.findNamespace(NamespaceType::ipc)->path == "/proc/4242/ns/ipc");
  CHECK(linuxSpec.findNamespace(NamespaceType::pid)->path.empty());
  CHECK(linuxSpec.hasNamespace(NamespaceType::cgroup));
  CHECK(linuxSpec.sysctl.at("net.ipv4.ip_unprivileged_port_start") == "0");
  CHECK(linuxSpec.rootfsPropagation == (MS_SLAVE | MS_REC));

  REQUIRE(linuxSpec.devices.size() == 3);
  const Device& fuse = linuxSpec.devices[0];
  CHECK(fuse.path == "/dev/fuse");
  CHECK(fuse.type == 'c');
  CHECK(fuse.major == 10);
  CHECK(fuse.minor == 229);
  CHECK(fuse.fileMode == 0666u);
  CHECK(fuse.uid == 0u);
  CHECK(fuse.gid == 0u);
  CHECK_FALSE(linuxSpec.devices[1].fileMode);
  CHECK(linuxSpec.devices[2].type == 'p');

  REQUIRE(linuxSpec.seccomp);
  const ns::SeccompProfile& seccomp = *linuxSpec.seccomp;
  CHECK(seccomp.defaultAction == ns::SeccompAction::returnErrno);
  CHECK(seccomp.defaultErrnoRet == 1u);
  CHECK(seccomp.architectures ==
        std::vector<ns::SeccompArch>{ns::SeccompArch::x86_64, ns::SeccompArch::x86, ns::SeccompArch::x32});
  CHECK(seccomp.filterFlags == 4u);  // SECCOMP_FILTER_FLAG_SPEC_ALLOW
  REQUIRE(seccomp.syscalls.size() == 5);
  CHECK(seccomp.syscalls[0].names.size() == 9);
  CHECK(seccomp.syscalls[0].action == ns::SeccompAction::allow);
  CHECK(seccomp.syscalls[0].args.empty());
  const ns::SeccompRule& clone = seccomp.syscalls[2];
  CHECK(clone.names == std::vector<std::string>{"clone"});
  REQUIRE(clone.args.size() == 1);
  CHECK(clone.args[0].index == 0);
  CHECK(clone.args[0].value == 2114060288u);
  CHECK(clone.args[0].valueTwo == 0);
  CHECK(clone.args[0].op == ns::SeccompOp::maskedEqual);
  const ns::SeccompRule& socket = seccomp.syscalls[3];
  CHECK(socket.action == ns::SeccompAction::returnErrno);
  CHECK(socket.errnoRet == 97u);
  CHECK(socket.args[0].op == ns::SeccompOp::equal);
  CHECK(seccomp.syscalls[4].action == ns::SeccompAction::killProcess);

  // The profile compiles (the made-up syscall name is skipped).
  auto program = ns::compileSeccompProfile(seccomp);
  REQUIRE(program);
  CHECK_FALSE(program->empty());
}

TEST_CASE("resources convert to berth's cgroup limits", "[oci]") {
  Spec spec = parsed(kContainerdSpec);
  cgroup::Limits limits = limitsOf(spec.linuxSpec.resources);
  CHECK(limits.memoryBytes == 268435456u);
  CHECK(limits.cpuMillicores == 500u);
  CHECK(limits.pidsMax == 1024u);

  CHECK_FALSE(limitsOf(Resources{}).memoryBytes);
  CHECK_FALSE(limitsOf(Resources{}).cpuMillicores);
  CHECK_FALSE(limitsOf(Resources{}).pidsMax);

  Resources unlimited;
  unlimited.memory.limit = -1;
  unlimited.cpu.quota = -1;
  unlimited.pids.limit = -1;
  CHECK(limitsOf(unlimited).memoryBytes == 0u);
  CHECK(limitsOf(unlimited).cpuMillicores == 0u);
  CHECK(limitsOf(unlimited).pidsMax == 0u);

  Resources zero;  // 0 reads as unset, as runc does
  zero.memory.limit = 0;
  zero.pids.limit = 0;
  CHECK_FALSE(limitsOf(zero).memoryBytes);
  CHECK_FALSE(limitsOf(zero).pidsMax);

  Resources cpu;
  cpu.cpu.quota = 150000;  // no period: 100 ms
  CHECK(limitsOf(cpu).cpuMillicores == 1500u);
  cpu.cpu.period = 0;
  CHECK(limitsOf(cpu).cpuMillicores == 1500u);
  cpu.cpu.quota = 25000;
  cpu.cpu.period = 50000;
  CHECK(limitsOf(cpu).cpuMillicores == 500u);
  cpu.cpu.quota = 1;  // rounds up: still a limit
  cpu.cpu.period = 1000000;
  CHECK(limitsOf(cpu).cpuMillicores == 1u);
  cpu.cpu.quota = 1001;
  cpu.cpu.period = 1000000;
  CHECK(limitsOf(cpu).cpuMillicores == 2u);
  cpu.cpu.quota = INT64_MAX;
  cpu.cpu.period = 1000;
  CHECK(limitsOf(cpu).cpuMillicores == UINT32_MAX);
}

TEST_CASE("cgroupsPath reads as cgroupfs and systemd paths", "[oci]") {
  auto plain = parseCgroupsPath("/default/abc", false);
  REQUIRE(plain);
  CHECK(plain->absolute);
  CHECK(plain->path == "/default/abc");
  auto messy = parseCgroupsPath("//kubepods//burstable/pod1/", false);
  REQUIRE(messy);
  CHECK(messy->path == "/kubepods/burstable/pod1");
  auto relative = parseCgroupsPath("mine/abc", false);
  REQUIRE(relative);
  CHECK_FALSE(relative->absolute);
  CHECK(relative->path == "mine/abc");
  auto none = parseCgroupsPath("", false);
  REQUIRE(none);
  CHECK(none->empty());
  CHECK_FALSE(parseCgroupsPath("/default/../escape", false));
  CHECK_FALSE(parseCgroupsPath("./x", false));
  CHECK_FALSE(parseCgroupsPath("/", false));

  auto unit = parseCgroupsPath("kubepods-besteffort.slice:cri-containerd:abc", true);
  REQUIRE(unit);
  CHECK(unit->systemd);
  CHECK(unit->slice == "kubepods-besteffort.slice");
  CHECK(unit->prefix == "cri-containerd");
  CHECK(unit->name == "abc");
  CHECK(unit->unitName() == "cri-containerd-abc.scope");
  auto noSlice = parseCgroupsPath(":berth:abc", true);
  REQUIRE(noSlice);
  CHECK(noSlice->slice.empty());
  auto slice = parseCgroupsPath("system.slice::child.slice", true);
  REQUIRE(slice);
  CHECK(slice->unitName() == "child.slice");
  CHECK(parseCgroupsPath("system.slice::abc", true)->unitName() == "abc.scope");

  for (const char* badPath : {"abc", "a.slice:b", "a.slice:b:c:d", "system:berth:abc", "a.slice:b:", "/x.slice:b:c"}) {
    INFO(badPath);
    auto result = parseCgroupsPath(badPath, true);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::invalid_argument);
  }
}

TEST_CASE("mount options translate as runc's table does", "[oci]") {
  MountOptions options = translateMountOptions({"nosuid", "nodev", "noexec", "ro", "rbind", "rslave", "size=1m",
                                                "", "mode=700"});
  CHECK(options.flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY | MS_BIND | MS_REC));
  CHECK(options.propagation == (MS_SLAVE | MS_REC));
  CHECK(options.data == "size=1m,mode=700");
  CHECK_FALSE(options.tmpcopyup);

  CHECK(translateMountOptions({"ro", "rw"}).flags == 0);
  CHECK(translateMountOptions({"nosuid", "suid", "dev", "exec"}).flags == 0);
  CHECK(translateMountOptions({"sync", "dirsync", "remount", "mand"}).flags ==
        (MS_SYNCHRONOUS | MS_DIRSYNC | MS_REMOUNT | MS_MANDLOCK));
  CHECK(translateMountOptions({"sync", "async", "mand", "nomand"}).flags == 0);
  CHECK(translateMountOptions({"noatime", "nodiratime"}).flags == (MS_NOATIME | MS_NODIRATIME));
  CHECK(translateMountOptions({"noatime", "atime", "nodiratime", "diratime"}).flags == 0);
  CHECK(translateMountOptions({"relatime", "norelatime", "strictatime", "nostrictatime"}).flags == 0);
  CHECK(translateMountOptions({"bind"}).flags == MS_BIND);
  CHECK(translateMountOptions({"private"}).propagation == MS_PRIVATE);
  CHECK(translateMountOptions({"shared"}).propagation == MS_SHARED);
  CHECK(translateMountOptions({"rshared"}).propagation == (MS_SHARED | MS_REC));
  CHECK(translateMountOptions({"slave"}).propagation == MS_SLAVE);
  CHECK(translateMountOptions({"unbindable"}).propagation == MS_UNBINDABLE);
  CHECK(translateMountOptions({"runbindable"}).propagation == (MS_UNBINDABLE | MS_REC));
  CHECK(translateMountOptions({"rprivate", "shared"}).propagation == MS_SHARED);
  CHECK(translateMountOptions({"tmpcopyup"}).tmpcopyup);
  CHECK(translateMountOptions({"rro", "rrw"}).attrSet == 0);
  CHECK(translateMountOptions({"rro", "rrw"}).attrClear == MOUNT_ATTR_RDONLY);
  CHECK(translateMountOptions({"rnosuid", "rnodev"}).attrSet == (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV));
  MountOptions atime = translateMountOptions({"rnoatime", "rstrictatime"});
  CHECK(atime.attrSet == MOUNT_ATTR_STRICTATIME);
  CHECK(atime.attrClear == MOUNT_ATTR__ATIME);
  // Options the table does not know go to the filesystem, even lookalikes.
  CHECK(translateMountOptions({"lowerdir=/a", "upperdir=/b", "idmap", "RO"}).data ==
        "lowerdir=/a,upperdir=/b,idmap,RO");
}

TEST_CASE("name tables cover the kernel's capabilities and rlimits", "[oci]") {
  CHECK(capabilityFromName("CAP_CHOWN") == 0);
  CHECK(capabilityFromName("CAP_SYS_ADMIN") == CAP_SYS_ADMIN);
  CHECK(capabilityFromName("CAP_BPF") == CAP_BPF);
  CHECK(capabilityFromName("CAP_CHECKPOINT_RESTORE") == CAP_LAST_CAP);
  CHECK_FALSE(capabilityFromName("CAP_FOO"));
  CHECK_FALSE(capabilityFromName("SYS_ADMIN"));
  CHECK(rlimitFromName("RLIMIT_NOFILE") == RLIMIT_NOFILE);
  CHECK(rlimitFromName("RLIMIT_RTTIME") == RLIMIT_RTTIME);
  CHECK_FALSE(rlimitFromName("RLIMIT_FOO"));
  CHECK(namespaceTypeFromName("network") == NamespaceType::network);
  CHECK(namespaceTypeName(NamespaceType::time) == "time");
  CHECK_FALSE(namespaceTypeFromName("net"));
  CHECK(cloneFlagOf(NamespaceType::network) == CLONE_NEWNET);
  CHECK(cloneFlagOf(NamespaceType::mount) == CLONE_NEWNS);
  CHECK(cloneFlagOf(NamespaceType::time) == CLONE_NEWTIME);
}

TEST_CASE("the default devices and /dev links are the runtime spec's", "[oci]") {
  CHECK(std::size(kDefaultDevices) == 6);
  CHECK(kDefaultDevices[0].path == "/dev/null");
  CHECK(kDefaultDevices[0].major == 1);
  CHECK(kDefaultDevices[0].minor == 3);
  CHECK(kDefaultDevices[5].path == "/dev/tty");
  CHECK(kDefaultDevices[5].major == 5);
  for (const DefaultDevice& device : kDefaultDevices) {
    CHECK(device.type == 'c');
    CHECK(device.fileMode == 0666);
  }
  bool ptmx = false;
  for (const DevSymlink& link : kDefaultDevSymlinks) {
    if (link.link == "/dev/ptmx") ptmx = link.target == "pts/ptmx";
  }
  CHECK(ptmx);
}

// ---- bad configs ----------------------------------------------------------

struct BadCase {
  const char* what;
  const char* pointer;  // a JSON pointer into the runc example
  json value;           // set there; a discarded value removes the field
  const char* message;  // the whole error message
};

json removed() { return json(json::value_t::discarded); }

std::string mutated(const char* pointer, const json& value) {
  json doc = json::parse(kRuncSpec);
  const json::json_pointer at(pointer);
  if (value.is_discarded()) {
    doc[at.parent_pointer()].erase(at.back());
  } else {
    doc[at] = value;
  }
  return doc.dump();
}

TEST_CASE("bad configs are refused with the JSON path of the fault", "[oci]") {
  const BadCase cases[] = {
      {"bad ociVersion", "/ociVersion", "2.0.0", "ociVersion: unsupported version \"2.0.0\" (berth reads 1.x)"},
      {"ociVersion of the wrong type", "/ociVersion", 1, "ociVersion: expected a string, got number"},
      {"no ociVersion", "/ociVersion", removed(), "ociVersion: is required"},
      {"no process", "/process", removed(), "process: is required"},
      {"terminal as a string", "/process/terminal", "yes", "process.terminal: expected a boolean, got string"},
      {"args as a string", "/process/args", "sh", "process.args: expected an array, got string"},
      {"an arg as a number", "/process/args/0", 7, "process.args[0]: expected a string, got number"},
      {"empty args", "/process/args", json::array(), "process.args: must not be empty"},
      {"relative cwd", "/process/cwd", "srv", "process.cwd: must be absolute, got \"srv\""},
      {"no cwd", "/process/cwd", removed(), "process.cwd: is required"},
      {"negative uid", "/process/user/uid", -1,
       "process.user.uid: expected an integer in 0..4294967295, got -1"},
      {"fractional gid", "/process/user/gid", 1.5,
       "process.user.gid: expected an integer in 0..4294967295, got 1.5"},
      {"uid above 32 bits", "/process/user/uid", 4294967296ULL,
       "process.user.uid: expected an integer in 0..4294967295, got 4294967296"},
      {"unknown capability", "/process/capabilities/bounding/2", "CAP_FOO",
       "process.capabilities.bounding[2]: unknown capability CAP_FOO"},
      {"capability set as an object", "/process/capabilities/effective", json::object(),
       "process.capabilities.effective: expected an array, got object"},
      {"unknown rlimit", "/process/rlimits/0/type", "RLIMIT_FOO", "process.rlimits[0].type: unknown rlimit RLIMIT_FOO"},
      {"soft above hard", "/process/rlimits/0/soft", 4096,
       "process.rlimits[0]: soft limit 4096 is above the hard limit 1024"},
      {"negative rlimit", "/process/rlimits/0/hard", -1,
       "process.rlimits[0].hard: expected an integer in 0..18446744073709551615, got -1"},
      {"duplicate rlimit", "/process/rlimits/1", {{"type", "RLIMIT_NOFILE"}, {"hard", 1}, {"soft", 1}},
       "process.rlimits[1]: duplicate rlimit RLIMIT_NOFILE"},
      {"oomScoreAdj out of range", "/process/oomScoreAdj", 1001,
       "process.oomScoreAdj: must be in -1000..1000, got 1001"},
      {"no root", "/root", removed(), "root: is required"},
      {"empty root path", "/root/path", "", "root.path: must not be empty"},
      {"readonly as a number", "/root/readonly", 1, "root.readonly: expected a boolean, got number"},
      {"relative mount destination", "/mounts/2/destination", "dev/pts",
       "mounts[2].destination: must be absolute, got \"dev/pts\""},
      {"mount options as a string", "/mounts/1/options", "nosuid",
       "mounts[1].options: expected an array, got string"},
      {"mounts as an object", "/mounts", json::object(), "mounts: expected an array, got object"},
      {"duplicate namespace", "/linux/namespaces/4/type", "pid", "linux.namespaces[4].type: duplicate namespace pid"},
      {"unknown namespace", "/linux/namespaces/1/type", "net",
       "linux.namespaces[1].type: unknown namespace type \"net\""},
      {"relative namespace path", "/linux/namespaces/1/path", "netns/x",
       "linux.namespaces[1].path: must be absolute, got \"netns/x\""},
      {"hostname without uts", "/linux/namespaces/3", {{"type", "cgroup"}},
       "hostname: needs a uts namespace in linux.namespaces"},
      {"uid mappings without a user namespace", "/linux/uidMappings",
       json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}}),
       "linux.uidMappings: needs a user namespace"},
      {"relative masked path", "/linux/maskedPaths/0", "proc/acpi",
       "linux.maskedPaths[0]: must be absolute, got \"proc/acpi\""},
      {"device rule of a bad type", "/linux/resources/devices/0/type", "x",
       "linux.resources.devices[0].type: expected \"a\", \"c\" or \"b\", got \"x\""},
      {"device rule with bad access", "/linux/resources/devices/0/access", "rwx",
       "linux.resources.devices[0].access: expected some of \"rwm\", got \"rwx\""},
      {"memory limit as a string", "/linux/resources/memory", {{"limit", "1G"}},
       "linux.resources.memory.limit: expected an integer in -9223372036854775808..9223372036854775807, got string"},
      {"pids without a limit", "/linux/resources/pids", json::object(), "linux.resources.pids.limit: is required"},
      {"cgroupsPath as a number", "/linux/cgroupsPath", 5, "linux.cgroupsPath: expected a string, got number"},
      {"cgroupsPath escaping", "/linux/cgroupsPath", "/default/../../x",
       "linux.cgroupsPath: \"/default/../../x\": \"..\" is not allowed in a cgroups path"},
      {"sysctl value as a number", "/linux/sysctl", {{"net.ipv4.ip_forward", 1}},
       "linux.sysctl[\"net.ipv4.ip_forward\"]: expected a string, got number"},
      {"device of a bad type", "/linux/devices", json::array({{{"path", "/dev/x"}, {"type", "z"}}}),
       "linux.devices[0].type: expected \"c\", \"b\", \"u\" or \"p\", got \"z\""},
      {"char device without major", "/linux/devices", json::array({{{"path", "/dev/x"}, {"type", "c"}, {"minor", 1}}}),
       "linux.devices[0].major: is required"},
      {"unknown rootfsPropagation", "/linux/rootfsPropagation", "sideways",
       "linux.rootfsPropagation: unknown propagation \"sideways\""},
      {"seccomp without defaultAction", "/linux/seccomp", json::object(), "linux.seccomp.defaultAction: is required"},
      {"unknown seccomp action", "/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls", json::array({{{"names", {"getpid"}}, {"action", "SCMP_ACT_FOO"}}})}},
       "linux.seccomp.syscalls[0].action: unknown seccomp action SCMP_ACT_FOO"},
      {"unknown seccomp architecture", "/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"}, {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_VAX"}}},
       "linux.seccomp.architectures[1]: unknown seccomp architecture SCMP_ARCH_VAX"},
      {"unknown seccomp operator", "/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls", json::array({{{"names", {"dup"}}, {"action", "SCMP_ACT_ERRNO"},
                                   {"args", json::array({{{"index", 0}, {"value", 1}, {"op", "SCMP_CMP_ABOUT"}}})}}})}},
       "linux.seccomp.syscalls[0].args[0].op: unknown seccomp operator SCMP_CMP_ABOUT"},
      {"seccomp arg index out of range", "/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls", json::array({{{"names", {"dup"}}, {"action", "SCMP_ACT_ERRNO"},
                                   {"args", json::array({{{"index", 6}, {"value", 1}, {"op", "SCMP_CMP_EQ"}}})}}})}},
       "linux.seccomp.syscalls[0].args[0].index: must be in 0..5, got 6"},
      {"seccomp rule without names", "/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"},
        {"syscalls", json::array({{{"names", json::array()}, {"action", "SCMP_ACT_LOG"}}})}},
       "linux.seccomp.syscalls[0].names: must not be empty"},
      {"unknown seccomp flag", "/linux/seccomp",
       {{"defaultAction", "SCMP_ACT_ALLOW"}, {"flags", {"SECCOMP_FILTER_FLAG_X"}}},
       "linux.seccomp.flags[0]: unknown seccomp flag SECCOMP_FILTER_FLAG_X"},
      {"relative hook path", "/hooks", {{"poststop", json::array({{{"path", "cleanup"}}})}},
       "hooks.poststop[0].path: must be absolute, got \"cleanup\""},
      {"hook timeout of 0", "/hooks", {{"prestart", json::array({{{"path", "/bin/true"}, {"timeout", 0}}})}},
       "hooks.prestart[0].timeout: must be above 0, got 0"},
      {"annotations as an array", "/annotations", json::array(), "annotations: expected an object, got array"},
      {"annotation value as a bool", "/annotations", {{"a", true}}, "annotations[\"a\"]: expected a string, got boolean"},
      {"linux as an array", "/linux", json::array(), "linux: expected an object, got array"},
  };
  for (const BadCase& bad : cases) {
    INFO(bad.what);
    auto spec = parseSpec(mutated(bad.pointer, bad.value));
    REQUIRE_FALSE(spec);
    CHECK(spec.error().code == Errc::invalid_argument);
    CHECK(spec.error().message == bad.message);
  }
}

TEST_CASE("a cgroupsPath is read for the cgroup driver in use", "[oci]") {
  ParseOptions systemd{.systemdCgroup = true};
  auto good = parseSpec(mutated("/linux/cgroupsPath", "system.slice:berth:abc"), systemd);
  REQUIRE(good);
  CHECK(good->linuxSpec.cgroups.systemd);
  CHECK(good->linuxSpec.cgroups.unitName() == "berth-abc.scope");

  auto cgroupfsPath = parseSpec(mutated("/linux/cgroupsPath", "/default/abc"), systemd);
  REQUIRE_FALSE(cgroupfsPath);
  CHECK(cgroupfsPath.error().message ==
        "linux.cgroupsPath: \"/default/abc\" is not of the form slice:prefix:name");
  auto badSlice = parseSpec(mutated("/linux/cgroupsPath", "system:berth:abc"), systemd);
  REQUIRE_FALSE(badSlice);
  CHECK(badSlice.error().message ==
        "linux.cgroupsPath: \"system:berth:abc\": the slice \"system\" does not end in .slice");

  // The same text under cgroupfs is a relative path.
  auto literal = parseSpec(mutated("/linux/cgroupsPath", "system.slice:berth:abc"));
  REQUIRE(literal);
  CHECK(literal->linuxSpec.cgroups.path == "system.slice:berth:abc");
}

TEST_CASE("what config.json may leave out or add", "[oci]") {
  // Unknown fields at any level are extensions; nulls read as absent.
  json doc = json::parse(kRuncSpec);
  doc["org.example.extension"] = {{"x", 1}};
  doc["process"]["futureField"] = json::array();
  doc["process"]["capabilities"] = nullptr;
  doc["linux"]["resources"]["blockIO"] = {{"weight", 10}};
  doc["linux"]["intelRdt"] = {{"closID", "x"}};
  doc["linux"]["namespaces"].push_back({{"type", "user"}});
  doc["linux"]["uidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  doc["linux"]["gidMappings"] = json::array({{{"containerID", 0}, {"hostID", 100000}, {"size", 65536}}});
  doc["process"]["consoleSize"] = {{"height", 24}, {"width", 80}};
  auto spec = parseSpec(doc.dump());
  REQUIRE(spec);
  CHECK_FALSE(spec->process.capabilities);
  REQUIRE(spec->process.consoleSize);
  CHECK(spec->process.consoleSize->width == 80);
  REQUIRE(spec->linuxSpec.uidMappings.size() == 1);
  CHECK(spec->linuxSpec.uidMappings[0].hostID == 100000);
  CHECK(spec->linuxSpec.gidMappings[0].size == 65536);

  // No linux section at all, and no hostname to need a uts namespace.
  doc = json::parse(kRuncSpec);
  doc.erase("linux");
  doc.erase("hostname");
  spec = parseSpec(doc.dump());
  REQUIRE(spec);
  CHECK(spec->linuxSpec.namespaces.empty());

  CHECK(parseSpec("{").error().message == "config.json is not valid JSON");
  CHECK(parseSpec("[]").error().message == "config.json: expected an object, got array");
}

TEST_CASE("a bundle's config.json is read and its root resolved", "[oci]") {
  testing::TempDir bundle("berth-oci-spec");
  {
    std::ofstream out(bundle.sub("config.json"));
    out << kRuncSpec;
  }
  auto spec = loadBundleSpec(bundle.path() + "/");
  REQUIRE(spec);
  CHECK(spec->root.path == bundle.path() + "/rootfs");
  CHECK(spec->process.args == std::vector<std::string>{"sh"});

  {
    std::ofstream out(bundle.sub("config.json"));
    out << mutated("/root/path", "./images/../rootfs2/");
  }
  spec = loadBundleSpec(bundle.path());
  REQUIRE(spec);
  CHECK(spec->root.path == bundle.path() + "/rootfs2");

  {
    std::ofstream out(bundle.sub("config.json"));
    out << mutated("/root/path", "/srv/rootfs");
  }
  spec = loadBundleSpec(bundle.path());
  REQUIRE(spec);
  CHECK(spec->root.path == "/srv/rootfs");

  {
    std::ofstream out(bundle.sub("config.json"));
    out << mutated("/process/cwd", "relative");
  }
  auto bad = loadBundleSpec(bundle.path());
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == Errc::invalid_argument);
  CHECK_THAT(bad.error().message, Catch::EndsWith("config.json: process.cwd: must be absolute, got \"relative\""));

  auto missing = loadBundleSpec(bundle.sub("nothing-here"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
}


TEST_CASE("linux.resources.devices become device cgroup rules, the default allow list after them", "[oci]") {
  Resources resources;
  resources.devices = {DeviceRule{false, "", std::nullopt, std::nullopt, "rwm"},
                       DeviceRule{true, "c", 10, 229, "rw"},
                       DeviceRule{true, "b", -1, -1, ""}};
  const std::vector<cgroup::DeviceRule> rules = deviceRulesOf(resources);
  const std::vector<cgroup::DeviceRule>& defaults = cgroup::defaultDeviceRules();
  REQUIRE(rules.size() == 3 + defaults.size());
  CHECK(cgroup::v1RuleLine(rules[0]) == "a");
  CHECK_FALSE(rules[0].allow);
  CHECK(cgroup::v1RuleLine(rules[1]) == "c 10:229 rw");
  CHECK(cgroup::v1RuleLine(rules[2]) == "b *:* rwm");  // -1 is any; no access is all of it
  const cgroup::DevicePolicy policy = cgroup::reduceDeviceRules(rules);
  CHECK(cgroup::policyAllows(policy, 'c', 10, 229, cgroup::kDeviceWrite));
  CHECK_FALSE(cgroup::policyAllows(policy, 'c', 10, 229, cgroup::kDeviceMknod | cgroup::kDeviceRead));
  CHECK(cgroup::policyAllows(policy, 'c', 1, 3, cgroup::kDeviceRead));  // the defaults still hold
  CHECK_FALSE(cgroup::policyAllows(policy, 'c', 10, 237, cgroup::kDeviceRead));

  // None given: the default alone.
  CHECK(deviceRulesOf(Resources{}).size() == defaults.size());

  for (const char* bad : {R"({"allow": true, "type": "c", "major": -2})", R"({"allow": true, "minor": 4294967296})"}) {
    const std::string config = std::string(R"({"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
      "linux": {"resources": {"devices": [)") + bad + "]}}}";
    auto spec = parseSpec(config);
    INFO(bad);
    REQUIRE_FALSE(spec);
    CHECK(spec.error().code == Errc::invalid_argument);
    INFO(spec.error().message);
    CHECK(spec.error().message.find("linux.resources.devices[0].m") != std::string::npos);
  }
}

}  // namespace
}  // namespace berth::oci
