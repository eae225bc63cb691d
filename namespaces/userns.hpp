#pragma once
// The parent's side of an init in a user namespace (InitSpec::userNamespace).
// The init is cloned into its new user namespace and its cgroups (joining the
// v1 ones through files the parent opened) and waits; the parent, still root
// on the host, writes its id maps and hands it its root: the image idmapped to the namespace (mount_setattr with
// MOUNT_ATTR_IDMAP), so image files owned by host 0 are 0 inside, under the
// writable layer as it is on disk, so what the container writes is owned by
// its mapped ids on the host. Nothing is chowned, nothing is mounted on the host.
#include <sys/types.h>

#include <string>
#include <vector>

#include "common/error.hpp"
#include "namespaces/spawn.hpp"

namespace berth::ns {

// For the init `child` of `spec`, waiting on `socket`: its uid_map and
// gid_map, then its root, sent over the socket as an overlay mount attached
// nowhere yet, then a bind of each file of
// spec.files and, on a host with v1 hierarchies, a read-only bind of the
// container's group in each (the init's attachMount steps, in that order).
Result<void> prepareUserNamespaceInit(pid_t child, const InitSpec& spec, int socket);

// Whether this kernel can do that (idmapped mounts and an overlay over an
// idmapped layer, Linux 5.19+): tried on a scratch directory made and removed
// under `scratchParent`; host_refused naming the missing feature otherwise.
Result<void> probeUserNamespaceRoot(const std::string& imageDir, const std::string& scratchParent);

}  // namespace berth::ns
