// Address values of net/: strict parsing, prefixes, the MAC of an address.
#include <catch2/catch.hpp>

#include "net/address.hpp"

using namespace berth;
using namespace berth::net;

TEST_CASE("IPv4 addresses parse strictly and print back") {
  REQUIRE(parseIpv4("10.89.3.7") == Ipv4{0x0a590307});
  REQUIRE(formatIpv4(Ipv4{0x0a590307}) == "10.89.3.7");
  REQUIRE(parseIpv4("0.0.0.0") == Ipv4{0});
  REQUIRE(parseIpv4("255.255.255.255") == Ipv4{0xffffffff});
  for (const char* bad : {"", "10.89.3", "10.89.3.7.1", "10.89.3.256", "010.89.3.7", "10.89.3.7 ", "a.b.c.d",
                          "10..3.7", "1000.1.1.1", "-1.2.3.4"})
    CHECK_FALSE(parseIpv4(bad).has_value());
}

TEST_CASE("IPv4 networks: host bits, containment and overlap") {
  auto pool = parseIpv4Network("10.89.0.0/16");
  REQUIRE(pool);
  CHECK(formatPrefix(*pool) == "10.89.0.0/16");
  CHECK(pool->contains(*parseIpv4("10.89.255.1")));
  CHECK_FALSE(pool->contains(*parseIpv4("10.90.0.1")));
  CHECK(pool->overlaps(*parseIpv4Network("10.89.3.0/24")));
  CHECK(parseIpv4Network("10.0.0.0/8")->overlaps(*pool));
  CHECK_FALSE(pool->overlaps(*parseIpv4Network("10.90.0.0/16")));
  CHECK(parseIpv4Network("0.0.0.0/0")->overlaps(*pool));

  auto hostBits = parseIpv4Network("10.89.0.1/16");
  REQUIRE_FALSE(hostBits);
  CHECK(hostBits.error().code == Errc::invalid_argument);
  CHECK(hostBits.error().message.find("10.89.0.1/16") != std::string::npos);
  for (const char* bad : {"10.89.0.0", "10.89.0.0/", "10.89.0.0/33", "10.89.0.0/1a", "10.89.0/16"})
    CHECK_FALSE(parseIpv4Network(bad));
}

TEST_CASE("a container's MAC follows its address") {
  CHECK(macForAddress(*parseIpv4("10.89.3.7")) == "02:b7:0a:59:03:07");
}
