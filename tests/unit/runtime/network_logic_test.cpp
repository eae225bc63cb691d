// Bridge networking in the lifecycle, without root: addresses claimed at
// create and released at delete, a veth while init runs, ports checked and
// handed to the monitor, bridges dropped when unused, recovery reconciling
// veths. The kernel side is tests/kernel/net and the e2e tests.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "logic_fixture.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace berth::runtime::logicfix;

namespace {

CreateRequest bridged(const std::string& name, std::vector<store::PublishedPort> ports = {}, bool autostart = true) {
  CreateRequest request;
  request.name = name;
  request.networkMode = "bridge";
  request.ports = std::move(ports);
  request.autostart = autostart;
  return request;
}

ContainerRecord made(Result<Created> created) {
  if (!created) FAIL(created.error().describe());
  if (created->startError) FAIL(created->startError->describe());
  return created->record;
}

const std::string kOtherProject = "0123456789abcdef0123aaaa";

}  // namespace

TEST_CASE("network logic: addresses come from the project's /24, stay through stop and start, free at delete") {
  LogicFixture f;
  auto first = made(f.create(bridged("first")));
  auto second = made(f.create(bridged("second")));
  CHECK(first.networkIp == "10.89.0.2");
  CHECK(second.networkIp == "10.89.0.3");
  auto request = bridged("elsewhere");
  request.projectId = kOtherProject;
  auto elsewhere = made(f.create(request));
  CHECK(elsewhere.networkIp == "10.89.1.2");
  auto plain = f.create("plain");
  CHECK_FALSE(plain.networkIp.has_value());

  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK(f.kernel().bridges == std::set<std::string>{"berth-0", "berth-1"});
    CHECK(f.kernel().veths.size() == 3);
    CHECK(f.kernel().attached.front().address.address == *net::parseIpv4("10.89.0.2"));
  }

  auto stopped = f.manager().operate(kOwner, first, Operation::stop);
  REQUIRE(stopped);
  CHECK(stopped->networkIp == "10.89.0.2");
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK(f.kernel().veths.size() == 2);  // a stop takes the veth, not the address
  }
  auto restarted = f.manager().operate(kOwner, *stopped, Operation::start);
  REQUIRE(restarted);
  CHECK(restarted->networkIp == "10.89.0.2");

  REQUIRE(f.manager().remove(kOwner, first.id, true, false));
  auto third = made(f.create(bridged("third")));
  CHECK(third.networkIp == "10.89.0.2");  // released by the delete, taken by the next

  // The other project's last container goes: so does its bridge.
  REQUIRE(f.manager().remove(kOwner, elsewhere.id, true, false));
  std::lock_guard lock(f.kernel().mutex);
  CHECK(f.kernel().bridges == std::set<std::string>{"berth-0"});
}

TEST_CASE("network logic: 16 concurrent creates get 16 distinct addresses") {
  LogicFixture f;
  std::vector<std::thread> creators;
  std::mutex mutex;
  std::vector<std::string> addresses;
  std::vector<std::string> errors;
  for (int i = 0; i < 16; ++i) {
    creators.emplace_back([&, i] {
      auto created = f.create(bridged("c" + std::to_string(i), {}, false));
      std::lock_guard lock(mutex);
      if (created && created->record.networkIp) addresses.push_back(*created->record.networkIp);
      else errors.push_back(created ? "no address" : created.error().describe());
    });
  }
  for (auto& creator : creators) creator.join();
  CHECK(errors.empty());
  CHECK(std::set<std::string>(addresses.begin(), addresses.end()).size() == 16);
}

TEST_CASE("network logic: a full /24 answers unavailable naming the subnet") {
  LogicFixture f;
  for (int i = 0; i < 253; ++i) made(f.create(bridged("c" + std::to_string(i), {}, false)));
  auto full = f.create(bridged("one-more", {}, false));
  REQUIRE_FALSE(full);
  CHECK(full.error().code == Errc::unavailable);
  CHECK(full.error().message.find("10.89.0.0/24") != std::string::npos);
  CHECK_FALSE(f.store().findContainerByName(kOwner, "one-more").value().has_value());
}

TEST_CASE("network logic: published ports reach the monitor; conflicts and bad ports are refused") {
  LogicFixture f;
  auto web = made(f.create(bridged("web", {{80, 8081, "tcp", "127.0.0.1"}})));
  {
    std::lock_guard lock(f.kernel().mutex);
    REQUIRE(f.kernel().lastSpec);
    CHECK(f.kernel().lastSpec->netnsFd >= 0);
    REQUIRE(f.kernel().lastSpec->ports.size() == 1);
    CHECK(f.kernel().lastSpec->ports[0].hostPort == 8081);
    CHECK(f.kernel().lastSpec->ports[0].targetIp == *net::parseIpv4(*web.networkIp));
    CHECK(f.kernel().lastSpec->ports[0].targetPort == 80);
  }

  auto taken = f.create(bridged("clash", {{80, 8081, "tcp", "0.0.0.0"}}));
  REQUIRE_FALSE(taken);
  CHECK(taken.error().detail == Detail::port_conflict);
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().hostPortsInUse.insert("127.0.0.1:9000");
  }
  auto hostHeld = f.create(bridged("host-held", {{80, 9000, "tcp", "127.0.0.1"}}));
  REQUIRE_FALSE(hostHeld);
  CHECK(hostHeld.error().detail == Detail::port_conflict);

  CreateRequest onNone;
  onNone.name = "on-none";
  onNone.ports = {{80, 9001, "tcp", "127.0.0.1"}};
  auto refused = f.create(onNone);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::invalid_argument);

  // ports change only while stopped; a stopped container keeps its own port free of itself.
  UpdateRequest change;
  change.ports = std::vector<store::PublishedPort>{{80, 8082, "tcp", "127.0.0.1"}};
  auto whileRunning = f.manager().update(kOwner, web.id, change);
  REQUIRE_FALSE(whileRunning);
  CHECK(whileRunning.error().code == Errc::state_conflict);
  REQUIRE(f.manager().operate(kOwner, web, Operation::stop));
  auto changed = f.manager().update(kOwner, web.id, change);
  REQUIRE(changed);
  CHECK(changed->container.ports.front().hostPort == 8082);
  auto freed = made(f.create(bridged("takes-8081", {{80, 8081, "tcp", "127.0.0.1"}}, false)));
  CHECK(freed.ports.front().hostPort == 8081);
}

TEST_CASE("network logic: a failed attach fails the start and leaves no veth") {
  LogicFixture f;
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().failNextAttach = Error{Errc::host_refused, 17, "create veth"};
  }
  auto created = f.create(bridged("unlucky"));
  REQUIRE(created);
  REQUIRE(created->startError);
  CHECK(created->record.status == ContainerStatus::failed);
  std::lock_guard lock(f.kernel().mutex);
  CHECK(f.kernel().veths.empty());
}

TEST_CASE("network logic: a monitor launch that fails removes the veth it was given") {
  LogicFixture f;
  {
    std::lock_guard lock(f.kernel().mutex);
    f.kernel().failNextLaunch = Error{Errc::host_refused, 98, "published ports: bind"};
  }
  auto created = f.create(bridged("no-launch"));
  REQUIRE(created);
  REQUIRE(created->startError);
  std::lock_guard lock(f.kernel().mutex);
  CHECK(f.kernel().veths.empty());
}

TEST_CASE("network logic: an exit takes the veth; recovery removes stale veths and re-attaches missing ones") {
  LogicFixture f;
  auto exits = made(f.create(bridged("exits")));
  auto lasting = made(f.create(bridged("lasting")));
  f.kernel().exitInit(exits.runtimeId, 0);
  REQUIRE(f.waitForStatus(exits.id, ContainerStatus::stopped));
  {
    std::lock_guard lock(f.kernel().mutex);
    CHECK(f.kernel().veths.size() == 1);
  }

  f.closeManager();
  std::string lastingVeth;
  {
    std::lock_guard lock(f.kernel().mutex);
    lastingVeth = *f.kernel().veths.begin();
    f.kernel().veths.clear();               // the running container's veth vanished
    f.kernel().veths.insert("berthv00000000");  // a stale one of this service
    f.kernel().attached.clear();
  }
  f.reopen();
  std::lock_guard lock(f.kernel().mutex);
  CHECK(f.kernel().veths == std::set<std::string>{lastingVeth});
  REQUIRE(f.kernel().attached.size() == 1);
  CHECK(f.kernel().attached[0].address.address == *net::parseIpv4(*lasting.networkIp));
}
