#include "runtime/network.hpp"

#include <cstdio>

namespace berth::runtime {

namespace {

constexpr size_t kMaxPrefixLength = 6;
// /12 gives 4096 /24s: names stay short ("<prefix>-4095") and a new project's candidate list small.
constexpr int kWidestPool = 12;
constexpr int kProjectSubnetLength = 24;

// FNV-1a: a stable spread of container ids over veth names.
uint32_t nameHash(const std::string& text) {
  uint32_t hash = 2166136261u;
  for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
  return hash;
}

}  // namespace

Result<void> checkBridgePrefix(const std::string& prefix) {
  bool valid = !prefix.empty() && prefix.size() <= kMaxPrefixLength;
  for (char c : prefix) valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
  if (!valid) return fail(Errc::invalid_argument, "bridge_prefix must be 1-6 characters of [a-z0-9], not \"" + prefix + "\"");
  return {};
}

Result<NetworkPlan> NetworkPlan::make(const NetworkConfig& config) {
  BERTH_TRYV(checkBridgePrefix(config.bridgePrefix));
  BERTH_TRY(net::Ipv4Prefix pool, withContext(net::parseIpv4Network(config.bridgeSubnet), "bridge_subnet"));
  if (pool.length < kWidestPool || pool.length > kProjectSubnetLength)
    return fail(Errc::invalid_argument, "bridge_subnet " + config.bridgeSubnet + " must be a /12 to a /24");
  // Addresses no interface of a container can use as its own.
  for (const char* special : {"0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/3"}) {
    net::Ipv4Prefix reserved = *net::parseIpv4Network(special);
    if (pool.overlaps(reserved))
      return fail(Errc::invalid_argument, "bridge_subnet " + config.bridgeSubnet + " overlaps " + special +
                                              ", which is not for interfaces");
  }
  NetworkPlan plan;
  plan.config_ = config;
  plan.pool_ = pool;
  return plan;
}

std::vector<std::string> NetworkPlan::subnetCandidates() const {
  std::vector<std::string> candidates;
  uint32_t count = uint32_t{1} << (kProjectSubnetLength - pool_.length);
  candidates.reserve(count);
  for (uint32_t i = 0; i < count; ++i)
    candidates.push_back(net::formatPrefix({net::Ipv4{pool_.address.value + (i << 8)}, kProjectSubnetLength}));
  return candidates;
}

std::vector<std::string> NetworkPlan::addressCandidates(const net::Ipv4Prefix& subnet) {
  std::vector<std::string> candidates;
  for (uint32_t host = 2; host <= 254; ++host) candidates.push_back(net::formatIpv4({subnet.network().value + host}));
  return candidates;
}

std::string NetworkPlan::bridgeName(const net::Ipv4Prefix& subnet) const {
  return config_.bridgePrefix + "-" + std::to_string((subnet.network().value - pool_.address.value) >> 8);
}

std::string NetworkPlan::hostVethName(const std::string& containerId) const {
  char suffix[9];
  std::snprintf(suffix, sizeof suffix, "%08x", nameHash(containerId));
  return config_.bridgePrefix + "v" + suffix;
}

bool NetworkPlan::isHostVeth(const std::string& linkName) const {
  std::string start = config_.bridgePrefix + "v";
  return linkName.size() == start.size() + 8 && linkName.starts_with(start);
}

Result<BridgeLink> NetworkPlan::linkOf(const store::ContainerRecord& record) const {
  auto address = record.networkIp ? net::parseIpv4(*record.networkIp) : std::nullopt;
  if (!address || !pool_.contains(*address))
    return fail(Errc::internal, "container " + record.id + " has no address in " + config_.bridgeSubnet +
                                    " (it has " + record.networkIp.value_or("none") + ")");
  net::Ipv4Prefix subnet{*address, kProjectSubnetLength};
  BridgeLink link;
  link.bridge = bridgeName(subnet);
  link.hostVeth = hostVethName(record.id);
  link.address = {*address, kProjectSubnetLength};
  link.gateway = net::Ipv4{subnet.network().value + 1};
  link.mac = net::macForAddress(*address);
  return link;
}

NetworkView networkViewOf(const store::ContainerRecord& record) {
  NetworkView view{record.networkMode, record.networkIp, std::nullopt, std::nullopt};
  if (auto address = record.networkIp ? net::parseIpv4(*record.networkIp) : std::nullopt) {
    view.gateway = net::formatIpv4(net::Ipv4{(address->value & 0xffffff00u) + 1});
    view.mac = net::macForAddress(*address);
  }
  return view;
}

Result<void> checkPublishedPorts(const std::string& networkMode, const std::vector<store::PublishedPort>& ports) {
  if (ports.empty()) return {};
  if (networkMode != "bridge")
    return fail(Errc::invalid_argument, "ports need network \"bridge\" (this container has \"" + networkMode + "\")");
  for (size_t i = 0; i < ports.size(); ++i) {
    const store::PublishedPort& port = ports[i];
    std::string field = "ports[" + std::to_string(i) + "]";
    if (port.protocol != "tcp")
      return fail(Errc::invalid_argument, field + ".protocol must be \"tcp\" (\"" + port.protocol + "\" is not supported)");
    if (!net::parseIpv4(port.hostIp))
      return fail(Errc::invalid_argument, field + ".host_ip must be an IPv4 address of this host, not \"" + port.hostIp + "\"");
    if (port.containerPort == 0 || port.hostPort == 0)
      return fail(Errc::invalid_argument, field + ": ports must be 1-65535");
    for (size_t j = 0; j < i; ++j) {
      const store::PublishedPort& earlier = ports[j];
      bool overlaps = earlier.hostIp == port.hostIp || earlier.hostIp == "0.0.0.0" || port.hostIp == "0.0.0.0";
      if (earlier.hostPort == port.hostPort && overlaps)
        return fail(Errc::invalid_argument, field + ".host_port " + std::to_string(port.hostPort) +
                                                " is already asked for by ports[" + std::to_string(j) + "]");
    }
  }
  return {};
}

std::string hostsFile(const std::string& hostname, const std::string& name, const std::string& address) {
  std::string names = hostname == name || name.empty() ? hostname : hostname + " " + name;
  return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" + address + "\t" +
         names + "\n";
}

}  // namespace berth::runtime
