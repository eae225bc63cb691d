// The firewall's nft text, exactly: what berthd hands libnftables as one transaction.
#include <catch2/catch.hpp>

#include "net/firewall.hpp"

using namespace berth;
using namespace berth::net;

namespace {

BridgePolicy bridge(const char* name, const char* subnet) { return {name, *parseIpv4Network(subnet)}; }

}  // namespace

TEST_CASE("no bridges: the table is removed, whether or not it exists") {
  const std::string expected =
      "add table inet berth\n"
      "delete table inet berth\n";
  CHECK(renderFirewall("berth", {}, false, "bb") == expected);
  CHECK(renderFirewall("berth", {}, true, "bb") == expected);
}

TEST_CASE("one bridge: its containers reach each other and nothing else") {
  CHECK(renderFirewall("berth", {bridge("bb1", "10.89.1.0/24")}, false, "bb") ==
        "add table inet berth\n"
        "delete table inet berth\n"
        "add table inet berth\n"
        "add chain inet berth isolate { type filter hook forward priority filter; policy accept; }\n"
        "add rule inet berth isolate iifname \"bb1\" oifname \"bb1\" counter accept\n"
        "add rule inet berth isolate iifname \"bb1\" counter drop\n"
        "add rule inet berth isolate oifname \"bb1\" counter drop\n");
}

TEST_CASE("two bridges without masquerade") {
  CHECK(renderFirewall("t", {bridge("bb1", "10.89.1.0/24"), bridge("bb2", "10.89.2.0/24")}, false, "bb") ==
        "add table inet t\n"
        "delete table inet t\n"
        "add table inet t\n"
        "add chain inet t isolate { type filter hook forward priority filter; policy accept; }\n"
        "add rule inet t isolate iifname \"bb1\" oifname \"bb1\" counter accept\n"
        "add rule inet t isolate iifname \"bb1\" counter drop\n"
        "add rule inet t isolate oifname \"bb1\" counter drop\n"
        "add rule inet t isolate iifname \"bb2\" oifname \"bb2\" counter accept\n"
        "add rule inet t isolate iifname \"bb2\" counter drop\n"
        "add rule inet t isolate oifname \"bb2\" counter drop\n");
}

TEST_CASE("one bridge with masquerade: out to non-berth links, replies back, source NAT") {
  CHECK(renderFirewall("berth", {bridge("bb1", "10.89.1.0/24")}, true, "bb") ==
        "add table inet berth\n"
        "delete table inet berth\n"
        "add table inet berth\n"
        "add chain inet berth isolate { type filter hook forward priority filter; policy accept; }\n"
        "add rule inet berth isolate iifname \"bb1\" oifname \"bb1\" counter accept\n"
        "add rule inet berth isolate iifname \"bb1\" oifname != \"bb*\" accept\n"
        "add rule inet berth isolate oifname \"bb1\" ct state established,related accept\n"
        "add rule inet berth isolate iifname \"bb1\" counter drop\n"
        "add rule inet berth isolate oifname \"bb1\" counter drop\n"
        "add chain inet berth masq_out { type nat hook postrouting priority srcnat; policy accept; }\n"
        "add rule inet berth masq_out ip saddr 10.89.1.0/24 oifname != \"bb1\" masquerade\n");
}

TEST_CASE("two bridges with masquerade") {
  CHECK(renderFirewall("berth", {bridge("bb1", "10.89.1.0/24"), bridge("bb2", "10.89.2.0/25")}, true, "bb") ==
        "add table inet berth\n"
        "delete table inet berth\n"
        "add table inet berth\n"
        "add chain inet berth isolate { type filter hook forward priority filter; policy accept; }\n"
        "add rule inet berth isolate iifname \"bb1\" oifname \"bb1\" counter accept\n"
        "add rule inet berth isolate iifname \"bb1\" oifname != \"bb*\" accept\n"
        "add rule inet berth isolate oifname \"bb1\" ct state established,related accept\n"
        "add rule inet berth isolate iifname \"bb1\" counter drop\n"
        "add rule inet berth isolate oifname \"bb1\" counter drop\n"
        "add rule inet berth isolate iifname \"bb2\" oifname \"bb2\" counter accept\n"
        "add rule inet berth isolate iifname \"bb2\" oifname != \"bb*\" accept\n"
        "add rule inet berth isolate oifname \"bb2\" ct state established,related accept\n"
        "add rule inet berth isolate iifname \"bb2\" counter drop\n"
        "add rule inet berth isolate oifname \"bb2\" counter drop\n"
        "add chain inet berth masq_out { type nat hook postrouting priority srcnat; policy accept; }\n"
        "add rule inet berth masq_out ip saddr 10.89.1.0/24 oifname != \"bb1\" masquerade\n"
        "add rule inet berth masq_out ip saddr 10.89.2.0/25 oifname != \"bb2\" masquerade\n");
}

TEST_CASE("names nft would read as syntax are refused before any nft call") {
  CHECK(Firewall::open("berth-x", "bb").error().code == Errc::invalid_argument);
  CHECK(Firewall::open("1berth", "bb").error().code == Errc::invalid_argument);
  CHECK(Firewall::open("berth", "").error().code == Errc::invalid_argument);
  CHECK(Firewall::open("berth", "b\"b").error().code == Errc::invalid_argument);
  CHECK(Firewall::open("berth", "b*").error().code == Errc::invalid_argument);
}
