#pragma once
// IPv4 addresses and prefixes as plain values (host byte order), parsed and
// printed without the C library's locale- and format-lenient parsers.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace berth::net {

struct Ipv4 {
  uint32_t value = 0;  // host byte order: 10.89.3.7 is 0x0a590307
  bool operator==(const Ipv4&) const = default;
  auto operator<=>(const Ipv4&) const = default;
};

struct Ipv4Prefix {
  Ipv4 address;      // the network address (host bits zero) or, for an interface address, the host's
  int length = 32;   // 0..32
  bool operator==(const Ipv4Prefix&) const = default;

  Ipv4 network() const;
  uint32_t mask() const;
  bool contains(Ipv4 ip) const;
  bool overlaps(const Ipv4Prefix& other) const;
};

// Dotted quad, exactly four decimal parts 0..255 without leading zeros; nullopt otherwise.
std::optional<Ipv4> parseIpv4(std::string_view text);
std::string formatIpv4(Ipv4 ip);
// "10.89.0.0/16"; invalid_argument naming the text when malformed or when host bits are set.
Result<Ipv4Prefix> parseIpv4Network(std::string_view text);
std::string formatPrefix(const Ipv4Prefix& prefix);

// A locally administered unicast MAC derived from the address (02:b7 then its
// four bytes), so a container keeps one MAC with its address.
std::string macForAddress(Ipv4 ip);

}  // namespace berth::net
