// An init in a user namespace (InitSpec::userNamespace) on the real kernel:
// uid 0 inside, the mapped uid outside, the image's files root's inside
// through the idmapped mount, new files owned by the mapped ids on the host,
// the user and umask of the spec applied, and nothing left mounted.
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "kernel/namespaces/ns_fixture.hpp"
#include "namespaces/userns.hpp"

namespace berth::ns::testing {
namespace {

constexpr uid_t kHostBase = 300000;

class UsernsBox {
 public:
  UsernsBox() {
    for (const std::string& dir : {box_.upper(), box_.dir().sub("work")})
      REQUIRE(::chown(dir.c_str(), kHostBase, kHostBase) == 0);
  }
  InitSpec shell(const std::string& script) const {
    InitSpec spec = box_.shell(script);
    spec.userNamespace = UserNamespaceMap{kHostBase, kHostBase, 65536};
    return spec;
  }
  const Sandbox& sandbox() const { return box_; }

 private:
  Sandbox box_;
};

TEST_CASE("user namespace: root inside, the mapped ids on the host and on disk") {
  UsernsBox box;
  RunResult result = run(box.shell(
      "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; stat -c '%u:%g' /bin/busybox /;"
      " echo x > /new; stat -c '%u:%g' /new; mknod /dev/n c 1 3 || echo mknod-refused"));
  INFO(result.output);
  CHECK(result.status.exitCode == 0);
  CHECK(result.output.find("0     300000      65536\n         0     300000      65536\n0\n0\n0:0\n0:0\n0:0\n") !=
        std::string::npos);
  CHECK(result.output.find("mknod-refused") != std::string::npos);
  struct stat st {};
  REQUIRE(::stat((box.sandbox().upper() + "/new").c_str(), &st) == 0);
  CHECK(st.st_uid == kHostBase);
  CHECK(st.st_gid == kHostBase);
  CHECK(berth::testing::mountsContaining(box.sandbox().dir().path()).empty());
}

TEST_CASE("user namespace: the host sees the mapped uid; a user and umask inside") {
  UsernsBox box;
  Pipe out = makePipe();
  InitSpec spec = box.shell("umask; id -u; id -G; exec sleep 30");
  spec.user = ProcessUser{1000, 100, {100, 7}};
  spec.umask = 077;
  spec.stdoutFd = out.write.get();
  spec.stderrFd = out.write.get();
  auto child = spawnInit(spec);
  out.write.reset();
  REQUIRE(child);
  std::ifstream status("/proc/" + std::to_string(child->pid()) + "/status");
  std::stringstream text;
  text << status.rdbuf();
  CHECK(text.str().find("Uid:\t301000\t301000\t301000\t301000\n") != std::string::npos);
  CHECK(text.str().find("Gid:\t300100\t300100\t300100\t300100\n") != std::string::npos);
  CHECK(text.str().find("Groups:\t300007 300100") != std::string::npos);
  // Its three lines, then the sleep it became is killed.
  std::string output;
  char buf[256];
  ssize_t n;
  while (std::count(output.begin(), output.end(), '\n') < 3 && (n = ::read(out.read.get(), buf, sizeof buf)) > 0)
    output.append(buf, static_cast<size_t>(n));
  REQUIRE(::kill(child->pid(), SIGKILL) == 0);
  REQUIRE(child->wait(std::chrono::seconds(10)));
  CHECK(output.starts_with("0077\n1000\n100 "));
}

TEST_CASE("user namespace: a network namespace to join is refused before anything runs") {
  UsernsBox box;
  InitSpec spec = box.shell("true");
  UniqueFd netns(::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC));
  spec.netnsFd = netns.get();
  auto child = spawnInit(spec);
  REQUIRE_FALSE(child);
  CHECK(child.error().code == Errc::invalid_argument);
}

TEST_CASE("user namespace: the kernel probe succeeds on this host") {
  berth::testing::TempDir scratch{"berth-userns-probe"};
  auto probed = probeUserNamespaceRoot(imageDir(), scratch.path());
  INFO((probed ? std::string() : probed.error().describe()));
  CHECK(probed);
  CHECK(berth::testing::mountsContaining(scratch.path()).empty());
}

}  // namespace
}  // namespace berth::ns::testing
