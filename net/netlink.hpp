#pragma once
// Links, addresses and routes over rtnetlink (libnl, kept out of this header).
// A Netlink talks to the network namespace its socket was made in, whatever
// thread uses it later; one Netlink is not for concurrent use.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "net/address.hpp"

namespace berth::net {

struct VethSpec {
  std::string hostName;  // stays in the socket's namespace, enslaved to bridge
  std::string bridge;
  int peerNetnsFd = -1;  // the peer is created directly in this namespace
  std::string peerName = "eth0";
  std::string peerMac;   // "02:b7:0a:59:03:07"
};

struct LinkCounters {
  uint64_t rxBytes = 0;
  uint64_t txBytes = 0;
  uint64_t rxPackets = 0;
  uint64_t txPackets = 0;
};

class Netlink {
 public:
  // A socket in the calling thread's network namespace.
  static Result<Netlink> open();
  // A socket in that namespace: the calling thread visits it only to make the socket.
  static Result<Netlink> openIn(int netnsFd);

  Netlink(Netlink&&) noexcept;
  Netlink& operator=(Netlink&&) noexcept;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink();

  // nullopt when no link has that name.
  Result<std::optional<int>> linkIndex(const std::string& name);

  // The bridge up with the interface address (e.g. 10.89.3.1/24); created
  // with STP off and forward delay 0 when absent, reused when present.
  // already_exists when a link of that name is not a bridge.
  Result<void> ensureBridge(const std::string& name, const Ipv4Prefix& gateway);

  // One request: both ends with the bridge's MTU, the host end enslaved and
  // up, the peer (down) in its namespace with its name and MAC.
  Result<void> createVeth(const VethSpec& spec);

  // not_found when absent. Deleting one end of a veth deletes both.
  Result<void> deleteLink(const std::string& name);

  Result<std::vector<std::string>> linkNamesWithPrefix(std::string_view prefix);
  // not_found when absent.
  Result<LinkCounters> counters(const std::string& name);

  // Mostly for a socket from openIn: the container's side.
  Result<void> setUp(const std::string& name);
  // A host address with its length (10.89.3.7/24); an identical address already there is fine.
  Result<void> addAddress(const std::string& name, const Ipv4Prefix& address);
  // Replaces any default route of the main table.
  Result<void> addDefaultRoute(Ipv4 gateway);

  // Destinations of the main table's IPv4 routes, the default route
  // (0.0.0.0/0) included; routes whose every next hop is a link named with
  // excludeLinkPrefix are left out (berth's own bridges).
  Result<std::vector<Ipv4Prefix>> ipv4Routes(std::string_view excludeLinkPrefix = {});


 private:
  struct Impl;
  explicit Netlink(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Linux's rule for interface names: 1..15 bytes, no '/', ':' or whitespace.
bool isValidLinkName(std::string_view name);

}  // namespace berth::net
