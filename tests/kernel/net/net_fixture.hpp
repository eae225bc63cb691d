#pragma once
// Shared by the net kernel tests: names and subnets no other run shares,
// guards that remove what a test made even when it fails, a leftover check,
// and TCP probes made from inside a network namespace.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "net/address.hpp"
#include "net/netlink.hpp"
#include "net/netns.hpp"

namespace berth::net::testing {

// "bt" and four base-36 digits of the pid: every link a test of this run
// makes starts with it (and stays within 15 bytes with a short suffix).
inline const std::string& runPrefix() {
  static const std::string prefix = [] {
    const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    auto pid = static_cast<uint32_t>(::getpid());
    std::string p = "bt";
    for (int i = 0; i < 4; ++i, pid /= 36) p += digits[pid % 36];
    return p;
  }();
  return prefix;
}

// A /24 inside 10.200.0.0/13 for this run: 8 per pid, pid-spread, so
// concurrent runs on one host do not route each other's subnets.
inline Ipv4Prefix testSubnet(int n) {
  uint32_t index = (static_cast<uint32_t>(::getpid()) % 256) * 8 + static_cast<uint32_t>(n % 8);
  return Ipv4Prefix{Ipv4{(10u << 24) | ((200u + index / 256) << 16) | ((index % 256) << 8)}, 24};
}
inline Ipv4 hostIn(const Ipv4Prefix& subnet, uint32_t host) { return Ipv4{subnet.network().value | host}; }
inline Ipv4Prefix ifaceIn(const Ipv4Prefix& subnet, uint32_t host) { return {hostIn(subnet, host), subnet.length}; }

inline Netlink openHost() {
  auto nl = Netlink::open();
  REQUIRE(nl);
  return std::move(*nl);
}

// Deletes the named links (if still there) at the end of the test, whatever happened.
class LinkGuard {
 public:
  explicit LinkGuard(Netlink& nl) : nl_(nl) {}
  ~LinkGuard() {
    for (auto it = names_.rbegin(); it != names_.rend(); ++it) (void)nl_.deleteLink(*it);
  }
  LinkGuard(const LinkGuard&) = delete;
  LinkGuard& operator=(const LinkGuard&) = delete;
  const std::string& add(std::string name) { return names_.emplace_back(std::move(name)); }

 private:
  Netlink& nl_;
  std::vector<std::string> names_;
};

inline std::vector<std::string> leftoverLinks() {
  auto nl = openHost();
  auto names = nl.linkNamesWithPrefix(runPrefix());
  REQUIRE(names);
  return *names;
}

inline UniqueFd newNetns() {
  auto fd = createNetworkNamespace();
  REQUIRE(fd);
  return std::move(*fd);
}

// Runs fn on a thread of its own inside the namespace: setns moves only that
// thread, which ends there. What fn makes (sockets) stays in the namespace.
template <typename F>
auto inNetns(int netnsFd, F fn) -> decltype(fn()) {
  std::optional<decltype(fn())> result;
  bool entered = false;
  std::thread thread([&] {
    if (::setns(netnsFd, CLONE_NEWNET) != 0) return;
    entered = true;
    result.emplace(fn());
  });
  thread.join();
  REQUIRE(entered);
  return std::move(*result);
}

inline sockaddr_in socketAddress(Ipv4 ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(ip.value);
  return sa;
}

inline UniqueFd tcpSocket() { return UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)); }

// A listening TCP socket inside the namespace (-1: the caller's own), port chosen by the kernel.
struct Listener {
  UniqueFd fd;
  uint16_t port = 0;
};

inline Listener listenIn(int netnsFd, Ipv4 ip) {
  Listener l;
  l.fd = netnsFd < 0 ? tcpSocket() : inNetns(netnsFd, [] { return tcpSocket(); });
  REQUIRE(l.fd);
  sockaddr_in sa = socketAddress(ip, 0);
  REQUIRE(::bind(l.fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
  REQUIRE(::listen(l.fd.get(), 16) == 0);
  socklen_t len = sizeof sa;
  REQUIRE(::getsockname(l.fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) == 0);
  l.port = ntohs(sa.sin_port);
  return l;
}

// Whether a TCP connection from inside the namespace (-1: the caller's own)
// to ip:port completes within the time; a dropped SYN just times out.
inline bool connects(int netnsFd, Ipv4 ip, uint16_t port, int timeoutMs = 1500) {
  UniqueFd fd = netnsFd < 0 ? tcpSocket() : inNetns(netnsFd, [] { return tcpSocket(); });
  REQUIRE(fd);
  REQUIRE(::fcntl(fd.get(), F_SETFL, O_NONBLOCK) == 0);
  sockaddr_in sa = socketAddress(ip, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd.get(), POLLOUT, 0};
  if (::poll(&p, 1, timeoutMs) != 1) return false;
  int err = 0;
  socklen_t len = sizeof err;
  REQUIRE(::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0);
  return err == 0;
}

// Accepts what connected (so the listener's backlog does not fill up across probes).
inline int drainAccepts(const Listener& l) {
  int n = 0;
  for (;;) {
    pollfd p{l.fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) return n;
    UniqueFd conn(::accept4(l.fd.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return n;
    ++n;
  }
}

// The inode of a namespace fd or path: equal inodes, same namespace.
inline ino_t netnsInode(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_ino;
}
inline ino_t netnsInode(int fd) {
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  return st.st_ino;
}

// What a namespace (-1: the caller's own) shows of one interface.
struct IfaceInfo {
  bool exists = false;
  bool up = false;
  std::vector<Ipv4Prefix> addresses;
  std::string mac;
  int mtu = 0;
};

inline IfaceInfo ifaceInfo(int netnsFd, const std::string& name) {
  auto look = [&] {
    IfaceInfo info;
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return info;
    for (ifaddrs* a = list; a; a = a->ifa_next) {
      if (name != a->ifa_name) continue;
      info.exists = true;
      info.up = (a->ifa_flags & IFF_UP) != 0;
      if (a->ifa_addr && a->ifa_addr->sa_family == AF_INET && a->ifa_netmask) {
        uint32_t ip = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr.s_addr);
        uint32_t mask = ntohl(reinterpret_cast<sockaddr_in*>(a->ifa_netmask)->sin_addr.s_addr);
        info.addresses.push_back({Ipv4{ip}, __builtin_popcount(mask)});
      }
    }
    ::freeifaddrs(list);
    UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    if (sock && ::ioctl(sock.get(), SIOCGIFHWADDR, &req) == 0) {
      char buf[18];
      auto* b = reinterpret_cast<unsigned char*>(req.ifr_hwaddr.sa_data);
      std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
      info.mac = buf;
    }
    if (sock && ::ioctl(sock.get(), SIOCGIFMTU, &req) == 0) info.mtu = req.ifr_mtu;
    return info;
  };
  return netnsFd < 0 ? look() : inNetns(netnsFd, look);
}

inline std::string readFileTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  return text;
}

}  // namespace berth::net::testing
