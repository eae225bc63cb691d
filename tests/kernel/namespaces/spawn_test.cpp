// spawnInit on the real kernel: namespaces, the overlay root, /dev, /proc,
// /sys, failures before exec, and no trace left on the host.
#include <signal.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/files.hpp"
#include "kernel/namespaces/ns_fixture.hpp"

namespace berth::ns::testing {
namespace {

std::string fileText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A v2 group of our own (the unified tree of a hybrid host, or the root of a
// pure v2 one), removed once the test is done with it.
class TempCgroup {
 public:
  TempCgroup() {
    const std::string root =
        pathExists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified/" : "/sys/fs/cgroup/";
    name_ = berth::testing::uniqueCgroupRoot("ns");
    path_ = root + name_;
    REQUIRE(::mkdir(path_.c_str(), 0755) == 0);
  }
  ~TempCgroup() {
    if (::rmdir(path_.c_str()) != 0) std::fprintf(stderr, "rmdir %s: %s\n", path_.c_str(), std::strerror(errno));
  }
  TempCgroup(const TempCgroup&) = delete;
  TempCgroup& operator=(const TempCgroup&) = delete;
  const std::string& name() const { return name_; }
  std::string procs() const { return path_ + "/cgroup.procs"; }

 private:
  std::string name_;
  std::string path_;
};

TEST_CASE("the command runs as pid 1 of its own pid namespace", "[spawn]") {
  Sandbox box;
  RunResult result = run(box.shell("echo $$; ls /proc | grep -c '^[0-9]'"));
  CHECK(result.status.exitCode == 0);
  std::istringstream lines(result.output);
  int pid = 0, visible = 0;
  lines >> pid >> visible;
  CHECK(pid == 1);
  CHECK(visible >= 1);
  CHECK(visible <= 3);  // sh, ls, grep: no host process
}

TEST_CASE("the container has its own hostname", "[spawn]") {
  Sandbox box;
  InitSpec spec = box.spec({"hostname"});
  spec.hostname = "berth-box";
  utsname before{};
  ::uname(&before);
  RunResult result = run(spec);
  CHECK(result.output == "berth-box\n");
  utsname after{};
  ::uname(&after);
  CHECK(std::string(after.nodename) == before.nodename);
}

TEST_CASE("the container's root is the overlay, not the host's", "[spawn]") {
  Sandbox box;
  const std::string hostFile = box.dir().sub("host-only");
  std::ofstream(hostFile) << "host";
  RunResult result = run(box.shell("test -e " + hostFile + " && echo visible || echo hidden; cat /etc/hostname"));
  CHECK(result.output == "hidden\nbusybox\n");
}

TEST_CASE("writes land in the upper dir and never in the image", "[spawn]") {
  Sandbox box;
  RunResult result = run(box.shell("echo written > /root/note"));
  CHECK(result.status.exitCode == 0);
  CHECK(fileText(box.upper() + "/root/note") == "written\n");
  CHECK_FALSE(pathExists(imageDir() + "/root/note"));

  Sandbox other;
  RunResult second = run(other.shell("test -e /root/note && echo seen || echo unseen"));
  CHECK(second.output == "unseen\n");
}

TEST_CASE("the container has its own network namespace with loopback up", "[spawn]") {
  Sandbox box;
  RunResult result = run(box.shell("ls /sys/class/net; cat /sys/class/net/lo/flags"));
  std::istringstream lines(result.output);
  std::string devices, flags;
  lines >> devices >> flags;
  CHECK(devices == "lo");
  CHECK((std::stoul(flags, nullptr, 16) & 0x1) == 0x1);  // IFF_UP
}

TEST_CASE("/dev holds the minimal nodes and no host devices", "[spawn]") {
  Sandbox box;
  RunResult result = run(box.shell("ls /dev | tr '\\n' ' '; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo ok"));
  CHECK(result.output == "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero 4\nok\n");
}

TEST_CASE("/proc and /sys hide kernel internals and /proc/sys is read-only", "[spawn]") {
  Sandbox box;
  // Which of these exist depends on the kernel's config; those that do must read empty.
  RunResult result = run(box.shell(
      "for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do"
      "  [ -e $f ] && echo \"$f $(wc -c < $f)\"; done;"
      " ls -A /sys/firmware | wc -l;"
      " echo x > /proc/sys/kernel/hostname || echo refused"));
  INFO(result.output);
  CHECK(result.output.find("/proc/timer_list 0\n") != std::string::npos);
  CHECK(result.output.find("/proc/keys 0\n") != std::string::npos);
  CHECK(result.output.find("\n0\n") != std::string::npos);  // /sys/firmware is an empty tmpfs
  CHECK(result.output.find("Read-only file system") != std::string::npos);
  CHECK(result.output.ends_with("refused\n"));
}

TEST_CASE("/sys is mounted read-only", "[spawn]") {
  Sandbox box;
  RunResult result = run(box.shell("grep ' /sys ' /proc/mounts | grep -c '\\bro\\b'"));
  CHECK(result.output == "1\n");
}

TEST_CASE("the exit code and the killing signal come back", "[spawn]") {
  Sandbox box;
  SECTION("exit code") {
    RunResult result = run(box.shell("exit 7"));
    CHECK(result.status.exitCode == 7);
    CHECK(result.status.signal == 0);
  }
  SECTION("signal") {
    auto child = spawnInit(box.spec({"sleep", "100"}));
    REQUIRE(child);
    REQUIRE(child->signal(SIGKILL));
    auto status = child->wait(std::chrono::seconds(10));
    REQUIRE(status);
    REQUIRE(status->has_value());
    CHECK((*status)->signal == SIGKILL);
  }
}

TEST_CASE("the environment, PATH lookup and stdin reach the command", "[spawn]") {
  Sandbox box;
  SECTION("env and PATH") {
    InitSpec spec = box.spec({"sh", "-c", "echo $GREETING"});
    spec.env = {"PATH=/nowhere:/bin", "GREETING=hello"};
    CHECK(run(spec).output == "hello\n");
  }
  SECTION("default PATH") {
    InitSpec spec = box.spec({"echo", "found"});
    spec.env = {};
    CHECK(run(spec).output == "found\n");
  }
  SECTION("stdin from a pipe") {
    Pipe in = makePipe();
    InitSpec spec = box.spec({"cat"});
    spec.stdinFd = in.read.get();
    REQUIRE(::write(in.write.get(), "piped", 5) == 5);
    in.write.reset();
    CHECK(run(spec).output == "piped");
  }
  SECTION("stdin defaults to /dev/null") {
    RunResult result = run(box.spec({"cat"}));
    CHECK(result.status.exitCode == 0);
    CHECK(result.output.empty());
  }
  SECTION("working dir") {
    InitSpec spec = box.spec({"pwd"});
    spec.workingDir = "/etc";
    CHECK(run(spec).output == "/etc\n");
  }
}

TEST_CASE("the command gets only fds 0-2, default signals and its own session", "[spawn]") {
  Sandbox box;
  // Inherited without O_CLOEXEC, as a careless library in the daemon might leave it.
  UniqueFd stray(::open("/dev/null", O_RDONLY));
  REQUIRE(stray.valid());
  sigset_t blocked, saved;
  ::sigemptyset(&blocked);
  ::sigaddset(&blocked, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &blocked, &saved);
  struct sigaction ignore {}, previous {};
  ignore.sa_handler = SIG_IGN;
  ::sigaction(SIGUSR1, &ignore, &previous);

  RunResult result = run(box.spec({"sh", "-c", "ls /proc/self/fd | tr '\\n' ' '; grep -E '^Sig(Blk|Ign)' /proc/self/status; "
                                                "cut -d' ' -f6 /proc/self/stat"}));
  ::sigaction(SIGUSR1, &previous, nullptr);
  ::pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  // ls has its directory open as fd 3; the shell's session id is its pid.
  CHECK(result.output == "0 1 2 3 SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n1\n");
}

TEST_CASE("failures before exec come back with the step and errno", "[spawn]") {
  Sandbox box;
  SECTION("missing command") {
    auto child = spawnInit(box.spec({"/bin/nonexistent"}));
    REQUIRE_FALSE(child);
    CHECK(child.error().code == Errc::container_config);
    CHECK(child.error().sysErrno == ENOENT);
    CHECK(child.error().describe() == "exec \"/bin/nonexistent\": No such file or directory");
  }
  SECTION("command not on PATH") {
    auto child = spawnInit(box.spec({"no-such-tool"}));
    REQUIRE_FALSE(child);
    CHECK(child.error().code == Errc::container_config);
    CHECK(child.error().sysErrno == ENOENT);
  }
  SECTION("not executable") {
    auto child = spawnInit(box.spec({"/etc/passwd"}));
    REQUIRE_FALSE(child);
    CHECK(child.error().code == Errc::container_config);
    CHECK(child.error().sysErrno == EACCES);
  }
  SECTION("bad working dir") {
    InitSpec spec = box.spec({"true"});
    spec.workingDir = "/nope";
    auto child = spawnInit(spec);
    REQUIRE_FALSE(child);
    CHECK(child.error().code == Errc::container_config);
    CHECK(child.error().describe() == "working dir \"/nope\": No such file or directory");
  }
  SECTION("host refuses a mount") {
    InitSpec spec = box.spec({"true"});
    spec.rootfs.workDir = box.dir().sub("missing-work");
    auto child = spawnInit(spec);
    REQUIRE_FALSE(child);
    CHECK(child.error().code == Errc::host_refused);
    CHECK(child.error().message == "mount overlay on " + box.dir().sub("merged"));
  }
  CHECK(berth::testing::mountsContaining(box.dir().path()).empty());
  // The failed child was reaped: no child of ours is left.
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("a cgroup the child cannot join fails the start before anything is set up", "[spawn]") {
  Sandbox box;
  InitSpec spec = box.spec({"true"});
  const std::string missing = box.dir().sub("no-such-group/cgroup.procs");
  spec.cgroupJoinFiles = {missing};
  auto child = spawnInit(spec);
  REQUIRE_FALSE(child);
  CHECK(child.error().code == Errc::host_refused);
  CHECK(child.error().describe() == "join cgroup " + missing + ": No such file or directory");
  CHECK(berth::testing::mountsContaining(box.dir().path()).empty());
  CHECK(::waitpid(-1, nullptr, WNOHANG) == -1);
  CHECK(errno == ECHILD);
}

TEST_CASE("the child runs in the given group, the root of its cgroup namespace", "[spawn]") {
  TempCgroup group;
  Sandbox box;
  {
    InitSpec spec = box.spec({"sleep", "100"});
    spec.cgroupJoinFiles = {group.procs()};
    auto child = spawnInit(spec);
    REQUIRE(child);
    auto hostView = readFile("/proc/" + std::to_string(child->pid()) + "/cgroup");
    REQUIRE(hostView);
    CHECK(hostView->find("0::/" + group.name() + "\n") != std::string::npos);
    REQUIRE(child->signal(SIGKILL));
    REQUIRE(child->wait(std::chrono::seconds(10)));
  }
  InitSpec spec = box.spec({"grep", "^0::", "/proc/self/cgroup"});
  spec.cgroupJoinFiles = {group.procs()};
  CHECK(run(spec).output == "0::/\n");
}

TEST_CASE("nothing is mounted on the host, during or after", "[spawn]") {
  Sandbox box;
  auto child = spawnInit(box.spec({"sleep", "100"}));
  REQUIRE(child);
  CHECK(berth::testing::mountsContaining(box.dir().path()).empty());
  CHECK(berth::testing::mountsContaining(imageDir()).empty());
  REQUIRE(child->signal(SIGKILL));
  REQUIRE(child->wait(std::chrono::seconds(10)));
  CHECK(berth::testing::mountsContaining(box.dir().path()).empty());
}

}  // namespace
}  // namespace berth::ns::testing
