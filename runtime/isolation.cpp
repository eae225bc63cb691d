// A container's isolation (API.md §14): host-root, or a user namespace with
// a host id range of its own, claimed at create like an address and held
// until delete (store_network.cpp), its layer owned by that range's root.
#include "runtime/manager_impl.hpp"
#include "runtime/users.hpp"
#include "store/store.hpp"

namespace berth::runtime {

Result<std::string> ContainerManager::Impl::isolationFor(const CreateRequest& request) const {
  const std::string isolation = request.isolation.empty() ? config.defaultIsolation : request.isolation;
  if (isolation == store::kHostRoot) return isolation;
  if (isolation != store::kUserNamespace)
    return fail(Errc::invalid_argument, "isolation must be \"host-root\" or \"user-namespace\", not \"" + isolation + "\"");
  if (request.networkMode == "bridge")
    return fail(Errc::invalid_argument,
                "isolation \"user-namespace\" takes network \"none\" only (bridge networking in a user namespace is not supported yet)");
  if (host.userNamespaceSupport) BERTH_TRYV(host.userNamespaceSupport());
  return isolation;
}

Result<void> ContainerManager::Impl::claimIdRange(ContainerRecord& record) {
  if (record.isolation != store::kUserNamespace) return {};
  BERTH_TRY(auto hostUid, store.firstUnclaimedIdRange(idRangeCandidates()));
  if (!hostUid) return fail(Errc::unavailable, "every host id range for user namespaces is taken");
  record.idMap = store::IdMap{*hostUid, *hostUid, kIdMapSize};
  return {};
}

Result<void> ContainerManager::Impl::ownLayer(const ContainerRecord& record) const {
  if (!record.idMap) return {};
  return withContext(host.layers->setOwner(record.id, record.idMap->hostUid, record.idMap->hostGid),
                     "the writable layer for the container's root");
}

}  // namespace berth::runtime
