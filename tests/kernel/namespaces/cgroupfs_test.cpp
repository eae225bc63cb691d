// What a container sees of its cgroups and of /run, on this kernel: its own
// groups (with its limits) at /sys/fs/cgroup through its cgroup namespace,
// read-only; the v1 hierarchies berth uses and `unified` on this hybrid
// host, the cgroup2 tree alone as on a pure v2 host; /run a tmpfs.
#include <sys/mount.h>

#include <cstdio>
#include <optional>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "kernel/namespaces/ns_fixture.hpp"

namespace berth::ns::testing {
namespace {

// A group under a root of the test's own, removed with the root at the end.
class ScopedGroup {
 public:
  explicit ScopedGroup(std::optional<cgroup::Mounts> mounts = std::nullopt)
      : root_(berth::testing::uniqueCgroupRoot()) {
    auto driver = mounts ? cgroup::Driver::create(*mounts, root_) : cgroup::Driver::detect(root_);
    REQUIRE(driver);
    driver_.emplace(std::move(*driver));
    auto group = driver_->createGroup("box");
    if (!group) FAIL(group.error().describe());
    group_.emplace(std::move(*group).commit());
  }
  ~ScopedGroup() {
    (void)group_->killAll(std::chrono::seconds(5));
    auto destroyed = group_->destroy();
    if (!destroyed) std::fprintf(stderr, "box group: %s\n", destroyed.error().describe().c_str());
    (void)driver_->removeRoot();
    CHECK(berth::testing::leftoverCgroups(root_).empty());
  }
  ScopedGroup(const ScopedGroup&) = delete;
  ScopedGroup& operator=(const ScopedGroup&) = delete;

  cgroup::Group& group() { return *group_; }
  const std::string& root() const { return root_; }
  // The container's spec in this group, with its /sys/fs/cgroup.
  InitSpec place(InitSpec spec) const {
    spec.cgroupJoinFiles = group_->joinFiles();
    for (const cgroup::Hierarchy& hierarchy : driver_->containerHierarchies())
      spec.cgroupMounts.push_back({hierarchy.name, hierarchy.fstype, hierarchy.controllers, hierarchy.aliases,
                                   cgroup::groupDirIn(hierarchy, spec.cgroupJoinFiles)});
    return spec;
  }

 private:
  std::string root_;
  std::optional<cgroup::Driver> driver_;
  std::optional<cgroup::Group> group_;
};

// What the script printed after "[<key>]", up to the next marker.
std::string section(const std::string& output, const std::string& key) {
  const std::string marker = "[" + key + "]\n";
  size_t start = output.find(marker);
  if (start == std::string::npos) return "(no " + key + ")";
  start += marker.size();
  size_t end = output.find('[', start);
  return output.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

}  // namespace

// Under a user namespace the kernel mounts no v1 hierarchy: the parent binds
// the container's groups read-only instead (and a file bind whose source the
// namespace's root could not reach by its path), and the container sees the same.
TEST_CASE(
    "a container reads its own v1 limits at /sys/fs/cgroup and can "
    "change nothing there",
    "[cgroupfs]") {
  cgroup::Mounts host = cgroup::detectMounts().value();
  if (host.layout != cgroup::Layout::hybrid) {
    WARN("not a hybrid host: the next case covers the pure v2 layout");
    return;
  }
  for (bool userNamespace : {false, true}) {
    INFO((userNamespace ? "in a user namespace" : "host root"));
    ScopedGroup scoped;
    REQUIRE(scoped.group().setLimits({.memoryBytes = 64 << 20, .cpuMillicores = 500, .pidsMax = 77}));
    Sandbox box;
    const std::string hidden = box.dir().sub("hidden");
    REQUIRE(makeDirs(hidden, 0700));
    REQUIRE(writeFileAtomic(hidden + "/greeting", "hello\n", 0644));
    const std::string script =
        "echo [file]; cat /etc/greeting;"
        "echo [memory]; cat /sys/fs/cgroup/memory/memory.limit_in_bytes;"
        "echo [quota]; cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us;"
        "echo [pids]; cat /sys/fs/cgroup/pids/pids.max;"
        "echo [procs]; cat /sys/fs/cgroup/pids/cgroup.procs | wc -l;"
        "echo [unified]; cat /sys/fs/cgroup/unified/cgroup.type;"
        "echo [self]; grep -E '^[0-9]+:(pids|memory|):' /proc/self/cgroup | "
        "sort;"
        "echo [write]; echo 1 > /sys/fs/cgroup/pids/pids.max && echo written;"
        "echo 1 > /sys/fs/cgroup/unified/cgroup.freeze && echo written;"
        "mkdir /sys/fs/cgroup/memory/nested && echo made; mkdir "
        "/sys/fs/cgroup/extra && echo made;"
        // Each hierarchy's root is "/" (the 4th field): the container's own group.
        "echo [mounts]; grep -cE '^[0-9]+ [0-9]+ [0-9:]+ / "
        "/sys/fs/cgroup/[a-z,]+ ro,nosuid,nodev,noexec[^ ]* (.* )?- cgroup2? '"
        " /proc/self/mountinfo;"
        "echo [run]; grep ' /run ' /proc/self/mountinfo | cut -d' ' -f6,9;"
        "touch /run/ok && echo run-writable;"
        "echo [end]";
    InitSpec spec = scoped.place(box.shell(script));
    spec.files.push_back({hidden + "/greeting", "/etc/greeting"});
    if (userNamespace) {
      constexpr uid_t kHostBase = 310000;
      for (const std::string& dir : {box.upper(), box.dir().sub("work")})
        REQUIRE(::chown(dir.c_str(), kHostBase, kHostBase) == 0);
      spec.userNamespace = UserNamespaceMap{kHostBase, kHostBase, 65536};
    }
    RunResult result = run(spec);
    INFO(result.output);
    CHECK(result.status.exitCode == 0);
    CHECK(section(result.output, "file") == "hello\n");
    CHECK(section(result.output, "memory") == std::to_string(64 << 20) + "\n");
    CHECK(section(result.output, "quota") == "50000\n");
    CHECK(section(result.output, "pids") == "77\n");
    // The group's own processes only: the shell and its cat, not the host's.
    CHECK(std::stoi(section(result.output, "procs")) <= 5);
    CHECK(section(result.output, "unified") == "domain\n");
    // Through its cgroup namespace the container is at the root of each hierarchy.
    const std::string self = section(result.output, "self");
    CHECK(self.find("memory:/\n") != std::string::npos);
    CHECK(self.find("pids:/\n") != std::string::npos);
    CHECK(self.find("0::/\n") != std::string::npos);
    const std::string writes = section(result.output, "write");
    CHECK(writes.find("written") == std::string::npos);
    CHECK(writes.find("made") == std::string::npos);
    CHECK(writes.find("Read-only file system") != std::string::npos);
    // memory, cpu, cpuacct, pids, devices and unified, each read-only.
    CHECK(section(result.output, "mounts") == "6\n");
    CHECK(section(result.output, "run") == "rw,nosuid,nodev,noexec,relatime tmpfs\nrun-writable\n");
    // Nothing of the container's limits changed from inside.
    CHECK(readFile("/sys/fs/cgroup/pids/" + scoped.root() + "/box/pids.max").value_or("") == "77\n");
    CHECK(berth::testing::mountsContaining(box.dir().path()).empty());
  }
}

TEST_CASE(
    "on a pure v2 layout the container's cgroup2 group is its "
    "/sys/fs/cgroup, read-only",
    "[cgroupfs]") {
  // This host's cgroup2 tree stands in for a pure v2 host's (no controllers there).
  ScopedGroup scoped(cgroup::Mounts{cgroup::Layout::unified, "/sys/fs/cgroup/unified"});
  Sandbox box;
  const std::string script =
      "echo [procs]; cat /sys/fs/cgroup/cgroup.procs | wc -l;"
      "echo [events]; grep populated /sys/fs/cgroup/cgroup.events;"
      "echo [write]; echo 1 > /sys/fs/cgroup/cgroup.freeze && echo written; "
      "mkdir /sys/fs/cgroup/x && echo made;"
      "echo [mount]; grep ' /sys/fs/cgroup ' /proc/self/mountinfo | cut -d' ' "
      "-f4,6,9;"
      "echo [end]";
  RunResult result = run(scoped.place(box.shell(script)));
  INFO(result.output);
  CHECK(result.status.exitCode == 0);
  CHECK(std::stoi(section(result.output, "procs")) <= 5);
  CHECK(section(result.output, "events") == "populated 1\n");
  CHECK(section(result.output, "write").find("written") == std::string::npos);
  CHECK(section(result.output, "write").find("made") == std::string::npos);
  // Its root is "/": the container's group, seen through its namespace.
  CHECK(section(result.output, "mount") == "/ ro,nosuid,nodev,noexec,relatime cgroup2\n");
  auto frozen = scoped.group().frozen();
  REQUIRE(frozen);
  CHECK_FALSE(*frozen);
}

}  // namespace berth::ns::testing
