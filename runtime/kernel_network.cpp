// The host's NetworkController: bridges, veths and isolation rules through
// net/ (netlink and nftables), for one service instance (its bridge_prefix).
#include "runtime/kernel_network.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>

#include "net/container_link.hpp"
#include "net/firewall.hpp"
#include "net/netlink.hpp"
#include "net/netns.hpp"
#include "net/port_proxy.hpp"

namespace berth::runtime {

namespace {

class KernelNetwork final : public NetworkController {
 public:
  KernelNetwork(NetworkPlan plan, net::Netlink netlink, net::Netlink reaperNetlink, net::Firewall firewall,
                std::map<std::string, net::Ipv4Prefix> bridges)
      : plan_(std::move(plan)),
        netlink_(std::move(netlink)),
        firewall_(std::move(firewall)),
        bridges_(std::move(bridges)),
        reaperNetlink_(std::move(reaperNetlink)),
        reaper_([this] { reapLinks(); }) {}

  ~KernelNetwork() override {
    {
      std::lock_guard lock(reapMutex_);
      stopping_ = true;
    }
    reapWake_.notify_all();
    reaper_.join();  // what is queued still goes: a stopped container's veth never outlives the service's exit
  }

  Result<UniqueFd> attach(const BridgeLink& link) override {
    BERTH_TRY(UniqueFd netns, net::createNetworkNamespace());
    awaitReaped(link.hostVeth);  // a restart right after a stop reuses the name
    std::lock_guard lock(mutex_);
    BERTH_TRYV(attachTo(link, netns.get()));
    return netns;
  }

  Result<void> reattach(const BridgeLink& link, pid_t initPid) override {
    BERTH_TRY(UniqueFd netns, net::openNetworkNamespaceOf(initPid));
    awaitReaped(link.hostVeth);
    std::lock_guard lock(mutex_);
    return attachTo(link, netns.get());
  }

  // The kernel answers a veth's deletion only once the device is torn down
  // (15-19 ms here, an RCU grace period or two): a stop must not wait for
  // that, so the reaper thread deletes it.
  Result<void> detach(const std::string& hostVeth) override {
    {
      std::lock_guard lock(reapMutex_);
      if (!reaping_.insert(hostVeth).second) return {};
      reapQueue_.push_back(hostVeth);
    }
    reapWake_.notify_all();
    return {};
  }

  Result<void> dropBridge(const std::string& bridge) override {
    std::lock_guard lock(mutex_);
    auto deleted = netlink_.deleteLink(bridge);
    if (!deleted && deleted.error().code != Errc::not_found) return deleted;
    bridges_.erase(bridge);
    return applyFirewall();
  }

  Result<std::vector<std::string>> hostVeths() override {
    std::lock_guard lock(mutex_);
    BERTH_TRY(auto names, netlink_.linkNamesWithPrefix(plan_.config().bridgePrefix + "v"));
    std::lock_guard reapLock(reapMutex_);
    std::erase_if(names, [&](const std::string& name) { return !plan_.isHostVeth(name) || reaping_.contains(name); });
    return names;
  }

  Result<std::optional<LinkTraffic>> traffic(const std::string& hostVeth) override {
    std::lock_guard lock(mutex_);
    auto counters = netlink_.counters(hostVeth);
    if (!counters && counters.error().code == Errc::not_found) return std::optional<LinkTraffic>{};
    if (!counters) return tl::unexpected(counters.error());
    // What the host end receives, the container's eth0 sent.
    return std::optional<LinkTraffic>(LinkTraffic{counters->txBytes, counters->rxBytes});
  }

  Result<void> checkHostPort(const store::PublishedPort& port) override {
    auto hostIp = net::parseIpv4(port.hostIp);
    if (!hostIp) return fail(Errc::invalid_argument, "host_ip " + port.hostIp + " is not an IPv4 address");
    return net::probeHostPort(*hostIp, port.hostPort);
  }

 private:
  static net::ContainerLinkSpec specOf(const BridgeLink& link) {
    return net::ContainerLinkSpec{link.bridge, link.hostVeth, link.address, link.gateway, link.mac};
  }

  // The bridge is made (or checked) once per service run; a start trusts
  // that and looks again only when the attach fails, so a bridge removed
  // behind berth's back is made again by the start that misses it.
  Result<void> attachTo(const BridgeLink& link, int netnsFd) {
    if (!bridges_.contains(link.bridge)) BERTH_TRYV(ensureBridge(link));
    auto attached = net::attachContainer(netlink_, netnsFd, specOf(link));
    if (attached) return {};
    BERTH_TRY(auto index, netlink_.linkIndex(link.bridge));
    if (index) return attached;
    BERTH_TRYV(ensureBridge(link));
    return net::attachContainer(netlink_, netnsFd, specOf(link));
  }

  Result<void> ensureBridge(const BridgeLink& link) {
    BERTH_TRYV(netlink_.ensureBridge(link.bridge, net::Ipv4Prefix{link.gateway, link.address.length}));
    bridges_[link.bridge] = net::Ipv4Prefix{link.address.network(), link.address.length};
    return applyFirewall();
  }

  void awaitReaped(const std::string& hostVeth) {
    std::unique_lock lock(reapMutex_);
    reapDone_.wait(lock, [&] { return !reaping_.contains(hostVeth); });
  }

  void reapLinks() {
    std::unique_lock lock(reapMutex_);
    for (;;) {
      reapWake_.wait(lock, [&] { return stopping_ || !reapQueue_.empty(); });
      if (reapQueue_.empty()) return;  // stopping, and nothing left
      std::string hostVeth = std::move(reapQueue_.front());
      reapQueue_.pop_front();
      lock.unlock();
      auto deleted = reaperNetlink_.deleteLink(hostVeth);
      if (!deleted && deleted.error().code != Errc::not_found)
        spdlog::warn("removing veth {}: {}", hostVeth, deleted.error().describe());
      lock.lock();
      reaping_.erase(hostVeth);
      reapDone_.notify_all();
    }
  }

  Result<void> applyFirewall() {
    std::vector<net::BridgePolicy> policies;
    for (const auto& [bridge, subnet] : bridges_) policies.push_back({bridge, subnet});
    return withContext(firewall_.apply(policies, plan_.config().masquerade), "isolation rules");
  }

  NetworkPlan plan_;
  std::mutex mutex_;  // one netlink socket and one nft context for every caller
  net::Netlink netlink_;
  net::Firewall firewall_;
  std::map<std::string, net::Ipv4Prefix> bridges_;  // this instance's bridges, with their subnets

  std::mutex reapMutex_;
  std::condition_variable reapWake_;
  std::condition_variable reapDone_;
  std::deque<std::string> reapQueue_;
  std::set<std::string> reaping_;  // queued or being deleted
  bool stopping_ = false;
  net::Netlink reaperNetlink_;  // the reaper's own socket: its deletions never hold up the others
  std::thread reaper_;          // last: it runs on everything above
};

// The bridges a previous run of this instance left (a service restart keeps
// them), by the /24 their name says.
Result<std::map<std::string, net::Ipv4Prefix>> existingBridges(net::Netlink& netlink, const NetworkPlan& plan) {
  std::map<std::string, net::Ipv4Prefix> bridges;
  std::string start = plan.config().bridgePrefix + "-";
  BERTH_TRY(auto names, netlink.linkNamesWithPrefix(start));
  for (const std::string& name : names) {
    for (const std::string& candidate : plan.subnetCandidates()) {
      auto subnet = net::parseIpv4Network(candidate);
      if (subnet && plan.bridgeName(*subnet) == name) bridges[name] = *subnet;
    }
  }
  return bridges;
}

}  // namespace

Result<std::unique_ptr<NetworkController>> kernelNetwork(const NetworkConfig& config) {
  BERTH_TRY(NetworkPlan plan, NetworkPlan::make(config));
  BERTH_TRY(net::Netlink netlink, withContext(net::Netlink::open(), "netlink"));
  // A pool over a route the host has would make containers shadow (or be
  // shadowed by) real networks.
  BERTH_TRY(auto routes, withContext(netlink.ipv4Routes(config.bridgePrefix), "host routes"));
  for (const net::Ipv4Prefix& route : routes) {
    if (route.length == 0) continue;  // the default route covers everything by design
    if (route.overlaps(plan.pool()))
      return fail(Errc::invalid_argument, "bridge_subnet " + config.bridgeSubnet + " overlaps the host's route to " +
                                              net::formatPrefix(route) + "; choose another bridge_subnet");
  }
  BERTH_TRY(auto bridges, existingBridges(netlink, plan));
  BERTH_TRY(net::Firewall firewall, withContext(net::Firewall::open(config.bridgePrefix, config.bridgePrefix), "nftables"));
  if (!bridges.empty()) {
    std::vector<net::BridgePolicy> policies;
    for (const auto& [bridge, subnet] : bridges) policies.push_back({bridge, subnet});
    BERTH_TRYV(withContext(firewall.apply(policies, config.masquerade), "isolation rules"));
  }
  BERTH_TRY(net::Netlink reaperNetlink, withContext(net::Netlink::open(), "netlink"));
  auto network = std::make_unique<KernelNetwork>(std::move(plan), std::move(netlink), std::move(reaperNetlink),
                                                 std::move(firewall), bridges);
  return std::unique_ptr<NetworkController>(std::move(network));
}

}  // namespace berth::runtime
