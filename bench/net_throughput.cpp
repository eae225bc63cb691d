// Container-to-container TCP over berth's bridge path next to a bare veth
// pair made by hand in the same run: bulk throughput one way and the rate of
// short connections, plus what bridge networking adds to a container start
// on the netlink side (attachContainer, createNetworkNamespace).
//   build/bench/bench_net_throughput [--pin split|same] [--no-nf-off] [--runs N] [--conns N]   (root)
// Everything lives in scratch network namespaces that die with the process:
// the bridge sits in the bench's own "host" namespace, so the real host gets
// no link, no route and no sysctl change; subnets are inside 10.202.0.0/16.
// The target: bridge throughput >= 90% of the bare pair's. Paths take
// turns round by round; on a 2-core VM single rounds vary twofold unless
// sender and receiver share a cpu (--pin same), so prefer --runs 7 there.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "net/address.hpp"
#include "net/container_link.hpp"
#include "net/netlink.hpp"
#include "net/netns.hpp"

using namespace berth;
using namespace berth::net;

namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kBulkBytes = 2ull << 30;
constexpr auto kBulkLimit = std::chrono::seconds(3);
constexpr size_t kChunk = 256 * 1024;
constexpr int kIoTimeoutMs = 5000;
const char* const kNfSysctl = "/proc/sys/net/bridge/bridge-nf-call-iptables";

struct Options {
  int senderCpu = -1;  // -1: wherever the scheduler puts the thread
  int receiverCpu = -1;
  bool nfOff = true;   // also measure the bridge with bridge-nf-call-iptables=0 in the scratch host
  int runs = 3;        // rounds: each path's bulk run and connection run once per round
  int conns = 2000;
  int setupIterations = 50;
};

// "bn" and four base-36 digits of the pid: every link this run makes starts with it.
const std::string& runPrefix() {
  static const std::string prefix = [] {
    const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    auto pid = static_cast<uint32_t>(::getpid());
    std::string p = "bn";
    for (int i = 0; i < 4; ++i, pid /= 36) p += digits[pid % 36];
    return p;
  }();
  return prefix;
}

Ipv4 ip(const char* text) { return *parseIpv4(text); }
Ipv4Prefix iface(const char* text, int length) { return {ip(text), length}; }

struct Samples {
  std::vector<double> values;
  double at(double q) {
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())))];
  }
  double median() { return at(0.5); }
};

double microsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

Result<void> pinTo(int cpu) {
  if (cpu < 0) return {};
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int err = ::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
  if (err != 0) return sysFail("pinning a thread to cpu " + std::to_string(cpu), err);
  return {};
}

// Runs fn on a thread of its own that first entered the namespace (and its
// cpu): setns moves only that thread, and the sockets fn makes belong to the
// namespace. The future's destructor joins the thread.
template <typename F>
auto startIn(int netnsFd, int cpu, F fn) -> std::future<decltype(fn())> {
  return std::async(std::launch::async, [netnsFd, cpu, fn = std::move(fn)]() mutable -> decltype(fn()) {
    BERTH_TRYV(pinTo(cpu));
    BERTH_TRY(ScopedNetns visit, ScopedNetns::enter(netnsFd));
    return fn();
  });
}

// ---- the bare pair, made without berth's Netlink ----------------------------

// Just enough of an rtnetlink request builder for one RTM_NEWLINK.
class LinkRequest {
 public:
  LinkRequest(uint16_t type, uint16_t flags) {
    auto* h = header();
    h->nlmsg_type = type;
    h->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    h->nlmsg_seq = 1;
    len_ = NLMSG_HDRLEN;
  }
  void put(const void* data, size_t size) {
    std::memcpy(buf_.data() + len_, data, size);
    len_ += NLMSG_ALIGN(size);
  }
  size_t attr(uint16_t type, const void* data, size_t size) {
    size_t at = len_;
    rtattr rta{static_cast<unsigned short>(RTA_LENGTH(size)), type};
    std::memcpy(buf_.data() + at, &rta, sizeof rta);
    if (size) std::memcpy(buf_.data() + at + RTA_LENGTH(0), data, size);
    len_ += RTA_ALIGN(RTA_LENGTH(size));
    return at;
  }
  size_t nest(uint16_t type) { return attr(type, nullptr, 0); }
  void close(size_t at) {
    rtattr rta;
    std::memcpy(&rta, buf_.data() + at, sizeof rta);
    rta.rta_len = static_cast<unsigned short>(len_ - at);
    std::memcpy(buf_.data() + at, &rta, sizeof rta);
  }
  const void* data() {
    header()->nlmsg_len = static_cast<uint32_t>(len_);
    return buf_.data();
  }
  size_t size() const { return len_; }

 private:
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  alignas(nlmsghdr) std::array<char, 1024> buf_{};
  size_t len_ = 0;
};

// A veth with one end (name) in namespace A and the other (peer) born in B,
// both down: the plainest link two namespaces can have, the baseline.
Result<void> createBareVeth(int netnsA, const std::string& name, int netnsB, const std::string& peer) {
  UniqueFd sock;
  {
    BERTH_TRY(ScopedNetns visit, ScopedNetns::enter(netnsA));
    sock = UniqueFd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  }
  if (!sock) return sysFail("opening a NETLINK_ROUTE socket");
  LinkRequest req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  req.put(&ifi, sizeof ifi);
  req.attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
  size_t info = req.nest(IFLA_LINKINFO);
  req.attr(IFLA_INFO_KIND, "veth", 5);
  size_t data = req.nest(IFLA_INFO_DATA);
  size_t peerInfo = req.nest(VETH_INFO_PEER);
  req.put(&ifi, sizeof ifi);
  req.attr(IFLA_IFNAME, peer.c_str(), peer.size() + 1);
  auto fd = static_cast<uint32_t>(netnsB);
  req.attr(IFLA_NET_NS_FD, &fd, sizeof fd);
  req.close(peerInfo);
  req.close(data);
  req.close(info);
  if (::send(sock.get(), req.data(), req.size(), 0) < 0) return sysFail("sending RTM_NEWLINK");
  alignas(nlmsghdr) std::array<char, 4096> answer{};
  ssize_t n = ::recv(sock.get(), answer.data(), answer.size(), 0);
  if (n < 0) return sysFail("reading the RTM_NEWLINK answer");
  auto* h = reinterpret_cast<nlmsghdr*>(answer.data());
  if (!NLMSG_OK(h, static_cast<unsigned>(n)) || h->nlmsg_type != NLMSG_ERROR)
    return fail(Errc::internal, "unexpected answer to RTM_NEWLINK");
  auto* err = static_cast<nlmsgerr*>(NLMSG_DATA(h));
  if (err->error != 0) return sysFail("creating veth " + name + "/" + peer, -err->error);
  return {};
}

// ---- cleanup ----------------------------------------------------------------

// Deletes the named links of one namespace (if still there), whatever happened.
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

// The namespaces outlive the runs so the leftover check can look inside them
// after every guard (of a finished or a failed run) has had its say.
struct Scratch {
  UniqueFd bareA, bareB;  // joined by the bare veth
  UniqueFd host;          // berth's "host": the bridge
  UniqueFd c1, c2;        // containers on the bridge
  UniqueFd attachTarget;  // the container attachContainer is timed on
};

Result<Scratch> makeScratch() {
  Scratch s;
  for (UniqueFd* fd : {&s.bareA, &s.bareB, &s.host, &s.c1, &s.c2, &s.attachTarget}) {
    BERTH_TRY(*fd, createNetworkNamespace());
  }
  return s;
}

// ---- traffic ----------------------------------------------------------------

struct Endpoint {
  int netnsFd;
  Ipv4 address;
};

sockaddr_in socketAddress(Ipv4 address, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(address.value);
  return sa;
}

Result<UniqueFd> tcpSocket() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return sysFail("socket");
  // A stuck peer fails the run instead of hanging it.
  timeval tv{kIoTimeoutMs / 1000, 0};
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    return sysFail("setting socket timeouts");
  return fd;
}

Result<UniqueFd> listenOn(Ipv4 address, uint16_t& port) {
  BERTH_TRY(UniqueFd fd, tcpSocket());
  sockaddr_in sa = socketAddress(address, 0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return sysFail("bind " + formatIpv4(address));
  if (::listen(fd.get(), 128) != 0) return sysFail("listen");
  socklen_t len = sizeof sa;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) return sysFail("getsockname");
  port = ntohs(sa.sin_port);
  return fd;
}

Result<UniqueFd> acceptOne(int listener) {
  pollfd p{listener, POLLIN, 0};
  int ready = ::poll(&p, 1, kIoTimeoutMs);
  if (ready < 0) return sysFail("poll");
  if (ready == 0) return fail(Errc::deadline_exceeded, "no connection within 5 s");
  UniqueFd conn(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn) return sysFail("accept");
  return conn;
}

Result<UniqueFd> connectTo(Ipv4 address, uint16_t port) {
  BERTH_TRY(UniqueFd fd, tcpSocket());
  int one = 1;
  if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) return sysFail("TCP_NODELAY");
  sockaddr_in sa = socketAddress(address, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
    return sysFail("connect " + formatIpv4(address) + ":" + std::to_string(port));
  return fd;
}

// The receiver makes its listener inside its namespace and tells the sender
// the port; 0 when it could not listen.
class PortHandoff {
 public:
  void give(uint16_t port) {
    if (!given_) promise_.set_value(port);
    given_ = true;
  }
  ~PortHandoff() { give(0); }  // a receiver that failed early still releases the sender
  std::shared_future<uint16_t> future() { return promise_.get_future().share(); }

 private:
  std::promise<uint16_t> promise_;
  bool given_ = false;
};

// Gbit/s of one connection from `from` to `to`: kBulkBytes or kBulkLimit,
// whichever comes first, timed by the receiver from accept to end of stream.
Result<double> bulkGbps(const Endpoint& from, const Endpoint& to, const Options& opts) {
  auto handoff = std::make_shared<PortHandoff>();
  std::shared_future<uint16_t> port = handoff->future();
  auto receiver = startIn(to.netnsFd, opts.receiverCpu, [handoff, address = to.address]() mutable -> Result<double> {
    uint16_t listening = 0;
    auto listener = listenOn(address, listening);
    handoff->give(listener ? listening : 0);
    handoff.reset();
    if (!listener) return tl::unexpected(listener.error());
    BERTH_TRY(UniqueFd conn, acceptOne(listener->get()));
    auto t0 = Clock::now();
    std::vector<char> buf(kChunk);
    uint64_t total = 0;
    for (;;) {
      ssize_t n = ::read(conn.get(), buf.data(), buf.size());
      if (n < 0) return sysFail("receiving");
      if (n == 0) break;
      total += static_cast<uint64_t>(n);
    }
    double seconds = microsSince(t0) / 1e6;
    return static_cast<double>(total) * 8 / seconds / 1e9;
  });
  auto sender = startIn(from.netnsFd, opts.senderCpu, [port, address = to.address]() -> Result<void> {
    uint16_t p = port.get();
    if (p == 0) return fail(Errc::internal, "the receiver did not listen");
    BERTH_TRY(UniqueFd conn, connectTo(address, p));
    std::vector<char> buf(kChunk, 'x');
    auto deadline = Clock::now() + kBulkLimit;
    uint64_t sent = 0;
    for (int i = 0; sent < kBulkBytes; ++i) {
      ssize_t n = ::write(conn.get(), buf.data(), buf.size());
      if (n < 0) return sysFail("sending");
      sent += static_cast<uint64_t>(n);
      if (i % 64 == 0 && Clock::now() > deadline) break;
    }
    ::shutdown(conn.get(), SHUT_WR);
    // Closing now could reset a stream still in flight; wait for the receiver's end.
    char c;
    while (::read(conn.get(), &c, 1) > 0) {
    }
    return {};
  });
  auto sent = sender.get();
  auto received = receiver.get();
  if (!received) return tl::unexpected(received.error().wrap("bulk receiver"));
  if (!sent) return tl::unexpected(sent.error().wrap("bulk sender"));
  return *received;
}

struct ConnRound {
  double perSecond = 0;
  std::vector<double> micros;  // one per connection
};

// n sequential connections from `from` to `to`, each a connect, a 1-byte
// request, a 1-byte reply and close, timed one by one by the client.
Result<ConnRound> connectionRate(const Endpoint& from, const Endpoint& to, int n, const Options& opts) {
  auto handoff = std::make_shared<PortHandoff>();
  std::shared_future<uint16_t> port = handoff->future();
  auto server = startIn(to.netnsFd, opts.receiverCpu, [handoff, n, address = to.address]() mutable -> Result<void> {
    uint16_t listening = 0;
    auto listener = listenOn(address, listening);
    handoff->give(listener ? listening : 0);
    handoff.reset();
    if (!listener) return tl::unexpected(listener.error());
    for (int i = 0; i < n; ++i) {
      BERTH_TRY(UniqueFd conn, acceptOne(listener->get()));
      int one = 1;
      ::setsockopt(conn.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      char c;
      if (::read(conn.get(), &c, 1) != 1) return sysFail("reading a request");
      if (::write(conn.get(), &c, 1) != 1) return sysFail("writing a reply");
    }
    return {};
  });
  auto client = startIn(from.netnsFd, opts.senderCpu, [port, n, address = to.address]() -> Result<ConnRound> {
    uint16_t p = port.get();
    if (p == 0) return fail(Errc::internal, "the server did not listen");
    ConnRound round;
    round.micros.reserve(static_cast<size_t>(n));
    auto start = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto t0 = Clock::now();
      BERTH_TRY(UniqueFd conn, connectTo(address, p));
      char c = 'q';
      if (::write(conn.get(), &c, 1) != 1) return sysFail("writing a request");
      if (::read(conn.get(), &c, 1) != 1) return sysFail("reading a reply");
      conn.reset();
      round.micros.push_back(microsSince(t0));
    }
    round.perSecond = n / (microsSince(start) / 1e6);
    return round;
  });
  auto measured = client.get();
  auto served = server.get();
  if (!measured) return tl::unexpected(measured.error().wrap("connection client"));
  if (!served) return tl::unexpected(served.error().wrap("connection server"));
  return measured;
}

// One way traffic goes, and what it measured over the rounds.
struct Path {
  std::string name;
  Endpoint from, to;
  std::string bridgeNf;    // bridge-nf-call-iptables to set in the scratch host first; empty: leave it
  Samples gbps;            // one per round
  Samples connsPerSecond;  // one per round
  Samples connectMicros;   // every connection of every round
};

// ---- sysctls of the scratch host ---------------------------------------------

// /proc/sys/net shows the namespace of the thread that opens it.
Result<std::string> readSysctl(int netnsFd, const char* path) {
  auto read = [path]() -> Result<std::string> {
    std::ifstream in(path);
    std::string value;
    if (!std::getline(in, value)) return fail(Errc::not_found, std::string("cannot read ") + path);
    return value;
  };
  if (netnsFd < 0) return read();
  return startIn(netnsFd, -1, read).get();
}

Result<void> writeSysctl(int netnsFd, const char* path, const std::string& value) {
  return startIn(netnsFd, -1, [path, value]() -> Result<void> {
           std::ofstream out(path);
           out << value << '\n';
           out.flush();
           if (!out) return sysFail(std::string("writing ") + path);
           return {};
         })
      .get();
}

// Sets bridge-nf-call-iptables in the scratch host only. br_netfilter's
// sysctls are per namespace (Linux >= 5.3); should this kernel share them,
// the real host's value is put back at once and the variant is refused.
Result<void> setScratchBridgeNf(int scratchHost, const std::string& value, const std::string& realHostValue) {
  BERTH_TRYV(writeSysctl(scratchHost, kNfSysctl, value));
  BERTH_TRY(std::string hostNow, readSysctl(-1, kNfSysctl));
  if (hostNow != realHostValue) {
    (void)writeSysctl(-1, kNfSysctl, realHostValue);
    return fail(Errc::internal, "bridge-nf-call-iptables is not per namespace here; the host's value was restored");
  }
  BERTH_TRY(std::string scratchNow, readSysctl(scratchHost, kNfSysctl));
  if (scratchNow != value) return fail(Errc::internal, "bridge-nf-call-iptables did not take " + value);
  return {};
}

// ---- the bench ------------------------------------------------------------------

void printSamples(const char* name, Samples& s) {
  std::printf("%-26s n=%-4zu median %8.1f us   p90 %8.1f us   p99 %8.1f us\n", name, s.values.size(), s.median(),
              s.at(0.9), s.at(0.99));
}

void printRow(Path& p) {
  std::string runs;
  for (double g : p.gbps.values) {
    char b[16];
    std::snprintf(b, sizeof b, "%s%.2f", runs.empty() ? "" : " ", g);
    runs += b;
  }
  std::printf("%-18s %7.2f  %7.0f  %7.1f  %7.1f   %s\n", p.name.c_str(), p.gbps.median(), p.connsPerSecond.median(),
              p.connectMicros.median(), p.connectMicros.at(0.99), runs.c_str());
}

Result<void> runBench(Scratch& s, const Options& opts) {
  const std::string& prefix = runPrefix();

  // 1. The bare pair: A 10.202.0.1/30 <-> B 10.202.0.2/30.
  BERTH_TRY(Netlink bareA, Netlink::openIn(s.bareA.get()));
  BERTH_TRY(Netlink bareB, Netlink::openIn(s.bareB.get()));
  LinkGuard bareLinks(bareA);
  const std::string vethA = bareLinks.add(prefix + "va");
  const std::string vethB = prefix + "vb";  // goes with vethA
  BERTH_TRYV(createBareVeth(s.bareA.get(), vethA, s.bareB.get(), vethB));
  BERTH_TRYV(bareA.setUp("lo"));
  BERTH_TRYV(bareB.setUp("lo"));
  BERTH_TRYV(bareA.addAddress(vethA, iface("10.202.0.1", 30)));
  BERTH_TRYV(bareB.addAddress(vethB, iface("10.202.0.2", 30)));
  BERTH_TRYV(bareA.setUp(vethA));
  BERTH_TRYV(bareB.setUp(vethB));

  // 2. berth's path: a bridge in the scratch host, two containers attached as berthd does.
  BERTH_TRY(Netlink host, Netlink::openIn(s.host.get()));
  LinkGuard hostLinks(host);
  const std::string bridge = hostLinks.add(prefix + "br");
  const Ipv4Prefix gateway = iface("10.202.1.1", 24);
  BERTH_TRYV(host.ensureBridge(bridge, gateway));
  auto spec = [&](const std::string& hostVeth, const char* address) {
    Ipv4Prefix a = iface(address, 24);
    return ContainerLinkSpec{bridge, hostVeth, a, gateway.address, macForAddress(a.address)};
  };
  BERTH_TRYV(attachContainer(host, s.c1.get(), spec(hostLinks.add(prefix + "c1"), "10.202.1.2")));
  BERTH_TRYV(attachContainer(host, s.c2.get(), spec(hostLinks.add(prefix + "c2"), "10.202.1.3")));

  BERTH_TRY(std::string realNf, readSysctl(-1, kNfSysctl));
  BERTH_TRY(std::string scratchNf, readSysctl(s.host.get(), kNfSysctl));
  std::printf("bench_net_throughput: bulk %.0f GiB or %lld s per run, median of %d; %d connections; cpus %s\n",
              static_cast<double>(kBulkBytes) / (1ull << 30), static_cast<long long>(kBulkLimit.count()), opts.runs,
              opts.conns,
              opts.senderCpu < 0 ? "unpinned"
                                 : ("sender " + std::to_string(opts.senderCpu) + ", receiver " +
                                    std::to_string(opts.receiverCpu))
                                       .c_str());
  std::printf("bridge-nf-call-iptables: %s in the real host, %s in the bench's host namespace (no rules there)\n\n",
              realNf.c_str(), scratchNf.c_str());

  std::vector<Path> paths;
  paths.push_back({"bare veth", {s.bareA.get(), ip("10.202.0.1")}, {s.bareB.get(), ip("10.202.0.2")}, "", {}, {}, {}});
  const Endpoint c1{s.c1.get(), ip("10.202.1.2")};
  const Endpoint c2{s.c2.get(), ip("10.202.1.3")};
  const bool nfVariant = opts.nfOff && scratchNf != "0";
  paths.push_back({"bridge, br_nf " + scratchNf, c1, c2, nfVariant ? scratchNf : "", {}, {}, {}});
  if (nfVariant) paths.push_back({"bridge, br_nf 0", c1, c2, "0", {}, {}, {}});

  // Paths take turns within each round, so a drift of the (virtual) host's
  // speed during the run is shared by all of them rather than blamed on one.
  auto prepare = [&](const Path& p) -> Result<void> {
    if (p.bridgeNf.empty()) return {};
    return setScratchBridgeNf(s.host.get(), p.bridgeNf, realNf);
  };
  for (Path& p : paths) {
    // One connection first: ARP and the bridge's FDB are learnt before timing.
    BERTH_TRYV(prepare(p));
    BERTH_TRYV(withContext(connectionRate(p.from, p.to, 1, opts), p.name + " warm-up"));
  }
  for (int round = 0; round < opts.runs; ++round) {
    for (Path& p : paths) {
      BERTH_TRYV(prepare(p));
      BERTH_TRY(double gbps, withContext(bulkGbps(p.from, p.to, opts), p.name + " bulk"));
      p.gbps.values.push_back(gbps);
    }
    for (Path& p : paths) {
      BERTH_TRYV(prepare(p));
      BERTH_TRY(ConnRound conns, withContext(connectionRate(p.from, p.to, opts.conns, opts), p.name + " connections"));
      p.connsPerSecond.values.push_back(conns.perSecond);
      p.connectMicros.values.insert(p.connectMicros.values.end(), conns.micros.begin(), conns.micros.end());
    }
  }
  if (nfVariant) BERTH_TRYV(setScratchBridgeNf(s.host.get(), scratchNf, realNf));

  std::printf("%-18s %7s  %7s  %7s  %7s   %s\n", "path", "Gbit/s", "conn/s", "med us", "p99 us", "Gbit/s per round");
  for (Path& p : paths) printRow(p);
  std::printf("(Gbit/s and conn/s: median of %d rounds; connect+request+reply+close latency over all %d)\n\n",
              opts.runs, opts.runs * opts.conns);
  Path& bare = paths[0];
  for (size_t i = 1; i < paths.size(); ++i)
    std::printf("%s / bare: throughput %.1f%%%s, connection rate %.1f%%\n", paths[i].name.c_str(),
                100 * paths[i].gbps.median() / bare.gbps.median(), i == 1 ? " (target >= 90%)" : "",
                100 * paths[i].connsPerSecond.median() / bare.connsPerSecond.median());

  // 3. What a container start pays on the netlink side.
  Samples attach, detach, createNs;
  const std::string timedVeth = hostLinks.add(prefix + "t");
  for (int i = 0; i < opts.setupIterations; ++i) {
    auto t0 = Clock::now();
    BERTH_TRYV(attachContainer(host, s.attachTarget.get(), spec(timedVeth, "10.202.1.10")));
    attach.values.push_back(microsSince(t0));
    t0 = Clock::now();
    BERTH_TRYV(host.deleteLink(timedVeth));
    detach.values.push_back(microsSince(t0));
  }
  for (int i = 0; i < opts.setupIterations; ++i) {
    auto t0 = Clock::now();
    BERTH_TRY(UniqueFd ns, createNetworkNamespace());
    createNs.values.push_back(microsSince(t0));
  }
  std::printf("\n");
  printSamples("attachContainer", attach);
  printSamples("deleteLink (detach)", detach);
  printSamples("createNetworkNamespace", createNs);
  return {};
}

// Links of this run still present in a namespace (-1: the real host).
Result<std::vector<std::string>> leftovers(int netnsFd) {
  Result<Netlink> nl = netnsFd < 0 ? Netlink::open() : Netlink::openIn(netnsFd);
  if (!nl) return tl::unexpected(nl.error());
  return nl->linkNamesWithPrefix(runPrefix());
}

bool parseArgs(int argc, char* argv[], Options& opts) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--pin") {
      std::string how = value();
      if (how == "split") {
        opts.senderCpu = 0;
        opts.receiverCpu = 1;
      } else if (how == "same") {
        opts.senderCpu = opts.receiverCpu = 0;
      } else {
        return false;
      }
    } else if (arg == "--no-nf-off") {
      opts.nfOff = false;
    } else if (arg == "--runs") {
      opts.runs = std::max(1, std::atoi(value().c_str()));
    } else if (arg == "--conns") {
      opts.conns = std::max(1, std::atoi(value().c_str()));
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char* argv[]) {
  Options opts;
  if (!parseArgs(argc, argv, opts)) {
    std::fprintf(stderr, "usage: bench_net_throughput [--pin split|same] [--no-nf-off] [--runs N] [--conns N]\n");
    return 2;
  }
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_net_throughput needs root\n");
    return 2;
  }
  auto scratch = makeScratch();
  if (!scratch) {
    std::fprintf(stderr, "bench: %s\n", scratch.error().describe().c_str());
    return 1;
  }
  int status = 0;
  if (auto ran = runBench(*scratch, opts); !ran) {
    std::fprintf(stderr, "bench: %s\n", ran.error().describe().c_str());
    status = 1;
  }
  // Every guard has run; the namespaces (and whatever is left in them) die with their fds.
  std::vector<std::string> left;
  for (int fd : {-1, scratch->bareA.get(), scratch->bareB.get(), scratch->host.get(), scratch->c1.get(),
                 scratch->c2.get(), scratch->attachTarget.get()}) {
    auto names = leftovers(fd);
    if (!names) {
      std::fprintf(stderr, "bench: leftover check: %s\n", names.error().describe().c_str());
      status = 1;
      continue;
    }
    left.insert(left.end(), names->begin(), names->end());
  }
  if (left.empty()) {
    std::printf("\nleftovers: none with prefix %s (real host and scratch namespaces)\n", runPrefix().c_str());
  } else {
    std::string list;
    for (const std::string& name : left) list += " " + name;
    std::printf("\nleftovers with prefix %s:%s\n", runPrefix().c_str(), list.c_str());
    status = 1;
  }
  return status;
}
