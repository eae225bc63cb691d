// The host side of bridge networking at a service start, in a scratch
// network namespace that plays the host (nothing touches the real one).
#include <catch2/catch.hpp>

#include <thread>

#include "net/netlink.hpp"
#include "net/netns.hpp"
#include "runtime/kernel_network.hpp"

using namespace berth;
using namespace berth::runtime;

namespace {

// Runs body on a thread of its own inside a fresh network namespace.
template <typename Body>
void inScratchHost(Body body) {
  std::thread thread([&] {
    auto netns = net::createNetworkNamespace();
    REQUIRE(netns);
    auto inside = net::ScopedNetns::enter(netns->get());
    REQUIRE(inside);
    body();
  });
  thread.join();
}

}  // namespace

TEST_CASE("kernel network: a bridge_subnet over a route the host has is refused, naming both; berth's own bridges do not count") {
  inScratchHost([] {
    auto netlink = net::Netlink::open();
    REQUIRE(netlink);
    // Someone else's network on the host: a bridge with an address is a route in the main table.
    REQUIRE(netlink->ensureBridge("xovl0", net::Ipv4Prefix{*net::parseIpv4("10.207.99.1"), 24}));
    auto refused = kernelNetwork({"kovl", "10.207.0.0/16", false});
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::invalid_argument);
    CHECK(refused.error().message.find("10.207.0.0/16") != std::string::npos);
    CHECK(refused.error().message.find("10.207.99.0/24") != std::string::npos);
    CHECK(kernelNetwork({"kovl", "10.206.0.0/16", false}));  // beside it: fine

    // A bridge of this very service (its prefix) is its own, not an overlap.
    REQUIRE(netlink->ensureBridge("kovl-3", net::Ipv4Prefix{*net::parseIpv4("10.205.3.1"), 24}));
    CHECK(kernelNetwork({"kovl", "10.205.0.0/16", false}));
  });
}
