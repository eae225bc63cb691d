// Network claims: which live container holds an address, a published port or
// a user namespace's host id range, and which project holds a bridge subnet. Claims follow the record: every
// write of a container (store_container in store.cpp) calls
// updateNetworkClaims, so a claim can never outlive or miss its container.
#include <cstdio>
#include <set>

#include "store/keys.hpp"
#include "store/store_impl.hpp"

namespace berth::store {

namespace {

constexpr std::string_view kAnyAddress = "0.0.0.0";

std::string addressKey(std::string_view address) { return "ip/" + std::string(address); }

// A user namespace's host id range, by its first host uid.
std::string idMapKey(uint32_t hostUid) { return "idmap/" + std::to_string(hostUid); }

// "port/tcp/00080/": every host ip of one port sorts together.
std::string portPrefix(const PublishedPort& port) {
  char number[8];
  std::snprintf(number, sizeof number, "%05u", static_cast<unsigned>(port.hostPort));
  return "port/" + port.protocol + "/" + number + "/";
}

std::string portKey(const PublishedPort& port) { return portPrefix(port) + port.hostIp; }

std::string describePort(const PublishedPort& port) {
  return port.hostIp + ":" + std::to_string(port.hostPort) + "/" + port.protocol;
}

std::set<std::string> claimsOf(const ContainerRecord& record) {
  std::set<std::string> claims;
  if (record.status == ContainerStatus::deleted) return claims;
  if (record.networkIp) claims.insert(addressKey(*record.networkIp));
  if (record.idMap) claims.insert(idMapKey(record.idMap->hostUid));
  for (const PublishedPort& port : record.ports) claims.insert(portKey(port));
  return claims;
}

// The holder of a port that conflicts with `port` (same port; same host ip,
// or either on every address), other than `self`.
Result<std::optional<std::string>> conflictingPortHolder(Txn& txn, const Db& db, const PublishedPort& port,
                                                         std::string_view self) {
  std::string prefix = portPrefix(port);
  BERTH_TRY(auto cursor, Cursor::open(txn, db));
  BERTH_TRY(bool found, cursor.seek(prefix));
  while (found && cursor.key().starts_with(prefix)) {
    std::string_view hostIp = cursor.key().substr(prefix.size());
    bool overlaps = hostIp == port.hostIp || hostIp == kAnyAddress || port.hostIp == kAnyAddress;
    if (overlaps && cursor.value() != self) return std::optional<std::string>(std::string(cursor.value()));
    BERTH_TRY(found, cursor.next());
  }
  return std::optional<std::string>{};
}

}  // namespace

Result<void> Store::Impl::updateNetworkClaims(Txn& txn, std::string_view idBin, const ContainerRecord& record,
                                              const std::optional<ContainerRecord>& previous) {
  std::set<std::string> held = previous ? claimsOf(*previous) : std::set<std::string>{};
  std::set<std::string> wanted = claimsOf(record);
  if (held == wanted) return {};
  for (const std::string& key : held)
    if (!wanted.contains(key)) BERTH_TRYV(txn.del(db.netClaims, key));
  if (record.networkIp && wanted.contains(addressKey(*record.networkIp)) &&
      !held.contains(addressKey(*record.networkIp))) {
    BERTH_TRY(auto holder, txn.get(db.netClaims, addressKey(*record.networkIp)));
    if (holder && *holder != idBin)
      return fail(Errc::already_exists, "address " + *record.networkIp + " is held by container " + keys::binToId(*holder));
  }
  if (record.idMap && !held.contains(idMapKey(record.idMap->hostUid))) {
    BERTH_TRY(auto holder, txn.get(db.netClaims, idMapKey(record.idMap->hostUid)));
    if (holder && *holder != idBin)
      return fail(Errc::already_exists, "host ids from " + std::to_string(record.idMap->hostUid) +
                                            " are held by container " + keys::binToId(*holder));
  }
  for (const PublishedPort& port : record.ports) {
    if (held.contains(portKey(port))) continue;
    BERTH_TRY(auto holder, conflictingPortHolder(txn, db.netClaims, port, idBin));
    if (holder)
      return fail(Errc::already_exists, Detail::port_conflict,
                  "host port " + describePort(port) + " is published by container " + keys::binToId(*holder));
  }
  for (const std::string& key : wanted)
    if (!held.contains(key)) BERTH_TRYV(txn.put(db.netClaims, key, idBin));
  return {};
}

Result<std::optional<std::string>> Store::firstUnclaimedAddress(const std::vector<std::string>& candidates) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<std::string>> {
    for (const std::string& candidate : candidates) {
      BERTH_TRY(auto holder, txn.get(m.db.netClaims, addressKey(candidate)));
      if (!holder) return std::optional<std::string>(candidate);
    }
    return std::optional<std::string>{};
  });
}

Result<std::optional<uint32_t>> Store::firstUnclaimedIdRange(const std::vector<uint32_t>& hostUids) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<uint32_t>> {
    for (uint32_t hostUid : hostUids) {
      BERTH_TRY(auto holder, txn.get(m.db.netClaims, idMapKey(hostUid)));
      if (!holder) return std::optional<uint32_t>(hostUid);
    }
    return std::optional<uint32_t>{};
  });
}

Result<std::optional<std::string>> Store::portHolder(const PublishedPort& port) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<std::string>> {
    BERTH_TRY(auto holder, conflictingPortHolder(txn, m.db.netClaims, port, {}));
    if (!holder) return std::optional<std::string>{};
    return std::optional<std::string>(keys::binToId(*holder));
  });
}

Result<std::optional<std::string>> Store::projectSubnet(const std::string& projectId) const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<std::string>> {
    BERTH_TRY(auto subnet, txn.get(m.db.netClaims, "project_subnet/" + projectId));
    if (!subnet) return std::optional<std::string>{};
    return std::optional<std::string>(std::string(*subnet));
  });
}

Result<std::optional<std::string>> Store::assignProjectSubnet(const std::string& projectId,
                                                              const std::vector<std::string>& candidates) {
  BERTH_TRY(auto known, projectSubnet(projectId));
  if (known) return known;
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<std::optional<std::string>> {
    std::string projectKey = "project_subnet/" + projectId;
    BERTH_TRY(auto assigned, txn.get(m.db.netClaims, projectKey));
    if (assigned) return std::optional<std::string>(std::string(*assigned));
    for (const std::string& candidate : candidates) {
      BERTH_TRY(auto holder, txn.get(m.db.netClaims, "subnet/" + candidate));
      if (holder) continue;
      BERTH_TRYV(txn.put(m.db.netClaims, "subnet/" + candidate, projectId));
      BERTH_TRYV(txn.put(m.db.netClaims, projectKey, candidate));
      return std::optional<std::string>(candidate);
    }
    return std::optional<std::string>{};
  });
}

}  // namespace berth::store
