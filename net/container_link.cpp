#include "net/container_link.hpp"

namespace berth::net {

namespace {

Result<void> configureInside(int netnsFd, const ContainerLinkSpec& spec) {
  BERTH_TRY(Netlink inside, Netlink::openIn(netnsFd));
  BERTH_TRYV(inside.setUp("lo"));
  // Address before up: the subnet's route then appears with the link, and the
  // default route needs it to reach the gateway.
  BERTH_TRYV(inside.addAddress("eth0", spec.address));
  BERTH_TRYV(inside.setUp("eth0"));
  return inside.addDefaultRoute(spec.gateway);
}

}  // namespace

Result<void> attachContainer(Netlink& host, int netnsFd, const ContainerLinkSpec& spec) {
  std::string context = "attaching " + spec.hostVeth + " to " + spec.bridge;
  if (!spec.address.contains(spec.gateway))
    return fail(Errc::invalid_argument, context + ": gateway " + formatIpv4(spec.gateway) + " is not in " +
                                            formatPrefix(spec.address));
  BERTH_TRYV(withContext(host.createVeth({spec.hostVeth, spec.bridge, netnsFd, "eth0", spec.mac}), context));
  auto configured = configureInside(netnsFd, spec);
  if (!configured) {
    // Best effort: the error that matters is the one that made us undo.
    (void)host.deleteLink(spec.hostVeth);
    return withContext(std::move(configured), context);
  }
  return {};
}

}  // namespace berth::net
