#pragma once
// A container's network: the one call berthd makes per container start.
#include <string>

#include "common/error.hpp"
#include "net/address.hpp"
#include "net/netlink.hpp"

namespace berth::net {

struct ContainerLinkSpec {
  std::string bridge;    // exists already (Netlink::ensureBridge)
  std::string hostVeth;  // the host end's name
  Ipv4Prefix address;    // the container's, with the bridge subnet's length: 10.89.3.7/24
  Ipv4 gateway;          // the bridge's address
  std::string mac;       // macForAddress(address.address)
};

// A veth pair with the host end on the bridge (up) and, inside the
// container's namespace, lo up and eth0 with the address, up, with a default
// route via the gateway. On failure nothing is left behind: the veth is
// deleted (which takes the peer with it).
Result<void> attachContainer(Netlink& host, int netnsFd, const ContainerLinkSpec& spec);

}  // namespace berth::net
