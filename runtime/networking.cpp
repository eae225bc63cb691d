// Bridge networking in the container's lifecycle (API.md §11): an address
// claimed at create and kept until delete, a veth pair while init runs, the
// published ports served by the monitor, a bridge per project while any of
// its containers needs it. The plan is network.cpp, the host side the
// NetworkController.
#include <set>

#include <spdlog/spdlog.h>

#include "common/files.hpp"
#include "runtime/manager_impl.hpp"
#include "store/store.hpp"

namespace berth::runtime {

Result<void> ContainerManager::Impl::claimNetwork(ContainerRecord& record) {
  if (record.networkMode != "bridge") return {};
  BERTH_TRY(auto subnetText, store.assignProjectSubnet(record.projectId, network.subnetCandidates()));
  if (!subnetText)
    return fail(Errc::unavailable, "every /24 of bridge_subnet " + network.config().bridgeSubnet + " is taken by a project");
  BERTH_TRY(net::Ipv4Prefix subnet, net::parseIpv4Network(*subnetText));
  BERTH_TRY(auto address, store.firstUnclaimedAddress(NetworkPlan::addressCandidates(subnet)));
  if (!address) return fail(Errc::unavailable, "subnet " + *subnetText + " has no free address left");
  record.networkIp = *address;
  return {};
}

Result<void> ContainerManager::Impl::checkHostPorts(const ContainerRecord& record) const {
  for (const store::PublishedPort& port : record.ports) {
    BERTH_TRY(auto holder, store.portHolder(port));
    if (holder && *holder != record.id)
      return fail(Errc::already_exists, Detail::port_conflict,
                  "host port " + port.hostIp + ":" + std::to_string(port.hostPort) + " is published by container " + *holder);
    // Its own listeners hold it while it runs; any other holder is the host's.
    if (!holder) BERTH_TRYV(host.network->checkHostPort(port));
  }
  return {};
}

namespace {

// The run dir outlives a stop, and the files rarely change: a start rewrites them only when they would.
Result<void> writeIfChanged(const std::string& path, const std::string& content) {
  if (auto current = readFile(path); current && *current == content) return {};
  return writeFileFast(path, content, 0644);
}

}  // namespace

Result<UniqueFd> ContainerManager::Impl::prepareNetwork(const ContainerRecord& record, ShimSpec& spec) {
  InstancePaths paths = instancePaths(record.runtimeId);
  BERTH_TRYV(makeDirs(paths.dir, 0700));
  // /etc/hostname says the container's hostname whatever its network.
  spec.hostnameFile = paths.dir + "/hostname";
  BERTH_TRYV(writeIfChanged(spec.hostnameFile, spec.hostname + "\n"));
  // `none`: the init clones a namespace of its own and keeps the image's /etc/hosts.
  if (record.networkMode != "bridge") return UniqueFd();
  BERTH_TRY(BridgeLink link, network.linkOf(record));
  spec.hostsFile = paths.dir + "/hosts";
  BERTH_TRYV(writeIfChanged(spec.hostsFile, hostsFile(spec.hostname, record.name, net::formatIpv4(link.address.address))));
  BERTH_TRY(UniqueFd netns, withContext(host.network->attach(link), "network"));
  spec.netnsFd = netns.get();
  for (const store::PublishedPort& port : record.ports) {
    // Validated at create and PATCH; a record that says otherwise is corrupt.
    auto hostIp = net::parseIpv4(port.hostIp);
    if (!hostIp) return fail(Errc::internal, "container " + record.id + " publishes on a bad address " + port.hostIp);
    spec.ports.push_back(net::PortForward{*hostIp, port.hostPort, link.address.address, port.containerPort});
  }
  return netns;
}

void ContainerManager::Impl::releaseLink(const ContainerRecord& record) {
  if (record.networkMode != "bridge") return;
  std::string hostVeth = network.hostVethName(record.id);
  if (auto detached = host.network->detach(hostVeth); !detached)
    spdlog::warn("container {}: removing its veth {}: {}", record.id, hostVeth, detached.error().describe());
}

void ContainerManager::Impl::releaseBridgeIfUnused(const ContainerRecord& deleted) {
  if (deleted.networkMode != "bridge") return;
  auto link = network.linkOf(deleted);
  if (!link) return;
  auto records = store.allContainers();
  if (!records) {
    spdlog::warn("keeping bridge {}: {}", link->bridge, records.error().describe());
    return;
  }
  for (const ContainerRecord& other : *records) {
    if (other.status == ContainerStatus::deleted || other.networkMode != "bridge" || other.id == deleted.id) continue;
    if (auto otherLink = network.linkOf(other); otherLink && otherLink->bridge == link->bridge) return;
  }
  if (auto dropped = host.network->dropBridge(link->bridge); !dropped)
    spdlog::warn("removing bridge {}: {}", link->bridge, dropped.error().describe());
}

void ContainerManager::Impl::reconcileLinks() {
  auto records = store.allContainers();
  if (!records) {
    spdlog::error("reconciling veths: {}", records.error().describe());
    return;
  }
  std::set<std::string> wanted;
  for (const ContainerRecord& record : *records) {
    bool runs = record.status == ContainerStatus::running || record.status == ContainerStatus::paused;
    if (!runs || record.networkMode != "bridge" || !record.pid) continue;
    auto link = network.linkOf(record);
    if (!link) {
      spdlog::error("container {}: {}", record.id, link.error().describe());
      continue;
    }
    wanted.insert(link->hostVeth);
    auto traffic = host.network->traffic(link->hostVeth);
    if (traffic && *traffic) continue;
    auto reattached = host.network->reattach(*link, *record.pid);
    if (reattached) {
      spdlog::info("container {}: its veth was gone; attached it again", record.id);
    } else {
      spdlog::warn("container {}: attaching its veth again: {}", record.id, reattached.error().describe());
    }
  }
  auto present = host.network->hostVeths();
  if (!present) {
    spdlog::error("listing veths: {}", present.error().describe());
    return;
  }
  for (const std::string& hostVeth : *present) {
    if (wanted.contains(hostVeth)) continue;
    if (auto detached = host.network->detach(hostVeth); !detached)
      spdlog::warn("removing stale veth {}: {}", hostVeth, detached.error().describe());
  }
}

}  // namespace berth::runtime
