// Every walkthrough of examples/walkthroughs (issue 22: one per seed
// scenario, each with curl and with berth) run against a real berthd, so
// that they never rot. Each scenario gets a service of its own; both of its
// scripts run there, one after the other, and must exit 0.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "e2e/cli_runner.hpp"
#include "e2e/service_fixture.hpp"

using namespace berth;
using namespace berth::e2e;

namespace {

const std::string kWalkthroughs = std::string(BERTH_SOURCE_DIR) + "/examples/walkthroughs/";

// A loopback port nothing listens on now (the kernel's pick, released at once).
int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  ::close(fd);
  return ntohs(address.sin_port);
}

void runWalkthrough(const Service& service, const std::string& script, const std::string& argument = {}) {
  std::map<std::string, std::string> env{
      {"BERTH_URL", "http://127.0.0.1:" + std::to_string(service.port())},
      {"BERTH_TOKEN", service.adminToken()},
      {"PATH", std::string(BERTH_BUILD_DIR) + "/cmd:" + (std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin")},
      {"EXAMPLE_PORT", std::to_string(freePort())}};
  std::vector<std::string> argv = {"bash", kWalkthroughs + script};
  if (!argument.empty()) argv.push_back(argument);
  ProgramRun run = runProgram(argv, env);
  INFO(script << " " << argument << "\n--- stdout\n" << run.out << "--- stderr\n" << run.err);
  CHECK(run.exitCode == 0);
}

std::string runtimeIdOf(const Service& service, const std::string& name) {
  Reply listed = service.get("/api/v1/containers?limit=100", service.adminToken());  // outlives the loop
  for (const Json& c : listed.data()["containers"])
    if (c["name"] == name) return c["runtime_id"];
  FAIL("no container named " << name);
  return {};
}

}  // namespace

TEST_CASE("examples: each walkthrough runs, with curl and with berth", "[examples]") {
  for (const char* scenario : {"01-daily-dev", "02-maintenance-window", "03-off-hours", "04-emergency-force-stop",
                               "06-env-dialect", "07-events-reconnect", "08-published-port", "09-snapshot-restore"}) {
    DYNAMIC_SECTION(scenario) {
      Service service;
      runWalkthrough(service, std::string(scenario) + ".curl.sh");
      runWalkthrough(service, std::string(scenario) + ".berth.sh");
      // Each walkthrough deletes what it made.
      CHECK(service.get("/api/v1/containers", service.adminToken()).data()["containers"].empty());
    }
  }
}

TEST_CASE("examples: the recreation walkthrough, its instance removed between its halves", "[examples]") {
  for (const char* client : {"curl", "berth"}) {
    DYNAMIC_SECTION(client) {
      Service service;
      const std::string script = std::string("05-recreate.") + client + ".sh";
      runWalkthrough(service, script, "before");
      std::string runtimeId = runtimeIdOf(service, "phoenix");
      service.crash();
      service.removeRuntimeInstance(runtimeId);
      service.start();
      runWalkthrough(service, script, "after");
      CHECK(service.get("/api/v1/containers", service.adminToken()).data()["containers"].empty());
    }
  }
}
