#pragma once
// Bridge networking as the runtime plans it (API.md §11): names of bridges
// and veths, a project's /24 out of bridge_subnet, a container's address
// and its link, the published ports a request may ask for, and the
// /etc/hosts a container sees. Pure: the host side is NetworkController
// (host.hpp), the kernel's is net/.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "net/address.hpp"
#include "store/records.hpp"

namespace berth::runtime {

struct NetworkConfig {
  std::string bridgePrefix = "berth";       // bridges, veths and the firewall table are named with it
  std::string bridgeSubnet = "10.89.0.0/16";  // each project with a bridge container gets a /24 of it
  bool masquerade = false;                  // traffic from the bridges leaves the host only with this
};

// bridge_prefix: 1-6 of [a-z0-9], so "<prefix>v<8 hex>" fits a link name (15).
Result<void> checkBridgePrefix(const std::string& prefix);

// A bridge container's place on the host network.
struct BridgeLink {
  std::string bridge;    // the project's bridge
  std::string hostVeth;  // the host end of the container's veth pair
  net::Ipv4Prefix address;  // the container's address with the /24's length
  net::Ipv4 gateway;        // the /24's first address, held by the bridge
  std::string mac;
  bool operator==(const BridgeLink&) const = default;
};

class NetworkPlan {
 public:
  // invalid_argument for a bad prefix or a subnet that is not /8../24.
  static Result<NetworkPlan> make(const NetworkConfig& config);

  const NetworkConfig& config() const { return config_; }
  const net::Ipv4Prefix& pool() const { return pool_; }
  // The /24s of the pool, in order: a new project takes the first one free.
  std::vector<std::string> subnetCandidates() const;
  // A /24's addresses a container may hold: .2 to .254 (.1 is the gateway).
  static std::vector<std::string> addressCandidates(const net::Ipv4Prefix& subnet);
  // "<prefix>-<index of the /24 in the pool>": stable for the project, as its subnet is.
  std::string bridgeName(const net::Ipv4Prefix& subnet) const;
  // "<prefix>v<8 hex of a hash of the container id>".
  std::string hostVethName(const std::string& containerId) const;
  // Whether a link name is one of this service's host veths.
  bool isHostVeth(const std::string& linkName) const;
  // The link of a bridge container from its record (its address decides the
  // /24); internal when the record's address is missing or outside the pool.
  Result<BridgeLink> linkOf(const store::ContainerRecord& record) const;

 private:
  NetworkConfig config_;
  net::Ipv4Prefix pool_;
};

// A container's network as clients see it: {"mode", "ip", "gateway", "mac"}.
struct NetworkView {
  std::string mode;
  std::optional<std::string> ip;
  std::optional<std::string> gateway;
  std::optional<std::string> mac;
};
NetworkView networkViewOf(const store::ContainerRecord& record);

// The published ports of a create or PATCH, checked against the network mode:
// invalid_argument naming the field for ports on "none", a protocol other
// than tcp, a host_ip that is not an IPv4 address, or a host port asked for
// twice (on overlapping host addresses). Whether the host itself uses one is
// the NetworkController's check.
Result<void> checkPublishedPorts(const std::string& networkMode, const std::vector<store::PublishedPort>& ports);

// /etc/hosts of a bridge container: localhost, and its hostname (and name,
// if different) on its address.
std::string hostsFile(const std::string& hostname, const std::string& name, const std::string& address);

}  // namespace berth::runtime
