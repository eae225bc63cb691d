// The runtime's network plan: names, subnets, links, ports and /etc/hosts.
#include <catch2/catch.hpp>

#include "runtime/network.hpp"

using namespace berth;
using namespace berth::runtime;

namespace {

NetworkPlan plan(NetworkConfig config = {}) {
  auto made = NetworkPlan::make(config);
  if (!made) FAIL(made.error().describe());
  return *made;
}

}  // namespace

TEST_CASE("network plan: bad prefixes and pools are refused with their value") {
  for (const char* prefix : {"", "Berth", "berth12", "br-x", "b_1"}) {
    auto made = NetworkPlan::make({prefix, "10.89.0.0/16", false});
    REQUIRE_FALSE(made);
    CHECK(made.error().code == Errc::invalid_argument);
    CHECK(made.error().message.find("bridge_prefix") != std::string::npos);
  }
  for (const char* pool : {"10.89.0.0/25", "10.0.0.0/8", "10.89.0.1/16", "banana"}) {
    auto made = NetworkPlan::make({"berth", pool, false});
    REQUIRE_FALSE(made);
    CHECK(made.error().message.find("bridge_subnet") != std::string::npos);
  }
}

TEST_CASE("network plan: a /16 pool gives 256 /24s, each with .2-.254 for containers") {
  auto subnets = plan().subnetCandidates();
  REQUIRE(subnets.size() == 256);
  CHECK(subnets.front() == "10.89.0.0/24");
  CHECK(subnets[3] == "10.89.3.0/24");
  CHECK(subnets.back() == "10.89.255.0/24");
  auto addresses = NetworkPlan::addressCandidates(*net::parseIpv4Network("10.89.3.0/24"));
  REQUIRE(addresses.size() == 253);
  CHECK(addresses.front() == "10.89.3.2");
  CHECK(addresses.back() == "10.89.3.254");
}

TEST_CASE("network plan: link names fit the kernel's 15 characters and are stable") {
  auto p = plan({"bt9", "10.201.0.0/16", false});
  std::string veth = p.hostVethName("65000000000000000000abcd");
  CHECK(veth.size() <= 15);
  CHECK(veth == p.hostVethName("65000000000000000000abcd"));
  CHECK(veth != p.hostVethName("65000000000000000000abce"));
  CHECK(p.isHostVeth(veth));
  CHECK_FALSE(p.isHostVeth("bt9-3"));
  CHECK_FALSE(p.isHostVeth("eth0"));
  CHECK(p.bridgeName(*net::parseIpv4Network("10.201.3.0/24")) == "bt9-3");
  CHECK(plan({"abcdef", "10.80.0.0/12", false}).bridgeName(*net::parseIpv4Network("10.95.255.0/24")) ==
        "abcdef-4095");

  store::ContainerRecord record;
  record.id = "65000000000000000000abcd";
  record.networkMode = "bridge";
  record.networkIp = "10.201.3.7";
  auto link = p.linkOf(record);
  REQUIRE(link);
  CHECK(link->bridge == "bt9-3");
  CHECK(link->hostVeth == veth);
  CHECK(net::formatPrefix(link->address) == "10.201.3.7/24");
  CHECK(net::formatIpv4(link->gateway) == "10.201.3.1");
  CHECK(link->mac == "02:b7:0a:c9:03:07");
  record.networkIp = "10.89.3.7";  // outside this pool
  CHECK_FALSE(p.linkOf(record));
}

TEST_CASE("published ports: the request's own mistakes name the field") {
  using P = store::PublishedPort;
  CHECK(checkPublishedPorts("none", {}));
  CHECK(checkPublishedPorts("bridge", {P{80, 8081, "tcp", "127.0.0.1"}, P{80, 8081, "tcp", "127.0.0.2"}}));
  auto message = [](const Result<void>& checked) { return checked ? std::string() : checked.error().message; };
  CHECK(message(checkPublishedPorts("none", {P{80, 8081, "tcp", "127.0.0.1"}})).find("bridge") != std::string::npos);
  CHECK(message(checkPublishedPorts("bridge", {P{80, 8081, "udp", "127.0.0.1"}})).find("ports[0].protocol") != std::string::npos);
  CHECK(message(checkPublishedPorts("bridge", {P{80, 8081, "tcp", "localhost"}})).find("ports[0].host_ip") != std::string::npos);
  CHECK(message(checkPublishedPorts("bridge", {P{80, 8081, "tcp", "127.0.0.1"}, P{81, 8081, "tcp", "0.0.0.0"}}))
            .find("ports[1].host_port") != std::string::npos);
}

TEST_CASE("/etc/hosts maps localhost, the hostname and the name") {
  CHECK(hostsFile("web", "web", "10.89.3.7") ==
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n10.89.3.7\tweb\n");
  CHECK(hostsFile("h", "web", "10.89.3.8").ends_with("10.89.3.8\th web\n"));
}
