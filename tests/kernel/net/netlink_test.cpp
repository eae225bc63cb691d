// Links, addresses and routes on the real kernel: bridges on the host, veths
// into fresh namespaces, traffic over them. Every link is named with the
// run's prefix, removed by a guard, and each test fails on leftovers.
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "kernel/net/net_fixture.hpp"
#include "net/container_link.hpp"

namespace berth::net::testing {
namespace {

bool hasRoute(const std::vector<Ipv4Prefix>& routes, const Ipv4Prefix& prefix) {
  return std::find(routes.begin(), routes.end(), prefix) != routes.end();
}

ContainerLinkSpec containerSpec(const std::string& bridge, const std::string& hostVeth, const Ipv4Prefix& subnet,
                                uint32_t host) {
  Ipv4Prefix address = ifaceIn(subnet, host);
  return {bridge, hostVeth, address, hostIn(subnet, 1), macForAddress(address.address)};
}

TEST_CASE("ensureBridge creates a bridge with its address, up, and is idempotent") {
  {
    Netlink nl = openHost();
    UniqueFd ns = newNetns();
    LinkGuard links(nl);
    const std::string bridge = links.add(runPrefix() + "b0");
    const Ipv4Prefix gateway = ifaceIn(testSubnet(0), 1);

    REQUIRE_FALSE(nl.linkIndex(bridge).value().has_value());
    REQUIRE(nl.ensureBridge(bridge, gateway));
    auto index = nl.linkIndex(bridge);
    REQUIRE(index);
    REQUIRE(index->has_value());
    IfaceInfo info = ifaceInfo(-1, bridge);
    CHECK(info.up);
    CHECK(info.addresses == std::vector<Ipv4Prefix>{gateway});
    // Ports forward at once.
    CHECK(readFileTrimmed("/sys/class/net/" + bridge + "/bridge/forward_delay") == "0");
    CHECK(readFileTrimmed("/sys/class/net/" + bridge + "/bridge/stp_state") == "0");

    // Again: the same bridge, one address, still up.
    REQUIRE(nl.ensureBridge(bridge, gateway));
    CHECK(nl.linkIndex(bridge).value() == *index);
    CHECK(ifaceInfo(-1, bridge).addresses == std::vector<Ipv4Prefix>{gateway});

    // A bridge someone set down is set up again.
    REQUIRE(std::system(("ip link set " + bridge + " down").c_str()) == 0);
    REQUIRE_FALSE(ifaceInfo(-1, bridge).up);
    REQUIRE(nl.ensureBridge(bridge, gateway));
    CHECK(ifaceInfo(-1, bridge).up);

    // A link of that name that is not a bridge is not taken over.
    const std::string veth = links.add(runPrefix() + "h0");
    REQUIRE(nl.createVeth({veth, bridge, ns.get(), "eth0", "02:b7:00:00:00:01"}));
    auto notBridge = nl.ensureBridge(veth, ifaceIn(testSubnet(1), 1));
    REQUIRE_FALSE(notBridge);
    CHECK(notBridge.error().code == Errc::already_exists);
    CHECK(notBridge.error().message.find(veth) != std::string::npos);

    auto bad = nl.ensureBridge("no/slash", gateway);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == Errc::invalid_argument);
  }
  CHECK(leftoverLinks().empty());
}

TEST_CASE("a container's veth: eth0 with its MAC, MTU, address and default route; the host reaches it") {
  {
    Netlink nl = openHost();
    UniqueFd ns = newNetns();
    LinkGuard links(nl);
    const Ipv4Prefix subnet = testSubnet(2);
    const std::string bridge = links.add(runPrefix() + "b2");
    REQUIRE(nl.ensureBridge(bridge, ifaceIn(subnet, 1)));
    ContainerLinkSpec spec = containerSpec(bridge, links.add(runPrefix() + "h2"), subnet, 7);
    REQUIRE(attachContainer(nl, ns.get(), spec));

    // Inside: eth0 (never on the host), up, its address and MAC, the bridge's MTU; lo up.
    IfaceInfo eth0 = ifaceInfo(ns.get(), "eth0");
    REQUIRE(eth0.exists);
    CHECK(eth0.up);
    CHECK(eth0.addresses == std::vector<Ipv4Prefix>{spec.address});
    CHECK(eth0.mac == spec.mac);
    const int bridgeMtu = std::stoi(readFileTrimmed("/sys/class/net/" + bridge + "/mtu"));
    CHECK(eth0.mtu == bridgeMtu);
    CHECK(ifaceInfo(ns.get(), "lo").up);
    CHECK_FALSE(ifaceInfo(-1, "eth0").mac == spec.mac);  // the host's own eth0, if any, is not it

    // The host end: up, on the bridge, the bridge's MTU.
    IfaceInfo hostEnd = ifaceInfo(-1, spec.hostVeth);
    CHECK(hostEnd.up);
    CHECK(hostEnd.mtu == bridgeMtu);
    CHECK(std::filesystem::read_symlink("/sys/class/net/" + spec.hostVeth + "/master").filename() == bridge);

    // The routes inside: the subnet's and the default one.
    auto inside = Netlink::openIn(ns.get());
    REQUIRE(inside);
    auto routes = inside->ipv4Routes();
    REQUIRE(routes);
    CHECK(hasRoute(*routes, subnet));
    CHECK(hasRoute(*routes, Ipv4Prefix{Ipv4{0}, 0}));

    // Host to container, over the bridge.
    Listener inContainer = listenIn(ns.get(), spec.address.address);
    CHECK(connects(-1, spec.address.address, inContainer.port));
    CHECK(drainAccepts(inContainer) == 1);

    // Container to a host address outside its subnet: only the default route leads there.
    const Ipv4Prefix elsewhere{hostIn(testSubnet(3), 1), 32};
    REQUIRE(nl.addAddress(bridge, elsewhere));
    Listener onHost = listenIn(-1, elsewhere.address);
    CHECK(connects(ns.get(), elsewhere.address, onHost.port));
    CHECK(drainAccepts(onHost) == 1);
  }
  CHECK(leftoverLinks().empty());
}

TEST_CASE("two containers on one bridge reach each other, and the counters show it") {
  {
    Netlink nl = openHost();
    UniqueFd nsA = newNetns();
    UniqueFd nsB = newNetns();
    LinkGuard links(nl);
    const Ipv4Prefix subnet = testSubnet(4);
    const std::string bridge = links.add(runPrefix() + "b4");
    REQUIRE(nl.ensureBridge(bridge, ifaceIn(subnet, 1)));
    ContainerLinkSpec a = containerSpec(bridge, links.add(runPrefix() + "h4a"), subnet, 10);
    ContainerLinkSpec b = containerSpec(bridge, links.add(runPrefix() + "h4b"), subnet, 11);
    REQUIRE(attachContainer(nl, nsA.get(), a));
    REQUIRE(attachContainer(nl, nsB.get(), b));

    auto before = nl.counters(a.hostVeth);
    REQUIRE(before);
    Listener inB = listenIn(nsB.get(), b.address.address);
    CHECK(connects(nsA.get(), b.address.address, inB.port));
    CHECK(connects(nsB.get(), a.address.address, listenIn(nsA.get(), a.address.address).port));
    CHECK(drainAccepts(inB) == 1);
    auto after = nl.counters(a.hostVeth);
    REQUIRE(after);
    // The host end receives what A sends, and transmits what A receives.
    CHECK(after->rxPackets > before->rxPackets);
    CHECK(after->txPackets > before->txPackets);
    CHECK(after->rxBytes > before->rxBytes);
    CHECK(after->txBytes > before->txBytes);

    auto missing = nl.counters(runPrefix() + "none");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().code == Errc::not_found);
  }
  CHECK(leftoverLinks().empty());
}

TEST_CASE("deleteLink takes both ends of a veth; an absent link is not_found") {
  {
    Netlink nl = openHost();
    UniqueFd ns = newNetns();
    LinkGuard links(nl);
    const std::string bridge = links.add(runPrefix() + "b5");
    REQUIRE(nl.ensureBridge(bridge, ifaceIn(testSubnet(5), 1)));
    const std::string veth = links.add(runPrefix() + "h5");
    REQUIRE(nl.createVeth({veth, bridge, ns.get(), "eth0", "02:b7:00:00:00:05"}));
    REQUIRE(nl.linkIndex(veth)->has_value());
    REQUIRE(ifaceInfo(ns.get(), "eth0").exists);
    // The peer's name is taken in its namespace: refused, and nothing is made.
    auto again = nl.createVeth({runPrefix() + "h5x", bridge, ns.get(), "eth0", "02:b7:00:00:00:06"});
    REQUIRE_FALSE(again);
    CHECK(again.error().code == Errc::already_exists);
    CHECK_FALSE(nl.linkIndex(runPrefix() + "h5x")->has_value());

    REQUIRE(nl.deleteLink(veth));
    CHECK_FALSE(nl.linkIndex(veth)->has_value());
    CHECK_FALSE(ifaceInfo(ns.get(), "eth0").exists);
    auto gone = nl.deleteLink(veth);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().code == Errc::not_found);
    CHECK(gone.error().message.find(veth) != std::string::npos);

    // Without its bridge, createVeth makes nothing.
    auto noBridge = nl.createVeth({veth, runPrefix() + "b5x", ns.get(), "eth0", "02:b7:00:00:00:05"});
    REQUIRE_FALSE(noBridge);
    CHECK(noBridge.error().code == Errc::not_found);
    auto badMac = nl.createVeth({veth, bridge, ns.get(), "eth0", "02:b7:00:00:00"});
    REQUIRE_FALSE(badMac);
    CHECK(badMac.error().code == Errc::invalid_argument);
  }
  CHECK(leftoverLinks().empty());
}

TEST_CASE("attachContainer leaves nothing behind when a step inside the namespace fails") {
  {
    Netlink nl = openHost();
    UniqueFd ns = newNetns();
    LinkGuard links(nl);
    const Ipv4Prefix subnet = testSubnet(6);
    const std::string bridge = links.add(runPrefix() + "b6");
    REQUIRE(nl.ensureBridge(bridge, ifaceIn(subnet, 1)));
    ContainerLinkSpec spec = containerSpec(bridge, links.add(runPrefix() + "h6"), subnet, 5);
    // The kernel refuses the subnet's broadcast address as a gateway: the
    // last step fails, after the veth exists.
    spec.gateway = hostIn(subnet, 255);
    auto attached = attachContainer(nl, ns.get(), spec);
    REQUIRE_FALSE(attached);
    CHECK(attached.error().message.find("default route") != std::string::npos);
    CHECK(attached.error().sysErrno != 0);
    CHECK_FALSE(nl.linkIndex(spec.hostVeth)->has_value());
    CHECK_FALSE(ifaceInfo(ns.get(), "eth0").exists);

    // A gateway outside the subnet is refused before anything is made.
    spec.gateway = hostIn(testSubnet(7), 1);
    auto outside = attachContainer(nl, ns.get(), spec);
    REQUIRE_FALSE(outside);
    CHECK(outside.error().code == Errc::invalid_argument);
    CHECK_FALSE(nl.linkIndex(spec.hostVeth)->has_value());
  }
  CHECK(leftoverLinks().empty());
}

TEST_CASE("openIn and createNetworkNamespace leave the calling thread in its namespace") {
  const ino_t own = netnsInode("/proc/thread-self/ns/net");
  UniqueFd ns = newNetns();
  CHECK(netnsInode("/proc/thread-self/ns/net") == own);
  CHECK(netnsInode(ns.get()) != own);

  auto inside = Netlink::openIn(ns.get());
  REQUIRE(inside);
  CHECK(netnsInode("/proc/thread-self/ns/net") == own);
  // The socket talks to the new namespace: only lo there.
  auto names = inside->linkNamesWithPrefix("");
  REQUIRE(names);
  CHECK(*names == std::vector<std::string>{"lo"});
  REQUIRE(inside->setUp("lo"));
  CHECK(ifaceInfo(ns.get(), "lo").up);
  auto missing = inside->setUp("eth0");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);

  // A failed visit also leaves the thread where it was.
  auto bad = Netlink::openIn(-1);
  REQUIRE_FALSE(bad);
  CHECK(netnsInode("/proc/thread-self/ns/net") == own);
}

TEST_CASE("openNetworkNamespaceOf: a live process's namespace, not_found for a gone one") {
  auto own = openNetworkNamespaceOf(::getpid());
  REQUIRE(own);
  CHECK(netnsInode(own->get()) == netnsInode("/proc/self/ns/net"));
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  auto gone = openNetworkNamespaceOf(child);
  REQUIRE_FALSE(gone);
  CHECK(gone.error().code == Errc::not_found);
}

TEST_CASE("ipv4Routes lists the host's routes, berth's bridges left out on request") {
  {
    Netlink nl = openHost();
    LinkGuard links(nl);
    const Ipv4Prefix subnet = testSubnet(7);
    const std::string bridge = links.add(runPrefix() + "b7");
    REQUIRE(nl.ensureBridge(bridge, ifaceIn(subnet, 1)));
    auto all = nl.ipv4Routes();
    REQUIRE(all);
    CHECK(hasRoute(*all, subnet));
    auto others = nl.ipv4Routes(runPrefix());
    REQUIRE(others);
    CHECK_FALSE(hasRoute(*others, subnet));
    // Only the bridge's route is left out.
    CHECK(others->size() + 1 == all->size());
  }
  CHECK(leftoverLinks().empty());
}

TEST_CASE("attachContainer is fast", "[bench]") {
  {
    Netlink nl = openHost();
    LinkGuard links(nl);
    const Ipv4Prefix subnet = testSubnet(1);
    const std::string bridge = links.add(runPrefix() + "b1");
    REQUIRE(nl.ensureBridge(bridge, ifaceIn(subnet, 1)));
    constexpr int kRuns = 40;
    std::vector<double> micros;
    for (int i = 0; i < kRuns; ++i) {
      UniqueFd ns = newNetns();
      ContainerLinkSpec spec = containerSpec(bridge, links.add(runPrefix() + "p" + std::to_string(i)), subnet,
                                             static_cast<uint32_t>(10 + i));
      auto start = std::chrono::steady_clock::now();
      auto attached = attachContainer(nl, ns.get(), spec);
      auto end = std::chrono::steady_clock::now();
      REQUIRE(attached);
      micros.push_back(std::chrono::duration<double, std::micro>(end - start).count());
      REQUIRE(nl.deleteLink(spec.hostVeth));
    }
    std::sort(micros.begin(), micros.end());
    std::printf("attachContainer: median %.0f us, p90 %.0f us, max %.0f us (%d runs)\n", micros[kRuns / 2],
                micros[kRuns * 9 / 10], micros.back(), kRuns);
    // Timing is the benchmarks' (bench_net_throughput); this test checks every attach worked and left nothing.
  }
  CHECK(leftoverLinks().empty());
}

}  // namespace
}  // namespace berth::net::testing
