// createContainer on the real kernel: an init a ContainerSpec describes (an
// OCI bundle's), set up and held at its start gate until the fifo is read,
// then exec'd with the spec's user, hostname and mounts; a step that fails
// is named and leaves no process behind.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/files.hpp"
#include "kernel/namespaces/ns_fixture.hpp"
#include "namespaces/container_spec.hpp"

namespace berth::ns::testing {
namespace {

std::string fileText(const std::string& path) { return readFile(path).value_or(""); }

ContainerSpec busyboxContainer(const TempDir& dir, const std::string& script) {
  berth::testing::makeBusyboxRootfs(dir.sub("rootfs"));
  REQUIRE(::mkdir(dir.sub("out").c_str(), 0777) == 0);
  REQUIRE(::chmod(dir.sub("out").c_str(), 0777) == 0);
  // Written by the init after it became the spec's user: as runc's, writable by all (its dir is not).
  REQUIRE(::mkfifo(dir.sub("start.fifo").c_str(), 0622) == 0);
  REQUIRE(::chmod(dir.sub("start.fifo").c_str(), 0622) == 0);
  ContainerSpec spec;
  spec.rootfs = dir.sub("rootfs");
  spec.hostname = "oci-box";
  spec.namespaces = {{CLONE_NEWPID, ""}, {CLONE_NEWNS, ""}, {CLONE_NEWUTS, ""}, {CLONE_NEWIPC, ""}, {CLONE_NEWNET, ""}};
  spec.mounts = {{"/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0, ""},
                 {"/dev", "tmpfs", "tmpfs", MS_NOSUID, 0, "mode=755,size=65536k"},
                 {"/out", "bind", dir.sub("out"), MS_BIND | MS_REC, 0, ""}};
  spec.maskedPaths = {"/proc/kcore"};
  spec.readonlyPaths = {"/proc/sys"};
  spec.process.args = {"/bin/sh", "-c", script};
  spec.process.env = {"PATH=/bin"};
  spec.process.cwd = "/out";
  spec.process.uid = 1000;
  spec.process.gid = 1000;
  spec.process.noNewPrivileges = true;
  spec.startFifo = dir.sub("start.fifo");
  return spec;
}

}  // namespace

TEST_CASE("a created container waits at its gate, then runs the spec's process as its user", "[container]") {
  TempDir dir("berth-oci-init");
  ContainerSpec spec = busyboxContainer(dir, "echo $$ $(hostname) $(id -u):$(id -g) $(pwd) > /out/result; exit 7");
  auto created = createContainer(spec);
  REQUIRE(created);
  // Set up, not started: still our code, not the command.
  CHECK(fileText("/proc/" + std::to_string(created->pid()) + "/comm").find("sh") != 0);
  CHECK_FALSE(pathExists(dir.sub("out/result")));

  UniqueFd gate(::open(spec.startFifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  REQUIRE(gate);
  pollfd pfd{gate.get(), POLLIN, 0};
  REQUIRE(::poll(&pfd, 1, 5000) == 1);
  char byte = 0;
  REQUIRE(::read(gate.get(), &byte, 1) == 1);
  auto status = created->wait(std::chrono::seconds(10));
  REQUIRE(status);
  REQUIRE(*status);
  CHECK((*status)->exitCode == 7);
  CHECK(fileText(dir.sub("out/result")) == "1 oci-box 1000:1000 /out\n");
}

TEST_CASE("a container with a console: its terminal's slave is stdio and /dev/console", "[container]") {
  TempDir dir("berth-oci-console");
  ContainerSpec spec = busyboxContainer(dir, "stat -L -c %t:%T /proc/self/fd/0 > /out/console; stat -c %t:%T /dev/console >> /out/console");
  spec.mounts.push_back({"/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, 0, "newinstance,ptmxmode=0666,mode=0620"});
  spec.rootReadonly = true;  // /dev/console is made before the root turns read-only
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  spec.consoleSocketFd = theirs.get();
  auto created = createContainer(spec);
  INFO((created ? std::string() : created.error().describe()));
  REQUIRE(created);
  theirs.reset();
  UniqueFd gate(::open(spec.startFifo.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(gate);
  char byte = 0;
  REQUIRE(::read(gate.get(), &byte, 1) == 1);
  auto status = created->wait(std::chrono::seconds(10));
  REQUIRE(status);
  REQUIRE(*status);
  CHECK((*status)->exitCode == 0);
  // Both the pty slave (major 136 = 0x88) of the container's devpts, the same node.
  const std::string lines = fileText(dir.sub("out/console"));
  CHECK(lines.starts_with("88:"));
  const size_t newline = lines.find('\n');
  REQUIRE(newline != std::string::npos);
  CHECK(lines.substr(newline + 1) == lines.substr(0, newline + 1));
}

TEST_CASE("a container spec step that fails is named and leaves no process", "[container]") {
  TempDir dir("berth-oci-bad");
  ContainerSpec spec = busyboxContainer(dir, "true");
  spec.mounts.push_back({"/broken", "no-such-fs", "none", 0, 0, ""});
  auto created = createContainer(spec);
  REQUIRE_FALSE(created);
  CHECK(created.error().message == "mount no-such-fs on /broken");
  CHECK(created.error().sysErrno == ENODEV);
  CHECK(created.error().code == Errc::host_refused);
}
}  // namespace berth::ns::testing
