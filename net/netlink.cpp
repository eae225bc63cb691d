#include "net/netlink.hpp"

#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>

#include <cstring>

#include "net/netns.hpp"

namespace berth::net {

namespace {

template <typename T, void (*Free)(T*)>
struct Freer {
  void operator()(T* p) const {
    if (p) Free(p);
  }
};
using MsgPtr = std::unique_ptr<nl_msg, Freer<nl_msg, nlmsg_free>>;
using LinkPtr = std::unique_ptr<rtnl_link, Freer<rtnl_link, rtnl_link_put>>;
// A veth and its peer are freed together.
using VethPtr = std::unique_ptr<rtnl_link, Freer<rtnl_link, rtnl_link_veth_release>>;
using CachePtr = std::unique_ptr<nl_cache, Freer<nl_cache, nl_cache_free>>;
using AddrPtr = std::unique_ptr<nl_addr, Freer<nl_addr, nl_addr_put>>;

// For failures libnl finds itself (the kernel's own errno is recorded by the error callback).
int errnoOfNle(int nle) {
  switch (nle < 0 ? -nle : nle) {
    case NLE_EXIST: return EEXIST;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV: return ENODEV;
    case NLE_NOMEM: return ENOMEM;
    case NLE_PERM: return EPERM;
    case NLE_NOACCESS: return EACCES;
    case NLE_BUSY: return EBUSY;
    case NLE_INVAL: return EINVAL;
    case NLE_RANGE: return ERANGE;
    case NLE_AGAIN: return EAGAIN;
    case NLE_INTR: return EINTR;
    case NLE_OPNOTSUPP: return EOPNOTSUPP;
    case NLE_NOADDR: return EADDRNOTAVAIL;
    case NLE_BAD_SOCK: return EBADF;
    case NLE_MSGSIZE: return EMSGSIZE;
    default: return EIO;
  }
}

uint32_t networkOrder(Ipv4 ip) { return htonl(ip.value); }

bool startsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

tl::unexpected<Error> badName(std::string_view name) {
  return fail(Errc::invalid_argument, "\"" + std::string(name) + "\" is not a valid link name");
}

tl::unexpected<Error> buildFailure(std::string_view what) {
  return fail(Errc::internal, "building the netlink request " + std::string(what));
}

}  // namespace

bool isValidLinkName(std::string_view name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
  for (char c : name)
    if (c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
        c == '\0')
      return false;
  return true;
}

struct Netlink::Impl {
  nl_sock* sock = nullptr;
  // The errno of the kernel's last error answer: libnl folds errnos into
  // fewer NLE_* codes (ENODEV and ENOENT both become NLE_OBJ_NOTFOUND).
  int lastErrno = 0;

  ~Impl() {
    if (sock) nl_socket_free(sock);  // closes the fd
  }

  static int recordError(sockaddr_nl*, nlmsgerr* err, void* arg) {
    static_cast<Impl*>(arg)->lastErrno = -err->error;
    return NL_STOP;  // libnl then returns the error as an NLE_* code
  }

  int kernelErrno(int nle) const { return lastErrno ? lastErrno : errnoOfNle(nle); }

  tl::unexpected<Error> failure(int nle, std::string what) const {
    if (lastErrno) return sysFail(std::move(what), lastErrno);
    return sysFail(what + " (libnl: " + nl_geterror(nle) + ")", errnoOfNle(nle));
  }

  // Sends and waits for the kernel's answer: 0 or a negative NLE_* code.
  int request(nl_msg* msg) {
    lastErrno = 0;
    int err = nl_send_auto(sock, msg);
    if (err < 0) return err;
    return nl_wait_for_ack(sock);
  }

  // A null pointer when no link has the name. One RTM_GETLINK, no cache.
  Result<LinkPtr> findLink(const std::string& name) {
    lastErrno = 0;
    rtnl_link* link = nullptr;
    int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &link);
    if (err == 0) return LinkPtr(link);
    if (kernelErrno(err) == ENODEV) return LinkPtr();
    return failure(err, "looking up link " + name);
  }

  Result<int> requireIndex(const std::string& name) {
    if (!isValidLinkName(name)) return badName(name);
    BERTH_TRY(LinkPtr link, findLink(name));
    if (!link) return fail(Errc::not_found, "no link named " + name);
    return rtnl_link_get_ifindex(link.get());
  }

  Result<void> setUpAt(int index, const std::string& name) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_index = index;
    ifi.ifi_flags = IFF_UP;
    ifi.ifi_change = IFF_UP;
    MsgPtr msg(nlmsg_alloc_simple(RTM_NEWLINK, 0));
    if (!msg || nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0) return buildFailure("to set a link up");
    int err = request(msg.get());
    if (err < 0) {
      if (kernelErrno(err) == ENODEV) return fail(Errc::not_found, "no link named " + name);
      return failure(err, "setting link " + name + " up");
    }
    return {};
  }

  Result<void> addAddressAt(int index, const std::string& name, const Ipv4Prefix& address) {
    ifaddrmsg ifa{};
    ifa.ifa_family = AF_INET;
    ifa.ifa_prefixlen = static_cast<unsigned char>(address.length);
    ifa.ifa_scope = RT_SCOPE_UNIVERSE;
    ifa.ifa_index = static_cast<unsigned>(index);
    uint32_t ip = networkOrder(address.address);
    MsgPtr msg(nlmsg_alloc_simple(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL));
    if (!msg || nlmsg_append(msg.get(), &ifa, sizeof ifa, NLMSG_ALIGNTO) < 0 ||
        nla_put(msg.get(), IFA_LOCAL, sizeof ip, &ip) < 0 || nla_put(msg.get(), IFA_ADDRESS, sizeof ip, &ip) < 0)
      return buildFailure("to add an address");
    int err = request(msg.get());
    // EEXIST: this very address (with this length) is already there.
    if (err < 0 && kernelErrno(err) != EEXIST)
      return failure(err, "adding address " + formatPrefix(address) + " to " + name);
    return {};
  }

  Result<CachePtr> linkCache() {
    lastErrno = 0;
    nl_cache* cache = nullptr;
    int err = rtnl_link_alloc_cache(sock, AF_UNSPEC, &cache);
    if (err < 0) return failure(err, "listing links");
    return CachePtr(cache);
  }
};

Netlink::Netlink(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Netlink::Netlink(Netlink&&) noexcept = default;
Netlink& Netlink::operator=(Netlink&&) noexcept = default;
Netlink::~Netlink() = default;

Result<Netlink> Netlink::open() {
  auto impl = std::make_unique<Impl>();
  impl->sock = nl_socket_alloc();
  if (!impl->sock) return sysFail("allocating a netlink socket", ENOMEM);
  int err = nl_connect(impl->sock, NETLINK_ROUTE);
  if (err < 0) return impl->failure(err, "connecting a NETLINK_ROUTE socket");
  err = nl_socket_modify_err_cb(impl->sock, NL_CB_CUSTOM, &Impl::recordError, impl.get());
  if (err < 0) return impl->failure(err, "setting the netlink error callback");
  return Netlink(std::move(impl));
}

Result<Netlink> Netlink::openIn(int netnsFd) {
  // A socket belongs to the namespace it was made in, so the visit can end right after.
  BERTH_TRY(ScopedNetns visit, ScopedNetns::enter(netnsFd));
  return open();
}

Result<std::optional<int>> Netlink::linkIndex(const std::string& name) {
  if (!isValidLinkName(name)) return badName(name);
  BERTH_TRY(LinkPtr link, impl_->findLink(name));
  if (!link) return std::optional<int>();
  return std::optional<int>(rtnl_link_get_ifindex(link.get()));
}

Result<void> Netlink::ensureBridge(const std::string& name, const Ipv4Prefix& gateway) {
  if (!isValidLinkName(name)) return badName(name);
  BERTH_TRY(LinkPtr link, impl_->findLink(name));
  if (!link) {
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    ifi.ifi_flags = IFF_UP;
    ifi.ifi_change = IFF_UP;
    MsgPtr msg(nlmsg_alloc_simple(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL));
    nlattr* info = nullptr;
    nlattr* data = nullptr;
    // No STP and no forward delay: a new port forwards at once (a container's
    // first packets would otherwise wait out the listening and learning states).
    if (!msg || nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
        nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) < 0 ||
        !(info = nla_nest_start(msg.get(), IFLA_LINKINFO)) ||
        nla_put_string(msg.get(), IFLA_INFO_KIND, "bridge") < 0 ||
        !(data = nla_nest_start(msg.get(), IFLA_INFO_DATA)) ||
        nla_put_u32(msg.get(), IFLA_BR_STP_STATE, 0) < 0 || nla_put_u32(msg.get(), IFLA_BR_FORWARD_DELAY, 0) < 0 ||
        nla_nest_end(msg.get(), data) < 0 || nla_nest_end(msg.get(), info) < 0)
      return buildFailure("to create a bridge");
    int err = impl_->request(msg.get());
    // EEXIST: made by someone else meanwhile; checked like any existing link below.
    if (err < 0 && impl_->kernelErrno(err) != EEXIST) return impl_->failure(err, "creating bridge " + name);
    BERTH_TRY(link, impl_->findLink(name));
    if (!link) return fail(Errc::state_conflict, "bridge " + name + " vanished right after its creation");
  }
  const char* kind = rtnl_link_get_type(link.get());
  if (!kind || std::strcmp(kind, "bridge") != 0)
    return fail(Errc::already_exists, "a link named " + name + " exists and is not a bridge");
  int index = rtnl_link_get_ifindex(link.get());
  BERTH_TRYV(impl_->addAddressAt(index, name, gateway));
  if (!(rtnl_link_get_flags(link.get()) & IFF_UP)) BERTH_TRYV(impl_->setUpAt(index, name));
  return {};
}

Result<void> Netlink::createVeth(const VethSpec& spec) {
  for (const std::string* name : {&spec.hostName, &spec.bridge, &spec.peerName})
    if (!isValidLinkName(*name)) return badName(*name);
  nl_addr* parsedMac = nullptr;
  if (spec.peerMac.size() != 17 || nl_addr_parse(spec.peerMac.c_str(), AF_LLC, &parsedMac) < 0)
    return fail(Errc::invalid_argument, "\"" + spec.peerMac + "\" is not a MAC address");
  AddrPtr mac(parsedMac);

  BERTH_TRY(LinkPtr bridge, impl_->findLink(spec.bridge));
  if (!bridge) return fail(Errc::not_found, "no bridge named " + spec.bridge);
  const char* kind = rtnl_link_get_type(bridge.get());
  if (!kind || std::strcmp(kind, "bridge") != 0)
    return fail(Errc::invalid_argument, "link " + spec.bridge + " is not a bridge");
  unsigned mtu = rtnl_link_get_mtu(bridge.get());

  VethPtr veth(rtnl_link_veth_alloc());
  if (!veth) return sysFail("allocating a veth", ENOMEM);
  LinkPtr peer(rtnl_link_veth_get_peer(veth.get()));  // a reference of its own
  if (!peer) return fail(Errc::internal, "libnl made a veth without a peer");
  rtnl_link_set_name(veth.get(), spec.hostName.c_str());
  rtnl_link_set_mtu(veth.get(), mtu);
  rtnl_link_set_master(veth.get(), rtnl_link_get_ifindex(bridge.get()));
  rtnl_link_set_flags(veth.get(), IFF_UP);
  rtnl_link_set_name(peer.get(), spec.peerName.c_str());
  rtnl_link_set_addr(peer.get(), mac.get());
  rtnl_link_set_mtu(peer.get(), mtu);
  // The peer is born in the container's namespace: it never shows on the host.
  rtnl_link_set_ns_fd(peer.get(), spec.peerNetnsFd);

  impl_->lastErrno = 0;
  int err = rtnl_link_add(impl_->sock, veth.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) {
    std::string what = "creating veth " + spec.hostName + " (peer " + spec.peerName + ")";
    if (impl_->kernelErrno(err) == EEXIST)
      return sysFail(Errc::already_exists, what + ": a link of that name exists", EEXIST);
    return impl_->failure(err, what);
  }
  // One request made both ends, so there is nothing half-made to undo here.
  return {};
}

Result<void> Netlink::deleteLink(const std::string& name) {
  if (!isValidLinkName(name)) return badName(name);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  MsgPtr msg(nlmsg_alloc_simple(RTM_DELLINK, 0));
  if (!msg || nlmsg_append(msg.get(), &ifi, sizeof ifi, NLMSG_ALIGNTO) < 0 ||
      nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) < 0)
    return buildFailure("to delete a link");
  int err = impl_->request(msg.get());
  if (err < 0) {
    if (impl_->kernelErrno(err) == ENODEV) return fail(Errc::not_found, "no link named " + name);
    return impl_->failure(err, "deleting link " + name);
  }
  return {};
}

Result<std::vector<std::string>> Netlink::linkNamesWithPrefix(std::string_view prefix) {
  BERTH_TRY(CachePtr cache, impl_->linkCache());
  std::vector<std::string> names;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj; obj = nl_cache_get_next(obj)) {
    const char* name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(obj));
    if (name && startsWith(name, prefix)) names.emplace_back(name);
  }
  return names;
}

Result<LinkCounters> Netlink::counters(const std::string& name) {
  if (!isValidLinkName(name)) return badName(name);
  BERTH_TRY(LinkPtr link, impl_->findLink(name));
  if (!link) return fail(Errc::not_found, "no link named " + name);
  LinkCounters c;
  c.rxBytes = rtnl_link_get_stat(link.get(), RTNL_LINK_RX_BYTES);
  c.txBytes = rtnl_link_get_stat(link.get(), RTNL_LINK_TX_BYTES);
  c.rxPackets = rtnl_link_get_stat(link.get(), RTNL_LINK_RX_PACKETS);
  c.txPackets = rtnl_link_get_stat(link.get(), RTNL_LINK_TX_PACKETS);
  return c;
}

Result<void> Netlink::setUp(const std::string& name) {
  BERTH_TRY(int index, impl_->requireIndex(name));
  return impl_->setUpAt(index, name);
}

Result<void> Netlink::addAddress(const std::string& name, const Ipv4Prefix& address) {
  if (address.length < 0 || address.length > 32)
    return fail(Errc::invalid_argument, "prefix length " + std::to_string(address.length) + " is out of range");
  BERTH_TRY(int index, impl_->requireIndex(name));
  return impl_->addAddressAt(index, name, address);
}

Result<void> Netlink::addDefaultRoute(Ipv4 gateway) {
  rtmsg rtm{};
  rtm.rtm_family = AF_INET;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_protocol = RTPROT_BOOT;
  rtm.rtm_scope = RT_SCOPE_UNIVERSE;
  rtm.rtm_type = RTN_UNICAST;
  uint32_t gw = networkOrder(gateway);
  MsgPtr msg(nlmsg_alloc_simple(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE));
  if (!msg || nlmsg_append(msg.get(), &rtm, sizeof rtm, NLMSG_ALIGNTO) < 0 ||
      nla_put(msg.get(), RTA_GATEWAY, sizeof gw, &gw) < 0)
    return buildFailure("to add a default route");
  int err = impl_->request(msg.get());
  if (err < 0) return impl_->failure(err, "adding a default route via " + formatIpv4(gateway));
  return {};
}

Result<std::vector<Ipv4Prefix>> Netlink::ipv4Routes(std::string_view excludeLinkPrefix) {
  CachePtr links;
  if (!excludeLinkPrefix.empty()) {
    BERTH_TRY(links, impl_->linkCache());
  }
  impl_->lastErrno = 0;
  nl_cache* routeCache = nullptr;
  int err = rtnl_route_alloc_cache(impl_->sock, AF_INET, 0, &routeCache);
  if (err < 0) return impl_->failure(err, "listing IPv4 routes");
  CachePtr routes(routeCache);

  auto throughExcluded = [&](rtnl_route* route) {
    int hops = rtnl_route_get_nnexthops(route);
    if (!links || hops == 0) return false;
    for (int i = 0; i < hops; ++i) {
      char name[IFNAMSIZ + 1] = {};
      int index = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(route, i));
      if (!rtnl_link_i2name(links.get(), index, name, sizeof name) || !startsWith(name, excludeLinkPrefix))
        return false;
    }
    return true;
  };

  std::vector<Ipv4Prefix> result;
  for (nl_object* obj = nl_cache_get_first(routes.get()); obj; obj = nl_cache_get_next(obj)) {
    auto* route = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_family(route) != AF_INET) continue;
    if (throughExcluded(route)) continue;
    Ipv4Prefix prefix{Ipv4{0}, 0};
    if (nl_addr* dst = rtnl_route_get_dst(route)) {
      prefix.length = static_cast<int>(nl_addr_get_prefixlen(dst));
      if (nl_addr_get_len(dst) == 4) {
        uint32_t raw;
        std::memcpy(&raw, nl_addr_get_binary_addr(dst), sizeof raw);
        prefix.address = Ipv4{ntohl(raw)};
      }
    }
    result.push_back(prefix);
  }
  return result;
}

}  // namespace berth::net
