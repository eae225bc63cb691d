// Proof of the container side of the security defaults (issue 6), from
// inside: tests/probe/escape_probe, a static program, is copied into the
// container's writable layer and run as its command. It tries each way out
// (mounts, namespaces, modules, kexec, reboot, bpf, perf, keyrings, ptrace,
// other processes' memory, handle-based opens, port I/O, accounting, clocks,
// swap, masked /proc files, read-only /proc/sys and /sys, host disks, device
// nodes, capabilities, host pids) and prints one line per action; every one
// must be refused, and refused the expected way: a call refused for a bad
// argument (EFAULT, EINVAL, EBADF) got past the filter and the capability
// checks, which proves nothing, so each action's errno is checked.
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "common/unique_fd.hpp"
#include "kernel/namespaces/ns_fixture.hpp"
#include "namespaces/security.hpp"

namespace berth::ns::testing {
namespace {

const std::string kProbe = BERTH_BUILD_DIR "/tests/probe/escape_probe";

// What each action must come to. Several outcomes where the host decides:
// a masked file the running kernel does not have at all is absent (ENOENT)
// rather than empty.
const std::map<std::string, std::set<std::string>>& expectedOutcomes() {
  static const std::map<std::string, std::set<std::string>> expected = {
      // The seccomp filter answers EPERM before any argument is looked at.
      {"mount-tmpfs", {"refused:EPERM"}},
      {"pivot_root", {"refused:EPERM"}},
      {"fsopen", {"refused:EPERM"}},
      {"open_tree-clone", {"refused:EPERM"}},
      {"unshare-user", {"refused:EPERM"}},
      {"unshare-mount", {"refused:EPERM"}},
      {"clone-newuser", {"refused:EPERM"}},
      {"clone3-newuser", {"refused:ENOSYS"}},  // clone3 as a whole; glibc falls back to clone
      {"setns-mount", {"refused:EPERM"}},
      {"init_module", {"refused:EPERM"}},
      {"finit_module", {"refused:EPERM"}},
      {"delete_module", {"refused:EPERM"}},
      {"kexec_load", {"refused:EPERM"}},
      {"kexec_file_load", {"refused:EPERM"}},
      {"reboot", {"refused:EPERM"}},
      {"swapon", {"refused:EPERM"}},
      {"swapoff", {"refused:EPERM"}},
      {"acct", {"refused:EPERM"}},
      {"iopl", {"refused:EPERM"}},
      {"ioperm", {"refused:EPERM"}},
      {"clock_settime", {"refused:EPERM"}},
      {"settimeofday", {"refused:EPERM"}},
      {"syslog-read", {"refused:EPERM"}},
      {"bpf-prog-load", {"refused:EPERM"}},
      {"perf_event_open", {"refused:EPERM"}},
      {"userfaultfd", {"refused:EPERM"}},
      {"keyctl", {"refused:EPERM"}},
      {"add_key", {"refused:EPERM"}},
      {"request_key", {"refused:EPERM"}},
      {"ptrace-attach-child", {"refused:EPERM"}},
      {"process_vm_readv", {"refused:EPERM"}},
      {"process_vm_writev", {"refused:EPERM"}},
      {"open_by_handle_at", {"refused:EPERM"}},
      {"name_to_handle_at", {"refused:EPERM"}},
      // Masked with /dev/null: opens, reads nothing.
      {"read-/proc/kcore", {"refused:read-0-bytes", "refused:ENOENT"}},
      {"read-/proc/keys", {"refused:read-0-bytes", "refused:ENOENT"}},
      {"read-/proc/timer_list", {"refused:read-0-bytes", "refused:ENOENT"}},
      // No CAP_SYSLOG: kernel addresses read as zeros.
      {"kallsyms-addresses", {"refused:addresses-zeroed", "refused:ENOENT"}},
      // Read-only bind mounts (/proc/sys, /proc/sysrq-trigger) and a read-only sysfs.
      {"write-/proc/sys/kernel/hostname", {"refused:EROFS"}},
      {"write-/proc/sysrq-trigger", {"refused:EROFS", "refused:ENOENT"}},
      {"write-/sys/kernel", {"refused:EROFS", "refused:ENOENT"}},
      // /dev holds only the minimal nodes.
      {"open-/dev/sda", {"refused:ENOENT"}},
      {"open-/dev/vda", {"refused:ENOENT"}},
      {"open-/dev/nvme0n1", {"refused:ENOENT"}},
      {"open-/dev/loop0", {"refused:ENOENT"}},
      // CAP_MKNOD is in the default set, so mknod itself succeeds; every
      // writable mount is nodev (EACCES on open) or devpts (no mknod at all).
      {"mknod-host-disk+open-in-/tmp", {"refused:EACCES"}},
      {"mknod-host-disk+open-in-/dev", {"refused:EACCES"}},
      {"mknod-host-disk+open-in-/dev/shm", {"refused:EACCES"}},
      {"mknod-host-disk+open-in-/dev/pts", {"refused:EPERM"}},  // devpts makes no nodes
      {"mknod-/dev/mem+open-in-/tmp", {"refused:EACCES"}},
      // A mount without nodev (a tmpfs the runner made): the device cgroup
      // refuses the open (EPERM), the node itself is made.
      {"mknod-host-disk+open-in-/dev-mount", {"refused:EPERM"}},
      {"mknod-/dev/mem+open-in-/dev-mount", {"refused:EPERM"}},
      // Not in the bounding set, so not in permitted: capset cannot add it.
      {"capset-sys_admin", {"refused:EPERM"}},
      // A pid of the host's is not in the container's pid namespace.
      {"kill-host-pid", {"refused:ESRCH"}},
      {"umount2-/proc", {"refused:EPERM"}},
  };
  return expected;
}

// In a user namespace CAP_MKNOD counts for nothing: mknod itself is refused;
// and /proc/sys belongs to host root, whom the namespace does not map: a
// write is refused for permission before the read-only mount is reached.
const std::map<std::string, std::set<std::string>>& expectedInUserNamespace() {
  static const std::map<std::string, std::set<std::string>> expected = [] {
    auto outcomes = expectedOutcomes();
    for (auto& [name, allowed] : outcomes)
      if (name.starts_with("mknod-")) allowed = {"refused:EPERM"};
    outcomes["write-/proc/sys/kernel/hostname"] = {"refused:EROFS", "refused:EACCES"};
    return outcomes;
  }();
  return expected;
}

// "<major>:<minor>" of a block device of the host's that this test itself
// can open read-only (a node for it refused inside then proves the wall is
// the container's): the first such entry of /proc/partitions, else loop0.
// Some hosts refuse even root an open of their own disk (a VM's sandbox
// does here); then the next device that opens stands in for it.
std::string hostDisk() {
  std::vector<std::string> names;
  std::ifstream partitions("/proc/partitions");
  std::string line;
  while (std::getline(partitions, line)) {
    unsigned major = 0, minor = 0;
    unsigned long long blocks = 0;
    char name[64];
    if (std::sscanf(line.c_str(), " %u %u %llu %63s", &major, &minor, &blocks, name) == 4 && major != 0)
      names.emplace_back(name);
  }
  names.emplace_back("loop0");
  for (const std::string& name : names) {
    const std::string path = "/dev/" + name;
    struct stat node {};
    if (::stat(path.c_str(), &node) != 0 || !S_ISBLK(node.st_mode)) continue;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) continue;
    return std::to_string(major(node.st_rdev)) + ":" + std::to_string(minor(node.st_rdev));
  }
  return "";
}

// The device cgroup a probe box runs in: berth's (the host's kind: v1
// devices here), an eBPF program on a cgroup2 group (what a pure v2 host
// gets; cgroup-bpf works on this host's v2 tree too), or none (the control).
enum class DeviceCgroup { host, ebpf, none };

// A sandbox with the probe at /probe in its writable layer, a tmpfs without
// nodev at /dev-mount, in a cgroup of its own with berth's device policy;
// with a map, in a user namespace whose root owns the layer.
class ProbeBox {
 public:
  explicit ProbeBox(DeviceCgroup devices = DeviceCgroup::host,
                    std::optional<UserNamespaceMap> userNamespace = std::nullopt)
      : root_(berth::testing::uniqueCgroupRoot()), userNamespace_(userNamespace) {
    auto probe = readFile(kProbe);
    if (!probe) FAIL("the probe is not built: " << probe.error().describe());
    REQUIRE(writeFileAtomic(box_.upper() + "/probe", *probe, 0755));
    if (userNamespace_)
      for (const std::string& path : {box_.upper(), box_.dir().sub("work"), box_.upper() + "/probe"})
        REQUIRE(::chown(path.c_str(), userNamespace_->hostUid, userNamespace_->hostGid) == 0);
    if (devices == DeviceCgroup::none) return;
    auto driver = devices == DeviceCgroup::host
                      ? cgroup::Driver::detect(root_)
                      : cgroup::Driver::create(cgroup::Mounts{cgroup::Layout::unified, "/sys/fs/cgroup/unified"}, root_);
    REQUIRE(driver);
    driver_.emplace(std::move(*driver));
    auto group = driver_->createGroup("probe");
    if (!group) FAIL(group.error().describe());
    group_.emplace(std::move(*group).commit());
  }
  ~ProbeBox() {
    if (group_) {
      (void)group_->killAll(std::chrono::seconds(5));
      auto destroyed = group_->destroy();
      if (!destroyed) std::fprintf(stderr, "probe group: %s\n", destroyed.error().describe().c_str());
    }
    if (driver_) (void)driver_->removeRoot();
    CHECK(berth::testing::leftoverCgroups(root_).empty());
  }
  ProbeBox(const ProbeBox&) = delete;
  ProbeBox& operator=(const ProbeBox&) = delete;

  const Sandbox& sandbox() const { return box_; }
  RunResult probe(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{"/probe"};
    argv.insert(argv.end(), args.begin(), args.end());
    InitSpec spec = box_.spec(argv);
    // No nodev: a volume or an OCI tmpfs may be mounted so.
    spec.mounts.push_back(MountSpec{"/dev-mount", "tmpfs", "probe-dev", MS_NOSUID | MS_NOEXEC, 0, "size=1m"});
    if (group_) spec.cgroupJoinFiles = group_->joinFiles();
    spec.userNamespace = userNamespace_;
    return run(spec);
  }
  RunResult action(const std::string& name) const {
    const std::string disk = hostDisk();
    return probe({name, std::to_string(::getpid()), disk.empty() ? "8:0" : disk});
  }

 private:
  Sandbox box_;
  std::string root_;
  std::optional<UserNamespaceMap> userNamespace_;
  std::optional<cgroup::Driver> driver_;
  std::optional<cgroup::Group> group_;
};

struct ProbeLine {
  std::string action;
  std::string outcome;  // "refused:<what>" or "ALLOWED"
  std::string note;     // what the probe saw on the way, if anything
};

std::vector<ProbeLine> parse(const std::string& output) {
  std::vector<ProbeLine> lines;
  std::istringstream in(output);
  std::string text;
  while (std::getline(in, text)) {
    ProbeLine line;
    std::istringstream fields(text);
    fields >> line.action >> line.outcome;
    std::getline(fields >> std::ws, line.note);
    lines.push_back(line);
  }
  return lines;
}

// One row per action: its name, what refused it (an errno's name, or how a
// masked file looked) and the probe's note; narrow enough for Catch's 80 columns.
std::string table(const std::vector<ProbeLine>& lines) {
  std::string text;
  for (const ProbeLine& line : lines) {
    std::string outcome = line.outcome;
    if (outcome.starts_with("refused:")) outcome.erase(0, 8);
    char row[256];
    std::snprintf(row, sizeof row, "%-32s %-16s %s\n", line.action.c_str(), outcome.c_str(), line.note.c_str());
    text += row;
  }
  return text;
}

struct HostRun {
  std::string output;  // stdout and stderr
  int exitCode = -1;
};

// Runs the probe on the host with one argument (only harmless ones: "list", "status").
HostRun runProbeOnHost(const char* argument) {
  Pipe out = makePipe();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(out.write.get(), 1);
    ::dup2(out.write.get(), 2);
    ::execl(kProbe.c_str(), "escape_probe", argument, nullptr);
    ::_exit(127);
  }
  out.write.reset();
  HostRun run;
  run.output = readAll(out.read.get());
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  run.exitCode = WEXITSTATUS(status);
  return run;
}

// The probe's own list of actions, asked on the host ("list" touches nothing).
std::vector<std::string> probeActions() {
  HostRun listed = runProbeOnHost("list");
  REQUIRE(listed.exitCode == 0);
  const std::string& text = listed.output;
  std::vector<std::string> names;
  std::istringstream in(text);
  for (std::string name; std::getline(in, name);) names.push_back(name);
  return names;
}

TEST_CASE("every action of the escape probe is refused inside a container", "[probe]") {
  const std::vector<std::string> actions = probeActions();
  // The probe tries exactly what this test expects, no more, no less.
  std::set<std::string> listed(actions.begin(), actions.end());
  std::set<std::string> known;
  for (const auto& [name, outcomes] : expectedOutcomes()) known.insert(name);
  CHECK(listed == known);
  CHECK(listed.size() == actions.size());

  ProbeBox box;
  RunResult result = box.action("all");
  const std::vector<ProbeLine> lines = parse(result.output);
  WARN("escape probe inside a container (host pid " << ::getpid() << ", host disk " << hostDisk()
                                                     << "), action / refused with / note:\n"
                                                     << table(lines));
  REQUIRE(lines.size() == actions.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].action << " " << lines[i].outcome << " " << lines[i].note);
    CHECK(lines[i].action == actions[i]);
    CHECK(lines[i].outcome.starts_with("refused:"));
    auto expected = expectedOutcomes().find(lines[i].action);
    if (expected != expectedOutcomes().end()) CHECK(expected->second.contains(lines[i].outcome));
  }
  CHECK(result.status.signal == 0);
  CHECK(result.status.exitCode == 0);
  CHECK(berth::testing::mountsContaining(box.sandbox().dir().path()).empty());
}

TEST_CASE("every action of the escape probe is refused inside a user-namespace container", "[probe]") {
  const std::vector<std::string> actions = probeActions();
  ProbeBox box(DeviceCgroup::host, UserNamespaceMap{.hostUid = 200000, .hostGid = 200000, .size = 65536});
  RunResult result = box.action("all");
  const std::vector<ProbeLine> lines = parse(result.output);
  WARN("escape probe inside a user-namespace container, action / refused with / note:\n" << table(lines));
  REQUIRE(lines.size() == actions.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i].action << " " << lines[i].outcome << " " << lines[i].note);
    CHECK(lines[i].action == actions[i]);
    CHECK(lines[i].outcome.starts_with("refused:"));
    auto expected = expectedInUserNamespace().find(lines[i].action);
    REQUIRE(expected != expectedInUserNamespace().end());
    CHECK(expected->second.contains(lines[i].outcome));
  }
  CHECK(result.status.exitCode == 0);
  CHECK(berth::testing::mountsContaining(box.sandbox().dir().path()).empty());
}

TEST_CASE("each action of the escape probe is refused on its own, in a fresh container", "[probe]") {
  // Nothing in "all" leans on what an earlier action left behind.
  for (const std::string& name : probeActions()) {
    ProbeBox box;
    RunResult result = box.action(name);
    const std::vector<ProbeLine> lines = parse(result.output);
    INFO(result.output);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].action == name);
    auto expected = expectedOutcomes().find(name);
    REQUIRE(expected != expectedOutcomes().end());
    CHECK(expected->second.contains(lines[0].outcome));
    CHECK(result.status.exitCode == 0);
  }
}

TEST_CASE("a node on a mount without nodev: the device cgroup refuses it, v1 and eBPF alike; without one it opens", "[probe]") {
  for (const char* name : {"mknod-host-disk+open-in-/dev-mount", "mknod-/dev/mem+open-in-/dev-mount"}) {
    for (DeviceCgroup devices : {DeviceCgroup::host, DeviceCgroup::ebpf}) {
      ProbeBox box(devices);
      RunResult result = box.action(name);
      INFO(name << (devices == DeviceCgroup::host ? " (the host's device cgroup)" : " (eBPF)") << ": " << result.output);
      CHECK(result.output.find(" refused:EPERM (mknod ok, open refused)") != std::string::npos);
      CHECK(result.status.exitCode == 0);
    }
  }
  // The control: the same tmpfs, no device cgroup. The host's disk is only
  // opened read-only and closed again, never read.
  if (hostDisk().empty()) {
    WARN("no block device opens even for this test on the host: the control is left out");
    return;
  }
  ProbeBox open(DeviceCgroup::none);
  RunResult result = open.action("mknod-host-disk+open-in-/dev-mount");
  INFO(result.output);
  CHECK(result.output == "mknod-host-disk+open-in-/dev-mount ALLOWED (mknod ok, open ok)\n");
  CHECK(result.status.exitCode == 1);
}

TEST_CASE("the probe's view of itself: no_new_privs, seccomp and the default capabilities", "[probe]") {
  ProbeBox box;
  RunResult result = box.probe({"status"});
  CHECK(result.status.exitCode == 0);
  std::map<std::string, std::string> fields;
  for (const ProbeLine& line : parse(result.output)) fields[line.action] = line.outcome;
  INFO(result.output);
  char caps[32];
  std::snprintf(caps, sizeof caps, "%016" PRIx64, defaultCapabilities());
  CHECK(fields["NoNewPrivs"] == "1");
  CHECK(fields["Seccomp"] == "2");  // SECCOMP_MODE_FILTER
  CHECK(fields["Seccomp_filters"] == "1");
  CHECK(fields["CapEff"] == caps);
  CHECK(fields["CapPrm"] == caps);
  CHECK(fields["CapBnd"] == caps);
  CHECK(fields["CapInh"] == "0000000000000000");
  CHECK(fields["CapAmb"] == "0000000000000000");
}

TEST_CASE("the probe reports what is allowed, and refuses to run outside a container", "[probe]") {
  SECTION("an allowed action is reported as allowed") {
    ProbeBox box;
    RunResult result = box.probe({"control"});
    CHECK(result.output == "control-open-/proc/self/status ALLOWED\n");
    CHECK(result.status.exitCode == 1);
  }
  SECTION("not pid 1: the probe does nothing") {
    // "status" would be harmless anyway; the guard is what keeps "all" off the host.
    HostRun refused = runProbeOnHost("status");
    CHECK(refused.exitCode == 2);
    const std::string& text = refused.output;
    CHECK(text.find("runs only as a container's command") != std::string::npos);
  }
}

}  // namespace
}  // namespace berth::ns::testing
