// The parent-side plan of a container init: option strings, PATH lookup,
// step order and how a child's report becomes an Error. No root needed.
#include <sched.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>

#include "common/files.hpp"
#include "namespaces/init_plan.hpp"
#include "support/test_support.hpp"

namespace berth::ns {
namespace {

InitSpec sampleSpec() {
  InitSpec spec;
  spec.rootfs = {"/data/images/busybox/rootfs", "/data/c/1/upper", "/data/c/1/work", "/data/c/1/merged/"};
  spec.argv = {"sh", "-c", "true"};
  spec.env = {"PATH=/bin"};
  spec.workingDir = "/srv";
  spec.hostname = "box";
  return spec;
}

std::size_t indexOf(const InitPlan& plan, StepKind kind) {
  const auto& steps = plan.steps();
  auto found = std::find_if(steps.begin(), steps.end(), [&](const Step& step) { return step.kind == kind; });
  REQUIRE(found != steps.end());
  return static_cast<std::size_t>(found - steps.begin());
}

std::size_t indexOf(const InitPlan& plan, const std::string& description) {
  const auto& steps = plan.steps();
  auto found = std::find_if(steps.begin(), steps.end(),
                            [&](const Step& step) { return step.description == description; });
  REQUIRE(found != steps.end());
  return static_cast<std::size_t>(found - steps.begin());
}

TEST_CASE("overlay options name the three layers and refuse separators", "[init_plan]") {
  RootfsSpec rootfs{"/img", "/c/upper", "/c/work", "/c/merged"};
  auto options = overlayOptions(rootfs);
  REQUIRE(options);
  CHECK(*options == "lowerdir=/img,upperdir=/c/upper,workdir=/c/work");

  rootfs.upperDir = "/c/up,per";
  CHECK(overlayOptions(rootfs).error().code == Errc::invalid_argument);
  rootfs.upperDir = "/c/up:per";
  CHECK(overlayOptions(rootfs).error().code == Errc::invalid_argument);
  rootfs.upperDir = "relative";
  CHECK(overlayOptions(rootfs).error().code == Errc::invalid_argument);
}

TEST_CASE("exec candidates follow execvp's PATH rules", "[init_plan]") {
  using Strings = std::vector<std::string>;
  CHECK(pathCandidates("/bin/sh", {"PATH=/x"}) == Strings{"/bin/sh"});
  CHECK(pathCandidates("./run", {}) == Strings{"./run"});
  CHECK(pathCandidates("sh", {"FOO=1", "PATH=/a:/b"}) == Strings{"/a/sh", "/b/sh"});
  CHECK(pathCandidates("sh", {"PATH=/a::"}) == Strings{"/a/sh", "./sh", "./sh"});
  CHECK(pathCandidates("sh", {}) == Strings{"/usr/local/sbin/sh", "/usr/local/bin/sh", "/usr/sbin/sh", "/usr/bin/sh",
                                            "/sbin/sh", "/bin/sh"});
}

TEST_CASE("the plan sets up the root before pivot_root and execs last", "[init_plan]") {
  auto plan = InitPlan::build(sampleSpec());
  REQUIRE(plan);
  const auto& steps = plan->steps();
  CHECK(steps.front().description == "make / private");
  CHECK(steps.back().kind == StepKind::exec);
  CHECK(plan->argv()[0] == std::string("sh"));
  CHECK(plan->argv()[3] == nullptr);
  CHECK(plan->envp()[0] == std::string("PATH=/bin"));
  CHECK(plan->envp()[1] == nullptr);
  REQUIRE(plan->execCandidates().size() == 1);
  CHECK(plan->execCandidates()[0] == std::string("/bin/sh"));

  const std::size_t overlay = indexOf(*plan, "mount overlay on /data/c/1/merged");
  const std::size_t pivot = indexOf(*plan, StepKind::pivotRoot);
  CHECK(steps[overlay].target == std::string("/data/c/1/merged"));
  CHECK(steps[overlay].data == std::string("lowerdir=/data/images/busybox/rootfs,upperdir=/data/c/1/upper,workdir=/data/c/1/work"));
  CHECK(indexOf(*plan, StepKind::unshareCgroupNs) < overlay);
  CHECK(overlay < indexOf(*plan, "mount proc on /proc"));
  CHECK(indexOf(*plan, "mount sysfs on /sys") < pivot);
  CHECK(indexOf(*plan, "bind /dev/null") < pivot);
  CHECK(pivot < indexOf(*plan, "mask /proc/keys"));
  CHECK(pivot < indexOf(*plan, "remount /proc/sys read-only"));
  CHECK(indexOf(*plan, StepKind::stdio) < indexOf(*plan, StepKind::workingDir));
  for (int fd = 0; fd < 3; ++fd) CHECK(plan->stdioFds()[fd] >= 0);  // /dev/null for each -1
}

TEST_CASE("the child joins its cgroups first and unshares the cgroup namespace after", "[init_plan]") {
  InitSpec spec = sampleSpec();
  spec.cgroupJoinFiles = {"/cg2/c1/cgroup.procs", "/cg1/memory/c1/cgroup.procs"};
  auto plan = InitPlan::build(spec);
  REQUIRE(plan);
  const auto& steps = plan->steps();
  REQUIRE(steps.size() > 2);
  CHECK(steps[0].kind == StepKind::joinCgroup);
  CHECK(steps[0].target == std::string("/cg2/c1/cgroup.procs"));
  CHECK(steps[1].kind == StepKind::joinCgroup);
  CHECK(steps[1].description == "join cgroup /cg1/memory/c1/cgroup.procs");
  CHECK(steps[2].description == "make / private");
  CHECK(indexOf(*plan, StepKind::unshareCgroupNs) > 1);
}

TEST_CASE("a spec the kernel could not take is refused before clone", "[init_plan]") {
  InitSpec spec = sampleSpec();
  spec.argv.clear();
  CHECK(InitPlan::build(spec).error().code == Errc::invalid_argument);
  spec = sampleSpec();
  spec.rootfs.mergedDir = "/";
  CHECK(InitPlan::build(spec).error().code == Errc::invalid_argument);
  spec = sampleSpec();
  spec.rootfs.workDir = "/c/work,upperdir=/etc";
  CHECK(InitPlan::build(spec).error().code == Errc::invalid_argument);
  spec = sampleSpec();
  spec.hostname = std::string(65, 'h');
  CHECK(InitPlan::build(spec).error().code == Errc::invalid_argument);
}

TEST_CASE("a child's report becomes an error naming the step, blamed on the right side", "[init_plan]") {
  auto plan = InitPlan::build(sampleSpec());
  REQUIRE(plan);
  const auto report = [&](std::size_t step, int err) {
    return plan->failure(ChildReport{static_cast<std::uint32_t>(step), err});
  };
  const std::size_t exec = indexOf(*plan, StepKind::exec);

  for (int err : {ENOENT, EACCES, ENOEXEC, ENOTDIR}) {
    Error error = report(exec, err);
    CHECK(error.code == Errc::container_config);
    CHECK(error.sysErrno == err);
    CHECK(error.message == "exec \"sh\"");
  }
  CHECK(report(exec, ENOMEM).code == Errc::host_refused);

  Error chdir = report(indexOf(*plan, StepKind::workingDir), ENOENT);
  CHECK(chdir.code == Errc::container_config);
  CHECK(chdir.describe() == "working dir \"/srv\": No such file or directory");

  Error overlay = report(indexOf(*plan, "mount overlay on /data/c/1/merged"), EINVAL);
  CHECK(overlay.code == Errc::host_refused);
  CHECK(overlay.describe() == "mount overlay on /data/c/1/merged: Invalid argument");

  CHECK(report(plan->steps().size(), EIO).code == Errc::internal);
}


TEST_CASE("an exec joins the other hierarchies' cgroups, then the init's namespaces, and ends like an init", "[init_plan]") {
  ExecSpec spec;
  spec.initPidfd = 7;
  spec.cgroupFd = 9;
  spec.cgroupJoinFiles = {"/cg1/memory/c1/cgroup.procs"};
  spec.argv = {"ls", "-l"};
  spec.env = {"PATH=/bin"};
  spec.workingDir = "/srv";
  spec.controllingTerminal = true;
  auto plan = InitPlan::buildExec(spec);
  REQUIRE(plan);
  const auto& steps = plan->steps();
  CHECK(plan->cloneCgroupFd() == 9);
  CHECK(plan->cloneNamespaces() == 0);  // the pid namespace comes from pid_for_children
  CHECK(steps[0].kind == StepKind::joinCgroup);
  CHECK(steps[1].kind == StepKind::joinNamespaces);
  CHECK(steps[1].fd == 7);
  CHECK(steps[1].flags == static_cast<unsigned long>(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP));
  CHECK(indexOf(*plan, StepKind::stdio) < indexOf(*plan, StepKind::newSession));
  CHECK(indexOf(*plan, StepKind::newSession) < indexOf(*plan, StepKind::controllingTerminal));
  CHECK(indexOf(*plan, StepKind::workingDir) < indexOf(*plan, StepKind::capabilities));
  CHECK(indexOf(*plan, StepKind::capabilities) < indexOf(*plan, StepKind::noNewPrivs));
  CHECK(indexOf(*plan, StepKind::noNewPrivs) < indexOf(*plan, StepKind::seccomp));
  CHECK(steps.back().kind == StepKind::exec);
  // Nothing of an init's setup: no mounts, no pivot_root.
  CHECK(std::none_of(steps.begin(), steps.end(), [](const Step& step) {
    return step.kind == StepKind::mount || step.kind == StepKind::pivotRoot;
  }));
  CHECK(plan->execCandidates() == std::vector<const char*>{plan->execCandidates()[0]});
  CHECK(plan->execCandidates()[0] == std::string("/bin/ls"));

  spec.controllingTerminal = false;
  auto plain = InitPlan::buildExec(spec);
  REQUIRE(plain);
  CHECK(std::none_of(plain->steps().begin(), plain->steps().end(),
                     [](const Step& step) { return step.kind == StepKind::controllingTerminal; }));
  spec.argv.clear();
  CHECK_FALSE(InitPlan::buildExec(spec));
  spec.argv = {"ls"};
  spec.initPidfd = -1;
  CHECK_FALSE(InitPlan::buildExec(spec));
}

TEST_CASE("a user and umask are set after the capability limit, before no_new_privs", "[init_plan]") {
  InitSpec spec = sampleSpec();
  spec.user = ProcessUser{1000, 50, {50, 10}};
  spec.umask = 027;
  auto plan = InitPlan::build(spec);
  REQUIRE(plan);
  const std::size_t user = indexOf(*plan, StepKind::setUser);
  CHECK(indexOf(*plan, StepKind::capabilities) < user);
  CHECK(user < indexOf(*plan, StepKind::setUmask));
  CHECK(indexOf(*plan, StepKind::setUmask) < indexOf(*plan, StepKind::noNewPrivs));
  CHECK(plan->steps()[user].soft == 1000);
  CHECK(plan->steps()[user].hard == 50);
  CHECK(plan->groups() == std::vector<gid_t>{50, 10});
  CHECK(plan->steps()[indexOf(*plan, StepKind::setUmask)].flags == 027);
  // Without them: neither step (the caller's ids, groups and umask).
  auto plain = InitPlan::build(sampleSpec());
  REQUIRE(plain);
  CHECK(std::none_of(plain->steps().begin(), plain->steps().end(), [](const Step& step) {
    return step.kind == StepKind::setUser || step.kind == StepKind::setUmask;
  }));

  ExecSpec exec;
  exec.initPidfd = 7;
  exec.argv = {"id"};
  exec.user = spec.user;
  exec.joinUserNamespace = true;
  auto joined = InitPlan::buildExec(exec);
  REQUIRE(joined);
  CHECK(joined->steps()[indexOf(*joined, StepKind::joinNamespaces)].flags & CLONE_NEWUSER);
  CHECK(indexOf(*joined, StepKind::capabilities) < indexOf(*joined, StepKind::setUser));
}

TEST_CASE("an init in a user namespace waits for its root, then works inside it", "[init_plan]") {
  testing::TempDir dir("berth-plan");
  // Stands in for a v1 tasks file: opened by the plan, as the host's root.
  const std::string tasks = dir.sub("tasks");
  REQUIRE(writeFileAtomic(tasks, "", 0600));
  InitSpec spec = sampleSpec();
  spec.cgroupJoinFiles = {tasks};
  spec.userNamespace = UserNamespaceMap{268435456, 268435456, 65536};
  spec.files = {{"/run/berth/c1/hostname", "/etc/hostname"}};
  spec.cgroupMounts = {{"memory", "cgroup", "memory", {}, "/cg1/memory/c1"}, {"unified", "cgroup2", "", {}, "/cg2/c1"}};
  auto plan = InitPlan::build(spec);
  REQUIRE(plan);
  const auto& steps = plan->steps();
  CHECK((plan->cloneNamespaces() & CLONE_NEWUSER) != 0);
  CHECK((plan->cloneNamespaces() & CLONE_NEWNET) != 0);
  CHECK(plan->userNamespaceSocket() >= 0);
  REQUIRE(steps.size() > 5);
  // It joins its v1 group itself, through the file the plan opened: "0", no grace period.
  CHECK(steps[0].kind == StepKind::joinCgroup);
  CHECK(steps[0].fd >= 0);
  CHECK(steps[1].kind == StepKind::awaitUserNamespace);
  CHECK(steps[1].fd >= 0);
  CHECK(steps[2].description == "make / private");
  CHECK(steps[3].kind == StepKind::unshareCgroupNs);
  CHECK(steps[4].kind == StepKind::attachRoot);
  // The parent mounts nothing: no overlay step, no host path; the file and
  // each hierarchy arrive as mounts over the socket, in the spec's order.
  CHECK(std::none_of(steps.begin(), steps.end(),
                     [](const Step& step) { return step.description.starts_with("mount overlay"); }));
  std::vector<std::string> attached;
  for (const Step& step : steps)
    if (step.kind == StepKind::attachMount) {
      CHECK(step.fd == steps[1].fd);
      attached.emplace_back(step.target);
    }
  CHECK(attached == std::vector<std::string>{"./etc/hostname", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"});
  CHECK(indexOf(*plan, "bind /etc/hostname") < indexOf(*plan, StepKind::pivotRoot));
  CHECK(steps[indexOf(*plan, "mount proc on /proc")].target == std::string("./proc"));
  CHECK(steps[indexOf(*plan, StepKind::pivotRoot)].target == std::string("."));
  // A network namespace of the host's cannot be joined from inside one.
  spec.netnsFd = 5;
  CHECK(InitPlan::build(spec).error().code == Errc::invalid_argument);
  CHECK(InitPlan::build(sampleSpec())->userNamespaceSocket() == -1);
  // A join file that cannot be opened fails the plan, before any clone.
  spec.netnsFd = -1;
  spec.cgroupJoinFiles = {dir.sub("missing/tasks")};
  CHECK(InitPlan::build(spec).error().code == Errc::host_refused);
}

TEST_CASE("a container spec's plan: its mounts in order, the gate after the ready report, exec last", "[init_plan]") {
  testing::TempDir dir("berth-plan");
  const std::string fifo = dir.sub("start.fifo");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  ContainerSpec spec;
  spec.rootfs = "/bundle/rootfs/";
  spec.hostname = "oci";
  spec.namespaces = {{CLONE_NEWPID, ""}, {CLONE_NEWNS, ""}, {CLONE_NEWUTS, ""}, {CLONE_NEWCGROUP, ""}};
  spec.mounts = {{"/proc", "proc", "proc", MS_NOSUID, 0, ""},
                 {"/dev", "tmpfs", "tmpfs", MS_NOSUID, 0, "mode=755"},
                 {"/data", "bind", dir.path(), MS_BIND | MS_REC | MS_RDONLY, MS_PRIVATE, ""}};
  spec.devices = {{"/dev/fuse", 'c', 10, 229, 0660, 0, 0}};
  spec.maskedPaths = {"/proc/kcore"};
  spec.readonlyPaths = {"/proc/sys"};
  spec.sysctl = {{"net.ipv4.ip_forward", "1"}};
  spec.process.args = {"sh"};
  spec.process.env = {"PATH=/bin"};
  spec.process.cwd = "/work";
  spec.process.uid = 1000;
  spec.process.gid = 1000;
  spec.process.rlimits = {{RLIMIT_NOFILE, 1024, 4096}};
  spec.process.noNewPrivileges = true;
  spec.startFifo = fifo;
  auto plan = InitPlan::buildContainer(spec);
  REQUIRE(plan);
  CHECK((plan->cloneNamespaces() & (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS)) == (CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS));
  CHECK((plan->cloneNamespaces() & CLONE_NEWCGROUP) == 0);  // unshared once in its cgroups
  CHECK(indexOf(*plan, "mount proc on /proc") < indexOf(*plan, "mount tmpfs on /dev"));
  CHECK(indexOf(*plan, "mount tmpfs on /dev") < indexOf(*plan, "bind " + dir.path() + " on /data"));
  CHECK(indexOf(*plan, "bind " + dir.path() + " on /data") < indexOf(*plan, "remount /data"));
  CHECK(indexOf(*plan, "remount /data") < indexOf(*plan, "propagation of /data"));
  CHECK(indexOf(*plan, "mknod /dev/fuse") < indexOf(*plan, StepKind::pivotRoot));
  CHECK(indexOf(*plan, StepKind::pivotRoot) < indexOf(*plan, "mask /proc/kcore"));
  CHECK(indexOf(*plan, StepKind::pivotRoot) < indexOf(*plan, "sysctl net.ipv4.ip_forward"));
  CHECK(indexOf(*plan, StepKind::setRlimit) < indexOf(*plan, StepKind::setUser));
  CHECK(indexOf(*plan, StepKind::boundingSet) < indexOf(*plan, StepKind::setUser));
  CHECK(indexOf(*plan, StepKind::setUser) < indexOf(*plan, StepKind::capabilitySets));
  CHECK(indexOf(*plan, StepKind::workingDir) < indexOf(*plan, StepKind::reportReady));
  CHECK(indexOf(*plan, StepKind::reportReady) < indexOf(*plan, StepKind::awaitStart));
  CHECK(indexOf(*plan, StepKind::awaitStart) < indexOf(*plan, StepKind::noNewPrivs));
  CHECK(plan->steps().back().kind == StepKind::exec);
  CHECK(std::none_of(plan->steps().begin(), plan->steps().end(),
                     [](const Step& step) { return step.kind == StepKind::seccomp; }));  // none asked for

  ContainerSpec noMountNs = spec;
  noMountNs.namespaces = {{CLONE_NEWPID, ""}};
  CHECK_FALSE(InitPlan::buildContainer(noMountNs));
  ContainerSpec escaping = spec;
  escaping.mounts.push_back({"/../etc", "tmpfs", "tmpfs", 0, 0, ""});
  CHECK_FALSE(InitPlan::buildContainer(escaping));
  ContainerSpec badLimit = spec;
  badLimit.process.rlimits = {{RLIMIT_NOFILE, 10, 5}};
  CHECK_FALSE(InitPlan::buildContainer(badLimit));
  ContainerSpec noArgs = spec;
  noArgs.process.args.clear();
  CHECK_FALSE(InitPlan::buildContainer(noArgs));
}

}  // namespace
}  // namespace berth::ns

namespace berth::ns {
namespace {

const Step& stepNamed(const InitPlan& plan, const std::string& description) {
  return plan.steps()[indexOf(plan, description)];
}

}  // namespace

TEST_CASE("the container's cgroups at /sys/fs/cgroup: after pivot_root, read-only, each hierarchy as the host has it", "[init_plan]") {
  InitSpec spec = sampleSpec();
  spec.cgroupMounts = {{"cpu,cpuacct", "cgroup", "cpu,cpuacct", {"cpu", "cpuacct"}},
                       {"memory", "cgroup", "memory", {}},
                       {"unified", "cgroup2", "", {}}};
  auto plan = InitPlan::build(spec);
  REQUIRE(plan);
  const std::size_t pivot = indexOf(*plan, StepKind::pivotRoot);
  const std::size_t tmpfs = indexOf(*plan, "mount tmpfs on /sys/fs/cgroup");
  CHECK(indexOf(*plan, StepKind::unshareCgroupNs) < tmpfs);  // mounted from inside the namespace
  CHECK(pivot < tmpfs);
  const Step& cpu = stepNamed(*plan, "mount cgroup cpu,cpuacct on /sys/fs/cgroup/cpu,cpuacct");
  CHECK(cpu.fstype == std::string("cgroup"));
  CHECK(cpu.data == std::string("cpu,cpuacct"));
  CHECK(cpu.flags == (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
  const Step& unified = stepNamed(*plan, "mount cgroup2 unified on /sys/fs/cgroup/unified");
  CHECK(unified.fstype == std::string("cgroup2"));
  CHECK(unified.data == nullptr);
  const Step& alias = stepNamed(*plan, "symlink /sys/fs/cgroup/cpuacct");
  CHECK(alias.source == std::string("cpu,cpuacct"));
  const std::size_t readOnly = indexOf(*plan, "remount /sys/fs/cgroup read-only");
  CHECK(indexOf(*plan, "mount cgroup2 unified on /sys/fs/cgroup/unified") < readOnly);
  CHECK((plan->steps()[readOnly].flags & (MS_BIND | MS_REMOUNT | MS_RDONLY)) == (MS_BIND | MS_REMOUNT | MS_RDONLY));

  const Step& run = stepNamed(*plan, "mount tmpfs on /run");
  CHECK(run.flags == (MS_NOSUID | MS_NODEV | MS_NOEXEC));
  CHECK(pivot < indexOf(*plan, "mount tmpfs on /run"));

  spec.cgroupMounts = {{"", "cgroup2", "", {}}};
  auto pure = InitPlan::build(spec);
  REQUIRE(pure);
  const Step& only = stepNamed(*pure, "mount cgroup2 on /sys/fs/cgroup");
  CHECK(only.flags == (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC));
  CHECK(std::none_of(pure->steps().begin(), pure->steps().end(),
                     [](const Step& step) { return step.description == "mount tmpfs on /sys/fs/cgroup"; }));

  spec.cgroupMounts = {};
  auto none = InitPlan::build(spec);
  REQUIRE(none);
  CHECK(std::none_of(none->steps().begin(), none->steps().end(),
                     [](const Step& step) { return step.description.find("/sys/fs/cgroup") != std::string::npos; }));
}

TEST_CASE("cgroup hierarchy names and extra mounts that could leave their place are refused", "[init_plan]") {
  InitSpec spec = sampleSpec();
  for (const CgroupMount& bad : {CgroupMount{"../etc", "cgroup", "memory", {}}, CgroupMount{"memory", "cgroup", "memory", {".."}},
                                 CgroupMount{"memory", "ext4", "", {}}, CgroupMount{"", "cgroup", "memory", {}}}) {
    spec.cgroupMounts = {bad, {"unified", "cgroup2", "", {}}};
    auto plan = InitPlan::build(spec);
    REQUIRE_FALSE(plan);
    CHECK(plan.error().code == Errc::invalid_argument);
  }
  spec.cgroupMounts = {};
  for (const MountSpec& bad : {MountSpec{"/data", "bind", "/host", MS_BIND, 0, ""}, MountSpec{"/data", "", "x", 0, 0, ""},
                               MountSpec{"relative", "tmpfs", "tmpfs", 0, 0, ""}, MountSpec{"/a/../b", "tmpfs", "tmpfs", 0, 0, ""}}) {
    spec.mounts = {bad};
    auto plan = InitPlan::build(spec);
    REQUIRE_FALSE(plan);
    CHECK(plan.error().code == Errc::invalid_argument);
  }
  spec.mounts = {MountSpec{"/scratch/", "tmpfs", "scratch", MS_NOSUID, 0, "size=1m"}};
  auto plan = InitPlan::build(spec);
  REQUIRE(plan);
  const Step& scratch = stepNamed(*plan, "mount tmpfs on /scratch/");
  CHECK(scratch.target == std::string("/scratch"));
  CHECK(scratch.flags == MS_NOSUID);
  CHECK(scratch.data == std::string("size=1m"));
  CHECK(indexOf(*plan, StepKind::pivotRoot) < indexOf(*plan, "mount tmpfs on /scratch/"));
}

TEST_CASE("a container spec with a console: /dev/console made before pivot_root, the slave bound on it", "[init_plan]") {
  ContainerSpec spec;
  spec.rootfs = "/bundle/rootfs";
  spec.namespaces = {{CLONE_NEWPID, ""}, {CLONE_NEWNS, ""}};
  spec.process.args = {"sh"};
  spec.consoleSocketFd = 9;
  auto plan = InitPlan::buildContainer(spec);
  REQUIRE(plan);
  const std::size_t made = indexOf(*plan, "create /dev/console");
  CHECK(plan->steps()[made].target == std::string("/bundle/rootfs/dev/console"));
  CHECK(made < indexOf(*plan, StepKind::pivotRoot));
  const Step& console = plan->steps()[indexOf(*plan, StepKind::consoleSetup)];
  CHECK(console.fd == 9);
  CHECK(console.target == std::string("/dev/console"));

  spec.consoleSocketFd = -1;
  auto plain = InitPlan::buildContainer(spec);
  REQUIRE(plain);
  CHECK(std::none_of(plain->steps().begin(), plain->steps().end(),
                     [](const Step& step) { return step.description == "create /dev/console"; }));
}

}  // namespace berth::ns
