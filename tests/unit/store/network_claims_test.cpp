// Network claims: an address or a published port belongs to one live
// container, from its first write until its deletion, across reopen.
#include <catch2/catch.hpp>

#include "store_fixture.hpp"

using namespace berth;
using namespace berth::store;
using namespace berth::store::testfix;

namespace {

ContainerRecord bridged(uint64_t n, const std::string& ip, std::vector<PublishedPort> ports = {}) {
  auto record = makeContainer(containerId(n), "p1", "c" + std::to_string(n));
  record.networkMode = "bridge";
  record.networkIp = ip;
  record.ports = std::move(ports);
  return record;
}

void create(Store& store, const ContainerRecord& record) {
  auto created = store.createContainer(record, std::nullopt);
  if (!created) FAIL("createContainer: " << created.error().describe());
}

}  // namespace

TEST_CASE("network claims: an address is held by one live container until it is deleted") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  const std::vector<std::string> candidates{"10.201.0.2", "10.201.0.3", "10.201.0.4"};
  REQUIRE(store->firstUnclaimedAddress(candidates).value() == "10.201.0.2");

  auto first = bridged(1, "10.201.0.2");
  create(*store, first);
  REQUIRE(store->firstUnclaimedAddress(candidates).value() == "10.201.0.3");

  auto clash = store->createContainer(bridged(2, "10.201.0.2"), std::nullopt);
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code == Errc::already_exists);
  CHECK(clash.error().message.find("10.201.0.2") != std::string::npos);
  CHECK_FALSE(store->getContainer(containerId(2)));  // nothing of the refused create was written

  // Stop/start keep it; only deletion releases it.
  transition(*store, first, ContainerStatus::running, 1);
  transition(*store, first, ContainerStatus::stopped, 2);
  REQUIRE(store->firstUnclaimedAddress(candidates).value() == "10.201.0.3");
  transition(*store, first, ContainerStatus::deleted, 3);
  REQUIRE(store->firstUnclaimedAddress(candidates).value() == "10.201.0.2");
  create(*store, bridged(2, "10.201.0.2"));

  // Full: every candidate held.
  create(*store, bridged(3, "10.201.0.3"));
  create(*store, bridged(4, "10.201.0.4"));
  CHECK_FALSE(store->firstUnclaimedAddress(candidates).value().has_value());

  // Claims are data: they survive a reopen.
  store.reset();
  store = openStore(dir.sub("db"));
  CHECK_FALSE(store->firstUnclaimedAddress(candidates).value().has_value());
}

TEST_CASE("network claims: published ports conflict on the same port and overlapping host addresses") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  auto web = bridged(1, "10.201.0.2", {{80, 8081, "tcp", "127.0.0.1"}});
  create(*store, web);
  REQUIRE(store->portHolder({80, 8081, "tcp", "127.0.0.1"}).value() == containerId(1));
  REQUIRE(store->portHolder({80, 8081, "tcp", "0.0.0.0"}).value() == containerId(1));
  REQUIRE_FALSE(store->portHolder({80, 8081, "tcp", "127.0.0.2"}).value().has_value());
  REQUIRE_FALSE(store->portHolder({80, 8082, "tcp", "127.0.0.1"}).value().has_value());

  for (const PublishedPort& taken : {PublishedPort{22, 8081, "tcp", "127.0.0.1"}, PublishedPort{22, 8081, "tcp", "0.0.0.0"}}) {
    auto clash = store->createContainer(bridged(2, "10.201.0.3", {taken}), std::nullopt);
    REQUIRE_FALSE(clash);
    CHECK(clash.error().code == Errc::already_exists);
    CHECK(clash.error().detail == Detail::port_conflict);
    CHECK(clash.error().message.find("8081") != std::string::npos);
  }
  create(*store, bridged(2, "10.201.0.3", {{22, 8081, "tcp", "127.0.0.2"}}));

  // A change of ports moves the claim; the old port is free again.
  web.ports = {{80, 9090, "tcp", "0.0.0.0"}};
  REQUIRE(store->updateContainer(web));
  REQUIRE_FALSE(store->portHolder({80, 8081, "tcp", "127.0.0.1"}).value().has_value());
  REQUIRE(store->portHolder({80, 9090, "tcp", "127.0.0.5"}).value() == containerId(1));
  auto moved = web;
  moved.ports = {{80, 8081, "tcp", "0.0.0.0"}};  // now overlaps container 2's 127.0.0.2:8081
  auto refused = store->updateContainer(moved);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().detail == Detail::port_conflict);
  REQUIRE(store->portHolder({80, 9090, "tcp", "0.0.0.0"}).value() == containerId(1));  // the refused write changed nothing

  transition(*store, web, ContainerStatus::deleted, 5);
  REQUIRE_FALSE(store->portHolder({80, 9090, "tcp", "0.0.0.0"}).value().has_value());
}

TEST_CASE("network claims: a project keeps the subnet it was given; subnets run out cleanly") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  const std::vector<std::string> subnets{"10.201.0.0/24", "10.201.1.0/24"};
  REQUIRE_FALSE(store->projectSubnet("p1").value().has_value());
  REQUIRE(store->assignProjectSubnet("p1", subnets).value() == "10.201.0.0/24");
  REQUIRE(store->assignProjectSubnet("p2", subnets).value() == "10.201.1.0/24");
  REQUIRE(store->assignProjectSubnet("p1", subnets).value() == "10.201.0.0/24");
  REQUIRE_FALSE(store->assignProjectSubnet("p3", subnets).value().has_value());
  store.reset();
  store = openStore(dir.sub("db"));
  REQUIRE(store->projectSubnet("p2").value() == "10.201.1.0/24");
}

TEST_CASE("id range claims: a user namespace's host ids are held by one live container until it is deleted") {
  testing::TempDir dir;
  auto store = openStore(dir.sub("db"));
  const std::vector<uint32_t> candidates{1u << 28, (1u << 28) + 65536};
  auto isolated = [](uint64_t n, uint32_t hostUid) {
    auto record = makeContainer(containerId(n), "p1", "u" + std::to_string(n));
    record.isolation = std::string(kUserNamespace);
    record.idMap = IdMap{hostUid, hostUid, 65536};
    record.user = ProcessUser{"app:staff", 1000, 50, {50, 100}};
    record.umask = 027;
    return record;
  };
  REQUIRE(store->firstUnclaimedIdRange(candidates).value() == candidates[0]);
  auto first = isolated(1, candidates[0]);
  create(*store, first);
  REQUIRE(store->firstUnclaimedIdRange(candidates).value() == candidates[1]);
  // The record keeps what it was given.
  CHECK(store->getContainer(containerId(1)).value() == first);

  auto clash = store->createContainer(isolated(2, candidates[0]), std::nullopt);
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code == Errc::already_exists);
  CHECK(clash.error().message.find(std::to_string(candidates[0])) != std::string::npos);

  transition(*store, first, ContainerStatus::running, 1);
  transition(*store, first, ContainerStatus::stopped, 2);
  create(*store, isolated(2, candidates[1]));
  CHECK_FALSE(store->firstUnclaimedIdRange(candidates).value().has_value());
  store.reset();
  store = openStore(dir.sub("db"));
  CHECK_FALSE(store->firstUnclaimedIdRange(candidates).value().has_value());
  auto reread = store->getContainer(containerId(1)).value();
  transition(*store, reread, ContainerStatus::deleted, 3);
  CHECK(store->firstUnclaimedIdRange(candidates).value() == candidates[0]);
}
