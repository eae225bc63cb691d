// A fork bomb stays inside its group's pids limit while the host and another
// container go on (issue 6). Here rather than in kernel/namespaces: it needs
// the cgroup drivers too. The escape probe itself runs in kernel_namespaces.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "cgroup/cgroup.hpp"
#include "common/scope_guard.hpp"
#include "kernel/namespaces/ns_fixture.hpp"

namespace berth::ns::testing {
namespace {

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
  REQUIRE((*bombGroup)->setLimits({.pidsMax = kPidsMax}));
  auto calmGroup = driver->createGroup("calm");
  REQUIRE(calmGroup);

  auto placedIn = [](cgroup::Group& group, InitSpec spec) {
    spec.cgroupJoinFiles = group.joinFiles();
    return spec;
  };
  Sandbox bombBox;
  auto bomb = spawnInit(placedIn(**bombGroup, bombBox.shell("b(){ b | b & }; b; sleep 1000")));
  REQUIRE(bomb);
  auto stopBomb = ScopeGuard([&] {
    (void)(*bombGroup)->killAll(std::chrono::seconds(10));
    (void)bomb->wait(std::chrono::seconds(10));
  });
  std::this_thread::sleep_for(std::chrono::seconds(1));

  auto stats = (*bombGroup)->stats();
  REQUIRE(stats);
  CHECK(stats->pidsCurrent <= kPidsMax);
  CHECK(stats->pidsCurrent >= kPidsMax / 2);  // it really is bombing
  for (int i = 0; i < 10; ++i) CHECK(hostSpawnTime() < std::chrono::seconds(1));

  Sandbox calmBox;
  RunResult calm = run(placedIn(**calmGroup, calmBox.shell("echo still here")));
  CHECK(calm.status.exitCode == 0);
  CHECK(calm.output == "still here\n");

  REQUIRE((*bombGroup)->killAll(std::chrono::seconds(10)));
  auto ended = bomb->wait(std::chrono::seconds(10));
  REQUIRE(ended);
  CHECK(ended->has_value());
  stopBomb.dismiss();
  REQUIRE((*bombGroup)->destroy());
  REQUIRE((*calmGroup)->destroy());
  CHECK(berth::testing::mountsContaining(bombBox.dir().path()).empty());
}

}  // namespace
}  // namespace berth::ns::testing
