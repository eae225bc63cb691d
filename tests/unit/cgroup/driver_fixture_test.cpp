// The drivers against a directory tree that stands in for the cgroup mounts:
// routing of limits and stats to v1 or v2 files, naming, creation and
// rollback, without root.
#include <sys/stat.h>

#include <algorithm>

#include <catch2/catch.hpp>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::cgroup;

namespace {

void put(const std::string& path, const std::string& content) {
  REQUIRE(makeDirs(path.substr(0, path.rfind('/'))));
  REQUIRE(writeFileAtomic(path, content));
}

std::string read(const std::string& path) {
  auto text = readFile(path);
  REQUIRE(text);
  return *text;
}

bool isDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A fixture's directories are no cgroupfs: no device policy (DeviceControl::none) unless a test asks.
struct HybridFixture {
  testing::TempDir tmp{"berth-cgroup-fixture"};
  Mounts mounts() const {
    return Mounts{Layout::hybrid,
                  tmp.sub("unified"),
                  {{"memory", tmp.sub("memory")},
                   {"cpu", tmp.sub("cpu,cpuacct")},
                   {"cpuacct", tmp.sub("cpu,cpuacct")},
                   {"pids", tmp.sub("pids")},
                   {"freezer", tmp.sub("freezer")}},
                  DeviceControl::none};
  }
  // The interface files an existing hybrid group "web" under root "berth" has.
  void makeWeb() const {
    put(tmp.sub("unified/berth/web/cgroup.events"), "populated 0\nfrozen 0\n");
    put(tmp.sub("unified/berth/web/cpu.stat"), "usage_usec 4242\nuser_usec 4000\nsystem_usec 242\n");
    for (const char* file : {"memory.limit_in_bytes", "memory.usage_in_bytes", "memory.oom_control"})
      put(tmp.sub("memory/berth/web/") + file, "");
    for (const char* file : {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares"})
      put(tmp.sub("cpu,cpuacct/berth/web/") + file, "");
    put(tmp.sub("pids/berth/web/pids.max"), "");
    put(tmp.sub("pids/berth/web/pids.current"), "7\n");
  }
};

struct UnifiedFixture {
  testing::TempDir tmp{"berth-cgroup-fixture"};
  Mounts mounts() const { return Mounts{Layout::unified, tmp.sub("v2"), {}, DeviceControl::none}; }
  void makeRoot(const std::string& controllers, const std::string& enabled) const {
    put(tmp.sub("v2/berth/cgroup.controllers"), controllers);
    put(tmp.sub("v2/berth/cgroup.subtree_control"), enabled);
  }
  void makeWeb() const {
    put(tmp.sub("v2/berth/web/cgroup.events"), "populated 1\nfrozen 1\n");
    put(tmp.sub("v2/berth/web/cpu.stat"), "usage_usec 99\n");
    put(tmp.sub("v2/berth/web/memory.current"), "1048576\n");
    put(tmp.sub("v2/berth/web/memory.max"), "max\n");
    put(tmp.sub("v2/berth/web/memory.events"), "low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\noom_group_kill 0\n");
    put(tmp.sub("v2/berth/web/cgroup.procs"), "12\n345\n");
    for (const char* file : {"cpu.max", "cpu.weight", "pids.max"}) put(tmp.sub("v2/berth/web/") + file, "");
  }
};

}  // namespace

TEST_CASE("driver roots and group names are validated") {
  HybridFixture fx;
  for (const char* bad : {"", "/abs", "a/../b", "..", "a//b", "trailing/", "./x"}) {
    auto driver = Driver::create(fx.mounts(), bad);
    REQUIRE_FALSE(driver);
    CHECK(driver.error().code == Errc::invalid_argument);
  }
  CHECK_FALSE(Driver::create(Mounts{Layout::unified, "", {}}, "berth"));
  auto driver = Driver::create(fx.mounts(), "berth.slice/nested");
  REQUIRE(driver);
  CHECK(driver->root() == "berth.slice/nested");
  // Interface files' names too: a v1 group named "tasks" would be its parent's tasks file.
  for (const char* bad : {"", ".", "..", "a/b", "tasks", "release_agent", "cgroup.procs", "memory.max", "pids.max"}) {
    INFO(bad);
    auto group = driver->createGroup(bad);
    REQUIRE_FALSE(group);
    CHECK(group.error().code == Errc::invalid_argument);
    CHECK_FALSE(driver->groupExists(bad));
  }
  auto dotted = driver->createGroup("web.1");
  REQUIRE(dotted);
  CHECK((*dotted)->v2Path().ends_with("/web.1"));
}

TEST_CASE("hybrid limits go to the v1 groups, co-mounted controllers once") {
  HybridFixture fx;
  fx.makeWeb();
  auto driver = Driver::create(fx.mounts(), "berth");
  REQUIRE(driver);
  CHECK(driver->layout() == Layout::hybrid);
  auto group = driver->openGroup("web");
  REQUIRE(group);
  CHECK(group->v2Path() == fx.tmp.sub("unified/berth/web"));
  // freezer is not routed; cpu and cpuacct share a dir.
  // Joined by writing "0" to `tasks`: one thread moves, no global lock.
  CHECK(group->v1JoinFiles() == std::vector<std::string>{fx.tmp.sub("cpu,cpuacct/berth/web/tasks"),
                                                          fx.tmp.sub("memory/berth/web/tasks"),
                                                          fx.tmp.sub("pids/berth/web/tasks")});
  // A new process joins v2 first, then the v1 groups.
  CHECK(group->joinFiles() == std::vector<std::string>{fx.tmp.sub("unified/berth/web/cgroup.procs"),
                                                        fx.tmp.sub("cpu,cpuacct/berth/web/tasks"),
                                                        fx.tmp.sub("memory/berth/web/tasks"),
                                                        fx.tmp.sub("pids/berth/web/tasks")});

  REQUIRE(group->setLimits(Limits{256u << 20, 1500, 64}));
  CHECK(read(fx.tmp.sub("memory/berth/web/memory.limit_in_bytes")) == "268435456");
  CHECK(read(fx.tmp.sub("cpu,cpuacct/berth/web/cpu.cfs_period_us")) == "100000");
  CHECK(read(fx.tmp.sub("cpu,cpuacct/berth/web/cpu.cfs_quota_us")) == "150000");
  CHECK(read(fx.tmp.sub("cpu,cpuacct/berth/web/cpu.shares")) == "3908");  // weight 150
  CHECK(read(fx.tmp.sub("pids/berth/web/pids.max")) == "64");

  // Only the fields set are touched.
  REQUIRE(group->setLimits(Limits{std::nullopt, std::nullopt, 0}));
  CHECK(read(fx.tmp.sub("pids/berth/web/pids.max")) == "max");
  CHECK(read(fx.tmp.sub("memory/berth/web/memory.limit_in_bytes")) == "268435456");

  REQUIRE(group->setLimits(Limits{0, 0, std::nullopt}));
  // Regular files keep the tail of a longer earlier value; the kernel's take one value per write.
  CHECK(read(fx.tmp.sub("memory/berth/web/memory.limit_in_bytes")).starts_with("-1"));
  CHECK(read(fx.tmp.sub("cpu,cpuacct/berth/web/cpu.cfs_quota_us")).starts_with("-1"));
}

TEST_CASE("hybrid stats read v1 memory and pids, v2 cpu usage") {
  HybridFixture fx;
  fx.makeWeb();
  put(fx.tmp.sub("memory/berth/web/memory.usage_in_bytes"), "5000000\n");
  put(fx.tmp.sub("memory/berth/web/memory.limit_in_bytes"), "9223372036854771712\n");
  put(fx.tmp.sub("memory/berth/web/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  auto driver = Driver::create(fx.mounts(), "berth");
  REQUIRE(driver);
  auto group = driver->openGroup("web");
  REQUIRE(group);
  auto stats = group->stats();
  REQUIRE(stats);
  CHECK(stats->memoryBytes == 5000000);
  CHECK(stats->memoryLimitBytes == 0);  // v1's "unlimited"
  CHECK(stats->cpuUsageUsec == 4242);
  CHECK(stats->pidsCurrent == 7);
  CHECK(stats->oomKills == 3);

  put(fx.tmp.sub("memory/berth/web/memory.limit_in_bytes"), "268435456\n");
  stats = group->stats();
  REQUIRE(stats);
  CHECK(stats->memoryLimitBytes == 268435456);
}

TEST_CASE("hybrid: a limit without its v1 hierarchy fails cleanly") {
  HybridFixture fx;
  fx.makeWeb();
  Mounts mounts = fx.mounts();
  mounts.v1.erase("pids");
  auto driver = Driver::create(mounts, "berth");
  REQUIRE(driver);
  auto group = driver->openGroup("web");
  REQUIRE(group);
  auto set = group->setLimits(Limits{std::nullopt, std::nullopt, 10});
  REQUIRE_FALSE(set);
  CHECK(set.error().code == Errc::host_refused);
  CHECK(set.error().message.find("pids") != std::string::npos);
}

TEST_CASE("unified limits and stats use the v2 files") {
  UnifiedFixture fx;
  fx.makeRoot("cpu memory pids\n", "cpu memory pids\n");
  fx.makeWeb();
  auto driver = Driver::create(fx.mounts(), "berth");
  REQUIRE(driver);
  CHECK(driver->layout() == Layout::unified);
  auto group = driver->openGroup("web");
  REQUIRE(group);
  CHECK(group->v1JoinFiles().empty());

  auto stats = group->stats();
  REQUIRE(stats);
  CHECK(stats->memoryBytes == 1048576);
  CHECK(stats->memoryLimitBytes == 0);  // "max"
  CHECK(stats->cpuUsageUsec == 99);
  CHECK(stats->pidsCurrent == 0);  // no pids.current: the controller is not enabled
  CHECK(stats->oomKills == 2);

  REQUIRE(group->setLimits(Limits{64u << 20, 250, 0}));
  CHECK(read(fx.tmp.sub("v2/berth/web/memory.max")) == "67108864");
  CHECK(read(fx.tmp.sub("v2/berth/web/cpu.max")) == "25000 100000");
  CHECK(read(fx.tmp.sub("v2/berth/web/cpu.weight")) == "25");
  CHECK(read(fx.tmp.sub("v2/berth/web/pids.max")) == "max");
  stats = group->stats();
  REQUIRE(stats);
  CHECK(stats->memoryLimitBytes == 64u << 20);

  auto pids = group->pids();
  REQUIRE(pids);
  CHECK(*pids == std::vector<pid_t>{12, 345});
  CHECK(group->populated().value_or(false));
  CHECK(group->frozen().value_or(false));

  auto destroyed = group->destroy();
  REQUIRE_FALSE(destroyed);
  CHECK(destroyed.error().code == Errc::state_conflict);
  CHECK(isDir(fx.tmp.sub("v2/berth/web")));
}

TEST_CASE("unified: a missing controller file is named in the error") {
  UnifiedFixture fx;
  fx.makeRoot("", "");
  put(fx.tmp.sub("v2/berth/web/cgroup.events"), "populated 0\nfrozen 0\n");
  auto driver = Driver::create(fx.mounts(), "berth");
  REQUIRE(driver);
  auto group = driver->openGroup("web");
  REQUIRE(group);
  auto set = group->setLimits(Limits{1u << 30, std::nullopt, std::nullopt});
  REQUIRE_FALSE(set);
  CHECK(set.error().code == Errc::host_refused);
  CHECK(set.error().sysErrno == ENOENT);
  CHECK(set.error().message.find(fx.tmp.sub("v2/berth/web/memory.max")) != std::string::npos);
}

TEST_CASE("unified createGroup enables the delegated controllers in its own root only") {
  UnifiedFixture fx;
  fx.makeRoot("cpuset cpu io memory\n", "cpu\n");
  auto driver = Driver::create(fx.mounts(), "berth");
  REQUIRE(driver);
  {
    auto group = driver->createGroup("web");
    REQUIRE(group);
    // pids is not delegated to the root, cpu already on: only memory is asked for.
    CHECK(read(fx.tmp.sub("v2/berth/cgroup.subtree_control")) == "+memory");
    CHECK(isDir(fx.tmp.sub("v2/berth/web")));
    CHECK(driver->groupExists("web"));
    auto again = driver->createGroup("web");
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::already_exists);
    auto names = driver->listGroups();
    REQUIRE(names);
    CHECK(*names == std::vector<std::string>{"web"});
  }
  // The uncommitted NewGroup removed its (empty) dir when dropped.
  CHECK_FALSE(isDir(fx.tmp.sub("v2/berth/web")));
  {
    auto kept = driver->createGroup("web");
    REQUIRE(kept);
    Group committed = std::move(*kept).commit();
    auto opened = driver->openGroup("web");
    REQUIRE(opened);
  }
  // Neither a committed group nor an opened one removes anything when dropped.
  CHECK(isDir(fx.tmp.sub("v2/berth/web")));
  REQUIRE(driver->openGroup("web")->destroy());
  CHECK_FALSE(driver->groupExists("web"));
  auto missing = driver->openGroup("web");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
}

TEST_CASE("hybrid createGroup makes every dir, destroy and removeRoot remove them") {
  HybridFixture fx;
  auto driver = Driver::create(fx.mounts(), "berth");
  REQUIRE(driver);
  auto listed = driver->listGroups();
  REQUIRE(listed);
  CHECK(listed->empty());
  auto group = driver->createGroup("web");
  REQUIRE(group);
  for (const char* dir : {"unified/berth/web", "memory/berth/web", "cpu,cpuacct/berth/web", "pids/berth/web"})
    CHECK(isDir(fx.tmp.sub(dir)));
  CHECK_FALSE(isDir(fx.tmp.sub("freezer/berth")));

  auto busyRoot = driver->removeRoot();
  REQUIRE_FALSE(busyRoot);
  CHECK(busyRoot.error().code == Errc::state_conflict);

  Group moved = std::move(*group).commit();
  REQUIRE(moved.destroy());
  CHECK(moved.destroy());  // idempotent
  REQUIRE(driver->removeRoot());
  for (const char* dir : {"unified/berth", "memory/berth", "cpu,cpuacct/berth", "pids/berth"})
    CHECK_FALSE(isDir(fx.tmp.sub(dir)));
  CHECK(driver->removeRoot());  // nothing left is fine
}

TEST_CASE("a createGroup that fails midway removes what it made") {
  HybridFixture fx;
  Mounts mounts = fx.mounts();
  put(fx.tmp.sub("not-a-dir"), "x");
  mounts.v1["pids"] = fx.tmp.sub("not-a-dir");
  auto driver = Driver::create(mounts, "berth");
  REQUIRE(driver);
  auto group = driver->createGroup("web");
  REQUIRE_FALSE(group);
  CHECK(group.error().message.find("not-a-dir") != std::string::npos);
  for (const char* dir : {"unified/berth/web", "memory/berth/web", "cpu,cpuacct/berth/web"})
    CHECK_FALSE(isDir(fx.tmp.sub(dir)));
  CHECK_FALSE(driver->groupExists("web"));
}

TEST_CASE("hybrid createGroup writes the default device policy to its v1 devices group") {
  HybridFixture fx;
  Mounts mounts = fx.mounts();
  mounts.v1["devices"] = fx.tmp.sub("devices");
  mounts.devices = DeviceControl::v1;
  // The kernel's interface files, there before the group is (a v1 dir is adopted).
  put(fx.tmp.sub("devices/berth/web/devices.deny"), "");
  put(fx.tmp.sub("devices/berth/web/devices.allow"), "");
  auto driver = Driver::create(mounts, "berth");
  REQUIRE(driver);
  auto group = driver->createGroup("web");
  REQUIRE(group);
  CHECK(read(fx.tmp.sub("devices/berth/web/devices.deny")) == "a");
  CHECK(read(fx.tmp.sub("devices/berth/web/devices.allow")) ==
        "c *:* m\nb *:* m\nc 1:3 rwm\nc 1:5 rwm\nc 1:7 rwm\nc 1:8 rwm\nc 1:9 rwm\nc 5:0 rwm\nc 5:2 rwm\nc 136:* rwm\n");
  // The init joins the devices group with the others.
  const auto files = (*group)->joinFiles();
  CHECK(std::find(files.begin(), files.end(), fx.tmp.sub("devices/berth/web/tasks")) != files.end());

  REQUIRE((*group)->setDevices({DeviceRule{.allow = true, .type = 'a'}, DeviceRule{.allow = false, .type = 'b', .major = 8}}));
  CHECK(read(fx.tmp.sub("devices/berth/web/devices.allow")).starts_with("a"));
  CHECK(read(fx.tmp.sub("devices/berth/web/devices.deny")) == "b 8:* rwm\n");
  // The fixture's files keep rmdir from working: the temp dir goes as a whole.
  Group kept = std::move(*group).commit();
}

TEST_CASE("v1 device control needs a v1 devices hierarchy") {
  HybridFixture fx;
  Mounts mounts = fx.mounts();
  mounts.devices = DeviceControl::v1;
  auto driver = Driver::create(mounts, "berth");
  REQUIRE_FALSE(driver);
  CHECK(driver.error().code == Errc::invalid_argument);
}

TEST_CASE("a container's hierarchies: each v1 mount once with its controllers, then unified; pure v2 alone") {
  HybridFixture fx;
  Mounts mounts = fx.mounts();
  mounts.v1Controllers[fx.tmp.sub("cpu,cpuacct")] = "cpu,cpuacct";
  auto hybrid = Driver::create(mounts, "berth");
  REQUIRE(hybrid);
  const std::vector<Hierarchy> seen = hybrid->containerHierarchies();
  REQUIRE(seen.size() == 4);
  CHECK(seen[0].name == "cpu,cpuacct");
  CHECK(seen[0].fstype == "cgroup");
  CHECK(seen[0].controllers == "cpu,cpuacct");
  CHECK(seen[0].aliases == std::vector<std::string>{"cpu", "cpuacct"});
  CHECK(seen[1].name == "memory");
  CHECK(seen[1].controllers == "memory");
  CHECK(seen[1].aliases.empty());
  CHECK(seen[2].name == "pids");  // freezer is no controller berth uses
  CHECK(seen[3].name == "unified");
  CHECK(seen[3].fstype == "cgroup2");

  UnifiedFixture v2;
  auto unified = Driver::create(v2.mounts(), "berth");
  REQUIRE(unified);
  const std::vector<Hierarchy> only = unified->containerHierarchies();
  REQUIRE(only.size() == 1);
  CHECK(only[0].name.empty());
  CHECK(only[0].fstype == "cgroup2");
}
