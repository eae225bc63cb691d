// Proof of the security defaults from inside: a static probe program tries
// each way out of a container (issue 6), and a fork bomb stays in its group.
// Here rather than in kernel/namespaces: it needs the cgroup drivers too.
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "common/files.hpp"
#include "common/scope_guard.hpp"
#include "kernel/namespaces/ns_fixture.hpp"

namespace berth::ns::testing {
namespace {

const std::string kProbe = BERTH_BUILD_DIR "/tests/probe/escape_probe";

TEST_CASE("every way out the probe tries is refused inside a container", "[probe]") {
  Sandbox box;
  auto probe = readFile(kProbe);
  REQUIRE(probe);
  REQUIRE(writeFileAtomic(box.upper() + "/probe", *probe, 0755));
  // The disk the host's root lives on, whole (a partition's disk would do as well).
  struct stat root {};
  REQUIRE(::stat("/", &root) == 0);
  std::string disk = std::to_string(major(root.st_dev)) + ":" + std::to_string(minor(root.st_dev));
  RunResult result = run(box.spec({"/probe", std::to_string(::getpid()), disk}));
  WARN("escape probe, action and outcome:\n" << result.output);
  std::istringstream lines(result.output);
  std::string line;
  int actions = 0;
  while (std::getline(lines, line)) {
    ++actions;
    INFO(line);
    CHECK(line.find(" refused:") != std::string::npos);
  }
  CHECK(actions >= 30);
  CHECK(result.status.signal == 0);
  CHECK(result.status.exitCode == 0);
}

// The host's own fork+exec, timed: it must keep working while a bomb runs.
std::chrono::milliseconds hostSpawnTime() {
  auto start = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execl("/bin/true", "true", nullptr);
    ::_exit(127);
  }
  REQUIRE(pid > 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
}

TEST_CASE("a fork bomb stays inside its pids limit; the host and another container go on", "[forkbomb]") {
  auto driver = cgroup::Driver::detect(berth::testing::uniqueCgroupRoot("bomb"));
  REQUIRE(driver);
  auto removeRoot = ScopeGuard([&] { (void)driver->removeRoot(); });
  constexpr uint64_t kPidsMax = 64;
  auto bombGroup = driver->createGroup("bomb");
  REQUIRE(bombGroup);
  REQUIRE(bombGroup->setLimits({.pidsMax = kPidsMax}));
  auto calmGroup = driver->createGroup("calm");
  REQUIRE(calmGroup);

  auto placedIn = [](cgroup::Group& group, InitSpec spec) {
    spec.cgroupFd = group.v2DirFd();
    spec.beforeSetup = [&group](pid_t pid) { return group.attachV1(pid); };
    return spec;
  };
  Sandbox bombBox;
  auto bomb = spawnInit(placedIn(*bombGroup, bombBox.shell("b(){ b | b & }; b; sleep 1000")));
  REQUIRE(bomb);
  auto stopBomb = ScopeGuard([&] {
    (void)bombGroup->killAll(std::chrono::seconds(10));
    (void)bomb->wait(std::chrono::seconds(10));
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));

  auto stats = bombGroup->stats();
  REQUIRE(stats);
  CHECK(stats->pidsCurrent <= kPidsMax);
  CHECK(stats->pidsCurrent >= kPidsMax / 2);  // it really is bombing
  for (int i = 0; i < 10; ++i) CHECK(hostSpawnTime() < std::chrono::seconds(1));

  Sandbox calmBox;
  RunResult calm = run(placedIn(*calmGroup, calmBox.shell("echo still here")));
  CHECK(calm.status.exitCode == 0);
  CHECK(calm.output == "still here\n");

  REQUIRE(bombGroup->killAll(std::chrono::seconds(10)));
  auto ended = bomb->wait(std::chrono::seconds(10));
  REQUIRE(ended);
  CHECK(ended->has_value());
  stopBomb.dismiss();
  REQUIRE(bombGroup->destroy());
  REQUIRE(calmGroup->destroy());
  CHECK(berth::testing::mountsContaining(bombBox.dir().path()).empty());
}

}  // namespace
}  // namespace berth::ns::testing
