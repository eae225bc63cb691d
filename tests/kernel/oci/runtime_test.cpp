// berth-oci's commands (oci/runtime.hpp) on the real kernel, driven as
// containerd's shim drives runc: a bundle of busybox made by the test, a
// private --root and a cgroupsPath of the test's own; every container is
// deleted and its cgroup checked gone.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "oci/runtime.hpp"
#include "support/test_support.hpp"

namespace berth::oci {
namespace {

using nlohmann::json;

std::string fileText(const std::string& path) { return readFile(path).value_or(""); }

// A bundle as containerd makes one: rootfs, config.json with the usual mounts and namespaces.
class Bundle {
 public:
  Bundle(const std::string& id, const std::vector<std::string>& args, const std::function<void(json&)>& adjust = {})
      : cgroupRoot_("berth-oci-test-" + std::to_string(::getpid())) {
    berth::testing::makeBusyboxRootfs(dir_.sub("rootfs"));
    REQUIRE(::mkdir(dir_.sub("out").c_str(), 0777) == 0);
    json config{
        {"ociVersion", "1.0.2"},
        {"process",
         {{"terminal", false},
          {"user", {{"uid", 0}, {"gid", 0}}},
          {"args", args},
          {"env", {"PATH=/bin:/sbin"}},
          {"cwd", "/"},
          {"capabilities",
           {{"bounding", {"CAP_KILL", "CAP_CHOWN"}}, {"effective", {"CAP_KILL", "CAP_CHOWN"}},
            {"permitted", {"CAP_KILL", "CAP_CHOWN"}}}},
          {"rlimits", {{{"type", "RLIMIT_NOFILE"}, {"hard", 1024}, {"soft", 1024}}}},
          {"noNewPrivileges", true}}},
        {"root", {{"path", "rootfs"}}},
        {"hostname", "oci-test"},
        {"mounts",
         {{{"destination", "/proc"}, {"type", "proc"}, {"source", "proc"}},
          {{"destination", "/dev"}, {"type", "tmpfs"}, {"source", "tmpfs"}, {"options", {"nosuid", "mode=755"}}},
          {{"destination", "/out"}, {"type", "bind"}, {"source", dir_.sub("out")}, {"options", {"rbind", "rw"}}}}},
        {"linux",
         {{"namespaces", {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "uts"}}, {{"type", "ipc"}}, {{"type", "network"}}}},
          {"cgroupsPath", "/" + cgroupRoot_ + "/" + id},
          {"resources", {{"memory", {{"limit", 64 << 20}}}, {"pids", {{"limit", 64}}}}},
          {"maskedPaths", {"/proc/kcore"}},
          {"readonlyPaths", {"/proc/sys"}}}}};
    if (adjust) adjust(config);
    REQUIRE(writeFileAtomic(dir_.sub("config.json"), config.dump()));
  }
  ~Bundle() {
    for (const char* hierarchy : {"unified", "memory", "cpu,cpuacct", "pids", "cpu", "cpuacct", "devices"})
      ::rmdir(("/sys/fs/cgroup/" + std::string(hierarchy) + "/" + cgroupRoot_).c_str());
  }
  const testing::TempDir& dir() const { return dir_; }
  std::string path() const { return dir_.path(); }
  const std::string& cgroupRoot() const { return cgroupRoot_; }

 private:
  testing::TempDir dir_{"berth-oci-bundle"};
  std::string cgroupRoot_;
};

json stateOf(Runtime& runtime, const std::string& id) {
  auto state = runtime.state(id);
  REQUIRE(state);
  return json::parse(*state);
}

// The caller of `create` is the init's parent (containerd's shim, a subreaper): here the test.
int reap(pid_t pid) {
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("berth-oci: create holds the init at its gate, start runs it, state follows, delete removes it", "[oci]") {
  Bundle bundle("c1", {"/bin/sh", "-c", "echo $(hostname) $$ > /out/ran; exit 7"});
  testing::TempDir root("berth-oci-root");
  Runtime runtime(GlobalOptions{root.path(), false});
  CreateOptions options{bundle.path(), root.sub("c1.pid"), ""};
  REQUIRE(runtime.create("c1", options));
  const std::string pidText = fileText(root.sub("c1.pid"));
  const pid_t pid = std::stoi(pidText);
  CHECK(pidText.find('\n') == std::string::npos);
  json created = stateOf(runtime, "c1");
  CHECK(created["status"] == "created");
  CHECK(created["pid"] == pid);
  CHECK(created["bundle"] == bundle.path());
  // In its cgroup before create returned (containerd's shim reads it at once).
  CHECK(fileText("/proc/" + std::to_string(pid) + "/cgroup").find(bundle.cgroupRoot() + "/c1") != std::string::npos);
  CHECK_FALSE(pathExists(bundle.dir().sub("out/ran")));
  CHECK(runtime.create("c1", options).error().code == Errc::already_exists);

  REQUIRE(runtime.start("c1"));
  CHECK(reap(pid) == 7);
  CHECK(fileText(bundle.dir().sub("out/ran")) == "oci-test 1\n");
  CHECK(stateOf(runtime, "c1")["status"] == "stopped");
  CHECK(runtime.start("c1").error().message.find("stopped") != std::string::npos);
  CHECK(runtime.kill("c1", "TERM", false).error().message == "container not running");
  REQUIRE(runtime.remove("c1", false));
  CHECK(runtime.state("c1").error().message.find("does not exist") != std::string::npos);
  CHECK_FALSE(pathExists("/sys/fs/cgroup/unified/" + bundle.cgroupRoot() + "/c1"));
}

TEST_CASE("berth-oci: a running container is signalled, paused, exec'd into, and a created one deleted", "[oci]") {
  Bundle bundle("c2", {"/bin/sh", "-c", "trap 'exit 3' TERM; while true; do sleep 0.05; done"});
  testing::TempDir root("berth-oci-root");
  Runtime runtime(GlobalOptions{root.path(), false});
  REQUIRE(runtime.create("c2", CreateOptions{bundle.path(), root.sub("c2.pid"), ""}));
  const pid_t pid = std::stoi(fileText(root.sub("c2.pid")));
  REQUIRE(runtime.start("c2"));
  CHECK(stateOf(runtime, "c2")["status"] == "running");
  CHECK(runtime.remove("c2", false).error().code == Errc::state_conflict);

  REQUIRE(runtime.pause("c2"));
  CHECK(stateOf(runtime, "c2")["status"] == "paused");
  REQUIRE(runtime.resume("c2"));
  CHECK(stateOf(runtime, "c2")["status"] == "running");
  auto processes = runtime.processes("c2");
  REQUIRE(processes);
  CHECK(std::find(processes->begin(), processes->end(), pid) != processes->end());

  const std::string process = root.sub("process.json");
  REQUIRE(writeFileAtomic(process, json{{"args", {"/bin/sh", "-c", "echo exec > /out/exec; exit 4"}},
                                  {"env", {"PATH=/bin"}},
                                  {"cwd", "/"},
                                  {"user", {{"uid", 0}, {"gid", 0}}}}
                                 .dump()));
  auto code = runtime.exec("c2", ExecOptions{process, false, root.sub("exec.pid"), ""});
  REQUIRE(code);
  CHECK(*code == 4);
  CHECK(fileText(bundle.dir().sub("out/exec")) == "exec\n");

  REQUIRE(runtime.kill("c2", "SIGTERM", false));
  CHECK(reap(pid) == 3);
  REQUIRE(runtime.remove("c2", false));

  // Deleting a created container kills it (runc's rule).
  auto third = runtime.create("c3", CreateOptions{bundle.path(), root.sub("c3.pid"), ""});
  INFO((third ? std::string() : third.error().describe()));
  REQUIRE(third);
  const pid_t waiting = std::stoi(fileText(root.sub("c3.pid")));
  REQUIRE(runtime.remove("c3", false));
  CHECK(reap(waiting) == 128 + SIGKILL);
}

TEST_CASE("berth-oci: a bad bundle is refused with the field named, and nothing is left", "[oci]") {
  Bundle bundle("c4", {"/bin/true"});
  testing::TempDir root("berth-oci-root");
  auto config = json::parse(fileText(bundle.dir().sub("config.json")));
  config["process"]["capabilities"]["bounding"].push_back("CAP_NOT_A_THING");
  REQUIRE(writeFileAtomic(bundle.dir().sub("config.json"), config.dump()));
  Runtime runtime(GlobalOptions{root.path(), false});
  auto refused = runtime.create("c4", CreateOptions{bundle.path(), root.sub("c4.pid"), ""});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("CAP_NOT_A_THING") != std::string::npos);
  CHECK_FALSE(pathExists(root.sub("c4")));
  CHECK_FALSE(pathExists("/sys/fs/cgroup/unified/" + bundle.cgroupRoot() + "/c4"));
  CHECK(runtime.create("../x", CreateOptions{bundle.path(), "", ""}).error().code == Errc::invalid_argument);
}

TEST_CASE("berth-oci: sysctl, devices, seccomp, umask, extra groups, oom_score_adj and a joined namespace apply", "[oci]") {
  const std::string script =
      "cat /proc/sys/net/ipv4/ip_forward > /out/sysctl;"
      "stat -c '%t:%T %a' /dev/fuse > /out/device;"
      "mkdir /tmp/blocked 2> /out/seccomp; echo $? >> /out/seccomp;"
      "touch /out/umask-file; stat -c %a /out/umask-file > /out/umask;"
      "id -G > /out/groups;"
      "cat /proc/self/oom_score_adj > /out/oom;"
      "readlink /proc/self/ns/uts > /out/uts";
  const std::string hostUts = [] {
    char target[128];
    ssize_t n = ::readlink("/proc/self/ns/uts", target, sizeof target - 1);
    REQUIRE(n > 0);
    return std::string(target, static_cast<size_t>(n));
  }();
  Bundle bundle("c5", {"/bin/sh", "-c", script}, [](json& config) {
    config["process"]["user"] = {{"uid", 0}, {"gid", 0}, {"umask", 077}, {"additionalGids", {5, 6}}};
    config["process"]["oomScoreAdj"] = 500;
    // The container's own network namespace takes the sysctl; uts is joined: the test's own.
    config["linux"]["namespaces"] = {{{"type", "pid"}}, {{"type", "mount"}}, {{"type", "network"}},
                                     {{"type", "uts"}, {"path", "/proc/self/ns/uts"}}};
    config.erase("hostname");
    config["linux"]["readonlyPaths"] = json::array();
    config["linux"]["sysctl"] = {{"net.ipv4.ip_forward", "1"}};
    config["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229}, {"fileMode", 0640}}};
    config["linux"]["seccomp"] = {{"defaultAction", "SCMP_ACT_ALLOW"},
                                  {"syscalls", {{{"names", {"mkdir", "mkdirat"}}, {"action", "SCMP_ACT_ERRNO"}}}}};
  });
  testing::TempDir root("berth-oci-root");
  const std::string hostForwarding = fileText("/proc/sys/net/ipv4/ip_forward");
  Runtime runtime(GlobalOptions{root.path(), false});
  auto created = runtime.create("c5", CreateOptions{bundle.path(), root.sub("c5.pid"), ""});
  INFO((created ? std::string() : created.error().describe()));
  REQUIRE(created);
  const pid_t pid = std::stoi(fileText(root.sub("c5.pid")));
  REQUIRE(runtime.start("c5"));
  CHECK(reap(pid) == 0);
  const std::string out = bundle.dir().sub("out/");
  CHECK(fileText(out + "sysctl") == "1\n");
  CHECK(fileText(out + "device") == "a:e5 640\n");  // 10:229 in hex, the spec's mode
  CHECK(fileText(out + "seccomp").find("Operation not permitted") != std::string::npos);
  CHECK(fileText(out + "umask") == "600\n");
  CHECK(fileText(out + "groups") == "0 5 6\n");
  CHECK(fileText(out + "oom") == "500\n");
  CHECK(fileText(out + "uts") == hostUts + "\n");
  REQUIRE(runtime.remove("c5", false));
  // The host's own sysctl is untouched by the container's.
  CHECK(fileText("/proc/sys/net/ipv4/ip_forward") == hostForwarding);
}

TEST_CASE("berth-oci: linux.resources.devices decides which nodes open; a cgroup mount shows the container's own groups", "[oci]") {
  // /dev is a tmpfs without nodev here, as in most bundles: only the device cgroup decides.
  const std::string script =
      "(exec 3<>/dev/fuse) && echo fuse-opened > /out/devices || echo fuse-refused > /out/devices;"
      "(exec 3</dev/loop-control) && echo loop-opened >> /out/devices || echo loop-refused >> /out/devices;"
      "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes > /out/limits;"
      "echo 1 > /sys/fs/cgroup/pids/pids.max || echo refused >> /out/limits";
  Bundle bundle("c7", {"/bin/sh", "-c", script}, [](json& config) {
    config["linux"]["devices"] = {{{"path", "/dev/fuse"}, {"type", "c"}, {"major", 10}, {"minor", 229}},
                                  {{"path", "/dev/loop-control"}, {"type", "c"}, {"major", 10}, {"minor", 237}}};
    config["linux"]["resources"]["devices"] = {{{"allow", false}, {"access", "rwm"}},
                                               {{"allow", true}, {"type", "c"}, {"major", 10}, {"minor", 229}, {"access", "rw"}}};
    config["linux"]["namespaces"].push_back({{"type", "cgroup"}});
    config["mounts"].push_back({{"destination", "/sys"}, {"type", "sysfs"}, {"source", "sysfs"}, {"options", {"ro", "nosuid", "nodev", "noexec"}}});
    config["mounts"].push_back({{"destination", "/sys/fs/cgroup"}, {"type", "cgroup"}, {"source", "cgroup"},
                                {"options", {"ro", "nosuid", "nodev", "noexec", "relatime"}}});
  });
  testing::TempDir root("berth-oci-root");
  Runtime runtime(GlobalOptions{root.path(), false});
  auto created = runtime.create("c7", CreateOptions{bundle.path(), root.sub("c7.pid"), ""});
  INFO((created ? std::string() : created.error().describe()));
  REQUIRE(created);
  const pid_t pid = std::stoi(fileText(root.sub("c7.pid")));
  REQUIRE(runtime.start("c7"));
  CHECK(reap(pid) == 0);
  CHECK(fileText(bundle.dir().sub("out/devices")) == "fuse-opened\nloop-refused\n");
  CHECK(fileText(bundle.dir().sub("out/limits")) == "64\n" + std::to_string(64 << 20) + "\nrefused\n");
  REQUIRE(runtime.remove("c7", false));
}

TEST_CASE("berth-oci: prestart, createRuntime, poststart and poststop hooks get the state on stdin", "[oci]") {
  testing::TempDir hooks("berth-oci-hooks");
  // Each hook appends its name and the state it was given.
  auto hook = [&](const std::string& name) {
    return json{{"path", "/bin/sh"}, {"args", {"sh", "-c", "cat >> " + hooks.sub(name) + "; echo >> " + hooks.sub(name)}}};
  };
  Bundle bundle("c6", {"/bin/true"}, [&](json& config) {
    config["hooks"] = {{"prestart", {hook("prestart")}},
                       {"createRuntime", {hook("createRuntime")}},
                       {"poststart", {hook("poststart")}},
                       {"poststop", {hook("poststop")}}};
  });
  testing::TempDir root("berth-oci-root");
  Runtime runtime(GlobalOptions{root.path(), false});
  REQUIRE(runtime.create("c6", CreateOptions{bundle.path(), root.sub("c6.pid"), ""}));
  const pid_t pid = std::stoi(fileText(root.sub("c6.pid")));
  for (const char* name : {"prestart", "createRuntime"}) {
    INFO(name);
    json state = json::parse(fileText(hooks.sub(name)));
    CHECK(state["id"] == "c6");
    CHECK(state["status"] == "created");
    CHECK(state["pid"] == pid);
    CHECK(state["bundle"] == bundle.path());
  }
  CHECK_FALSE(pathExists(hooks.sub("poststart")));
  REQUIRE(runtime.start("c6"));
  CHECK(json::parse(fileText(hooks.sub("poststart")))["status"] == "running");
  CHECK(reap(pid) == 0);
  CHECK_FALSE(pathExists(hooks.sub("poststop")));
  REQUIRE(runtime.remove("c6", false));
  CHECK(json::parse(fileText(hooks.sub("poststop")))["status"] == "stopped");

  // A hook that fails fails the create, and nothing is left.
  Bundle failing("c7", {"/bin/true"}, [](json& config) {
    config["hooks"] = {{"createRuntime", {{{"path", "/bin/false"}}}}};
  });
  auto refused = runtime.create("c7", CreateOptions{failing.path(), root.sub("c7.pid"), ""});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("createRuntime hook /bin/false exited with 1") != std::string::npos);
  CHECK_FALSE(pathExists(root.sub("c7")));
  CHECK_FALSE(pathExists("/sys/fs/cgroup/unified/" + failing.cgroupRoot() + "/c7"));
}

}  // namespace berth::oci
