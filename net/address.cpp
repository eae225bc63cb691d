#include "net/address.hpp"

#include <cstdio>

namespace berth::net {

uint32_t Ipv4Prefix::mask() const { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }

Ipv4 Ipv4Prefix::network() const { return Ipv4{address.value & mask()}; }

bool Ipv4Prefix::contains(Ipv4 ip) const { return (ip.value & mask()) == network().value; }

bool Ipv4Prefix::overlaps(const Ipv4Prefix& other) const {
  const Ipv4Prefix& wider = length <= other.length ? *this : other;
  const Ipv4Prefix& narrower = length <= other.length ? other : *this;
  return wider.contains(narrower.network());
}

std::optional<Ipv4> parseIpv4(std::string_view text) {
  uint32_t value = 0;
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= text.size() || text[pos] != '.') return std::nullopt;
      ++pos;
    }
    size_t start = pos;
    uint32_t octet = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 3) {
      octet = octet * 10 + static_cast<uint32_t>(text[pos] - '0');
      ++pos;
    }
    size_t digits = pos - start;
    if (digits == 0 || octet > 255 || (digits > 1 && text[start] == '0')) return std::nullopt;
    value = (value << 8) | octet;
  }
  if (pos != text.size()) return std::nullopt;
  return Ipv4{value};
}

std::string formatIpv4(Ipv4 ip) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ip.value >> 24, (ip.value >> 16) & 0xff, (ip.value >> 8) & 0xff,
                ip.value & 0xff);
  return buf;
}

Result<Ipv4Prefix> parseIpv4Network(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return fail(Errc::invalid_argument, "\"" + std::string(text) + "\" is not an IPv4 network: " + std::string(why));
  };
  size_t slash = text.find('/');
  if (slash == std::string_view::npos) return bad("expected address/length");
  auto address = parseIpv4(text.substr(0, slash));
  if (!address) return bad("bad address");
  std::string_view lengthText = text.substr(slash + 1);
  if (lengthText.empty() || lengthText.size() > 2) return bad("bad prefix length");
  int length = 0;
  for (char c : lengthText) {
    if (c < '0' || c > '9') return bad("bad prefix length");
    length = length * 10 + (c - '0');
  }
  if (length > 32) return bad("prefix length above 32");
  Ipv4Prefix prefix{*address, length};
  if (prefix.network() != *address) return bad("host bits are set");
  return prefix;
}

std::string formatPrefix(const Ipv4Prefix& prefix) {
  return formatIpv4(prefix.address) + "/" + std::to_string(prefix.length);
}

std::string macForAddress(Ipv4 ip) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:b7:%02x:%02x:%02x:%02x", ip.value >> 24, (ip.value >> 16) & 0xff,
                (ip.value >> 8) & 0xff, ip.value & 0xff);
  return buf;
}

}  // namespace berth::net
