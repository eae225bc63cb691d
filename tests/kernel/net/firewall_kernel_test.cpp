// The firewall on the real kernel, in a scratch namespace that plays the host
// (ip_forward on there only, never on the real host): two projects' bridges,
// containers on each. Without berth's rules one project reaches the other;
// with them it does not, while each still reaches its gateway and its own
// project's containers.
//
// libnftables talks to the namespace of the thread that makes its context
// and runs its commands, so every Firewall call runs on a thread inside the
// scratch namespace (inNetns).
#include <fstream>

#include "kernel/net/net_fixture.hpp"
#include "net/container_link.hpp"
#include "net/firewall.hpp"

namespace berth::net::testing {
namespace {

const std::string kTable = "berth_test";

// The packet counter of the first rule whose text starts with the match, -1 if none.
long rulePackets(const std::string& listing, const std::string& match) {
  size_t at = listing.find(match + " counter packets ");
  if (at == std::string::npos) return -1;
  return std::stol(listing.substr(at + match.size() + std::string(" counter packets ").size()));
}

bool writeInNetns(int netnsFd, const std::string& path, const std::string& value) {
  // /proc/sys/net shows the namespace of the thread that opens the file.
  return inNetns(netnsFd, [&] {
    std::ofstream out(path);
    out << value << "\n";
    out.flush();
    return static_cast<bool>(out);
  });
}

TEST_CASE("the firewall keeps projects apart in a scratch host, and apply({}) removes it") {
  const std::string hostForward = readFileTrimmed("/proc/sys/net/ipv4/ip_forward");
  {
    UniqueFd scratch = newNetns();
    UniqueFd nsA = newNetns();
    UniqueFd nsA2 = newNetns();
    UniqueFd nsB = newNetns();

    REQUIRE(writeInNetns(scratch.get(), "/proc/sys/net/ipv4/ip_forward", "1"));
    CHECK(inNetns(scratch.get(), [] { return readFileTrimmed("/proc/sys/net/ipv4/ip_forward"); }) == "1");
    CHECK(readFileTrimmed("/proc/sys/net/ipv4/ip_forward") == hostForward);  // the real host's is untouched
    // br_netfilter: bridged IPv4 passes the IP hooks in the scratch namespace too.
    CHECK(inNetns(scratch.get(), [] { return readFileTrimmed("/proc/sys/net/bridge/bridge-nf-call-iptables"); }) ==
          "1");

    auto opened = Netlink::openIn(scratch.get());
    REQUIRE(opened);
    Netlink& nl = *opened;  // links made through it live and die with the scratch namespace
    const std::string bridgePrefix = runPrefix() + "f";
    const std::string bridge1 = bridgePrefix + "1";
    const std::string bridge2 = bridgePrefix + "2";
    const Ipv4Prefix subnet1 = *parseIpv4Network("10.201.1.0/24");
    const Ipv4Prefix subnet2 = *parseIpv4Network("10.201.2.0/24");
    REQUIRE(nl.ensureBridge(bridge1, ifaceIn(subnet1, 1)));
    REQUIRE(nl.ensureBridge(bridge2, ifaceIn(subnet2, 1)));
    auto spec = [&](const std::string& bridge, const std::string& veth, const Ipv4Prefix& subnet, uint32_t host) {
      Ipv4Prefix address = ifaceIn(subnet, host);
      return ContainerLinkSpec{bridge, runPrefix() + veth, address, hostIn(subnet, 1), macForAddress(address.address)};
    };
    ContainerLinkSpec a = spec(bridge1, "va", subnet1, 10);
    ContainerLinkSpec a2 = spec(bridge1, "va2", subnet1, 11);
    ContainerLinkSpec b = spec(bridge2, "vb", subnet2, 10);
    REQUIRE(attachContainer(nl, nsA.get(), a));
    REQUIRE(attachContainer(nl, nsA2.get(), a2));
    REQUIRE(attachContainer(nl, nsB.get(), b));

    Listener inB = listenIn(nsB.get(), b.address.address);
    Listener inA = listenIn(nsA.get(), a.address.address);
    Listener inA2 = listenIn(nsA2.get(), a2.address.address);
    Listener onGateway1 = listenIn(scratch.get(), a.gateway);

    // Without berth's rules the scratch host routes one project into the other.
    REQUIRE(connects(nsA.get(), b.address.address, inB.port));
    REQUIRE(connects(nsB.get(), a.address.address, inA.port));

    auto firewall = inNetns(scratch.get(), [&] { return Firewall::open(kTable, bridgePrefix); });
    REQUIRE(firewall);
    auto run = [&](auto call) { return inNetns(scratch.get(), [&] { return call(*firewall); }); };
    CHECK(run([](Firewall& f) { return f.tableExists(); }) == false);
    auto absent = run([](Firewall& f) { return f.listTable(); });
    REQUIRE_FALSE(absent);
    CHECK(absent.error().message.find("No such file or directory") != std::string::npos);  // nft's own words

    const std::vector<BridgePolicy> policies{{bridge1, subnet1}, {bridge2, subnet2}};
    for (bool masquerade : {false, true}) {
      CAPTURE(masquerade);
      REQUIRE(run([&](Firewall& f) { return f.apply(policies, masquerade); }));
      CHECK(run([](Firewall& f) { return f.tableExists(); }) == true);

      CHECK_FALSE(connects(nsA.get(), b.address.address, inB.port, 400));
      CHECK_FALSE(connects(nsB.get(), a.address.address, inA.port, 400));
      CHECK(connects(nsA.get(), a.gateway, onGateway1.port));
      CHECK(connects(nsA.get(), a2.address.address, inA2.port));
      CHECK(connects(nsA2.get(), a.address.address, inA.port));

      // A to A2 is bridged, yet it passed the forward hook (br_netfilter) and
      // the intra-bridge accept: without that rule the drop below it would take it.
      auto listing = run([](Firewall& f) { return f.listTable(); });
      REQUIRE(listing);
      const std::string q1 = "\"" + bridge1 + "\"";
      CHECK(rulePackets(*listing, "iifname " + q1 + " oifname " + q1) > 0);
      CHECK(rulePackets(*listing, "iifname " + q1) > 0);  // A's SYNs towards B, dropped
    }

    REQUIRE(run([](Firewall& f) { return f.apply({}, false); }));
    CHECK(run([](Firewall& f) { return f.tableExists(); }) == false);
    CHECK(connects(nsA.get(), b.address.address, inB.port));
    REQUIRE(run([](Firewall& f) { return f.remove(); }));  // idempotent

    auto badName = run([&](Firewall& f) { return f.apply({{"bad\"name", subnet1}}, false); });
    REQUIRE_FALSE(badName);
    CHECK(badName.error().code == Errc::invalid_argument);

    drainAccepts(inB);
    drainAccepts(inA);
    drainAccepts(inA2);
    drainAccepts(onGateway1);
  }
  CHECK(readFileTrimmed("/proc/sys/net/ipv4/ip_forward") == hostForward);
  CHECK(leftoverLinks().empty());
}

}  // namespace
}  // namespace berth::net::testing
