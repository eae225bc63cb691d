// Published ports: the splice proxy (net/port_proxy) against a direct
// connection and, as root, against the kernel's alternative, nftables DNAT.
//   build/bench/bench_net_proxy [connections] [bulk MiB]   (default 2000, 1024)
// (a) connection rate: connect, send 1 byte, read its echo, close; conn/s and
//     median/p99 latency per connection. (b) bulk: MiB one way into a sink,
//     until the sink's close comes back; Gbit/s.
// On loopback in the bench's own network namespace: direct vs the proxy
// (with 64 KiB, 256 KiB, 1 MiB pipes for bulk). As root, also in two
// scratch namespaces joined by a veth pair, the server in the second:
// direct, the proxy, and DNAT of 127.0.0.1:port (route_localnet and the
// nftables table exist only in the scratch namespace; the host's are untouched).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nftables/libnftables.h>

#include "common/unique_fd.hpp"
#include "net/port_proxy.hpp"

using namespace berth;
using namespace berth::net;

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_net_proxy: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

sockaddr_in addressOf(Ipv4 ip, uint16_t port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(ip.value);
  address.sin_port = htons(port);
  return address;
}

UniqueFd listenOn(Ipv4 ip, uint16_t& port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) die("socket");
  sockaddr_in address = addressOf(ip, 0);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind " + formatIpv4(ip));
  if (::listen(fd.get(), SOMAXCONN) != 0) die("listen");
  socklen_t length = sizeof address;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) die("getsockname");
  port = ntohs(address.sin_port);
  return fd;
}

// One epoll thread serving an echo port (answers what arrives) and a sink
// port (reads to EOF, then closes). The same server for every path measured.
class Server {
 public:
  explicit Server(Ipv4 ip) : echo_(listenOn(ip, echoPort)), sink_(listenOn(ip, sinkPort)) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!epoll_ || !wake_) die("epoll/eventfd");
    add(wake_.get(), 0);
    add(echo_.get(), 1);
    add(sink_.get(), 2);
    thread_ = std::thread([this] { loop(); });
  }
  ~Server() {
    uint64_t one = 1;
    if (::write(wake_.get(), &one, sizeof one) != sizeof one) die("eventfd write");
    thread_.join();
    for (auto& [fd, sink] : connections_) ::close(fd);
  }
  uint16_t echoPort = 0;
  uint16_t sinkPort = 0;

 private:
  void add(int fd, uint64_t tag) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) die("epoll_ctl");
  }
  void loop() {
    std::vector<char> buffer(1 << 20);
    epoll_event events[64];
    for (;;) {
      int n = ::epoll_wait(epoll_.get(), events, 64, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) die("epoll_wait");
      for (int i = 0; i < n; ++i) {
        uint64_t tag = events[i].data.u64;
        if (tag == 0) return;
        if (tag == 1 || tag == 2) {
          int fd;
          while ((fd = ::accept4(tag == 1 ? echo_.get() : sink_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
            int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            connections_[fd] = tag == 2;
            add(fd, static_cast<uint64_t>(fd) + 3);
          }
          continue;
        }
        int fd = static_cast<int>(tag - 3);
        bool sink = connections_[fd];
        for (;;) {
          ssize_t got = ::read(fd, buffer.data(), buffer.size());
          if (got > 0) {
            if (!sink && ::send(fd, buffer.data(), static_cast<size_t>(got), MSG_NOSIGNAL) != got) got = 0;
            if (got > 0) continue;
          }
          if (got < 0 && errno == EAGAIN) break;
          connections_.erase(fd);
          ::close(fd);  // EOF (or an error): the close tells the client all arrived
          break;
        }
      }
    }
  }

  UniqueFd echo_;
  UniqueFd sink_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::unordered_map<int, bool> connections_;  // fd -> is a sink
  std::thread thread_;
};

UniqueFd connectTo(Ipv4 ip, uint16_t port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) die("socket");
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address = addressOf(ip, port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
    die("connect " + formatIpv4(ip) + ":" + std::to_string(port));
  return fd;
}

struct Rate {
  double perSecond = 0;
  double medianUs = 0;
  double p99Us = 0;
};

Rate connectionRate(Ipv4 ip, uint16_t port, int count) {
  std::vector<double> us;
  us.reserve(static_cast<size_t>(count));
  auto start = Clock::now();
  for (int i = 0; i < count; ++i) {
    auto t0 = Clock::now();
    UniqueFd fd = connectTo(ip, port);
    char byte = 'x';
    if (::send(fd.get(), &byte, 1, MSG_NOSIGNAL) != 1) die("send");
    if (::read(fd.get(), &byte, 1) != 1) die("read echo");
    fd.reset();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(us.begin(), us.end());
  return {count / seconds, us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]};
}

double bulkGbits(Ipv4 ip, uint16_t port, size_t mib) {
  std::vector<char> chunk(1 << 20, 'b');
  auto t0 = Clock::now();
  UniqueFd fd = connectTo(ip, port);
  for (size_t i = 0; i < mib; ++i) {
    size_t sent = 0;
    while (sent < chunk.size()) {
      ssize_t n = ::send(fd.get(), chunk.data() + sent, chunk.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) die("send bulk");
      sent += static_cast<size_t>(n);
    }
  }
  ::shutdown(fd.get(), SHUT_WR);
  char byte;
  if (::read(fd.get(), &byte, 1) != 0) die("the sink's close");  // all bytes arrived
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return static_cast<double>(mib) * 8.0 * 1024 * 1024 / seconds / 1e9;
}

PortProxy proxyTo(Ipv4 listenIp, Ipv4 targetIp, uint16_t echoPort, uint16_t sinkPort, size_t pipeSize) {
  ProxyOptions options;
  options.pipeSize = pipeSize;
  auto proxy = PortProxy::listen({{listenIp, 0, targetIp, echoPort}, {listenIp, 0, targetIp, sinkPort}}, options);
  if (!proxy) {
    std::fprintf(stderr, "bench_net_proxy: %s\n", proxy.error().describe().c_str());
    std::exit(1);
  }
  auto started = proxy->start([](const Error& error) { std::fprintf(stderr, "proxy: %s\n", error.describe().c_str()); });
  if (!started) {
    std::fprintf(stderr, "bench_net_proxy: %s\n", started.error().describe().c_str());
    std::exit(1);
  }
  return std::move(*proxy);
}

void row(const char* name, const Rate& rate, double gbits) {
  std::printf("  %-30s %9.0f conn/s  median %7.1f us  p99 %7.1f us   bulk %6.2f Gbit/s\n", name, rate.perSecond,
              rate.medianUs, rate.p99Us, gbits);
}

void bulkRow(const char* name, double gbits) { std::printf("  %-30s %58s bulk %6.2f Gbit/s\n", name, "", gbits); }

// Direct and through the proxy, to a server at serverIp, the proxy listening on 127.0.0.1.
void directAndProxied(Ipv4 serverIp, const Server& server, int count, size_t mib, bool pipeSizes) {
  const Ipv4 loopback{0x7f000001};
  row("direct", connectionRate(serverIp, server.echoPort, count), bulkGbits(serverIp, server.sinkPort, mib));
  PortProxy proxy = proxyTo(loopback, serverIp, server.echoPort, server.sinkPort, 256 * 1024);
  row("splice proxy (256 KiB pipes)", connectionRate(loopback, proxy.hostPorts()[0], count),
      bulkGbits(loopback, proxy.hostPorts()[1], mib));
  proxy.stop();
  if (!pipeSizes) return;
  for (size_t size : {size_t{64} << 10, size_t{1} << 20}) {
    PortProxy sized = proxyTo(loopback, serverIp, server.echoPort, server.sinkPort, size);
    std::string name = "splice proxy (" + (size < (1 << 20) ? std::to_string(size >> 10) + " KiB" : "1 MiB") + " pipes)";
    bulkRow(name.c_str(), bulkGbits(loopback, sized.hostPorts()[1], mib));
  }
}

// Runs a command in the calling thread's network namespace (a spawned child inherits the thread's).
void run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (int err = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ); err != 0) {
    errno = err;
    die("spawn " + argv[0]);
  }
  int status;
  if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string line;
    for (const std::string& arg : argv) line += arg + " ";
    errno = 0;
    die("failed: " + line);
  }
}

std::string readLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void nft(const std::string& commands) {
  nft_ctx* context = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!context) die("nft_ctx_new");
  nft_ctx_buffer_error(context);
  if (nft_run_cmd_from_buffer(context, commands.c_str()) != 0) {
    std::fprintf(stderr, "bench_net_proxy: nft: %s\n", nft_ctx_get_error_buffer(context));
    std::exit(1);
  }
  nft_ctx_free(context);
}

// (c): thread A (clients, the proxy, DNAT) and thread B (the server) each
// unshare a network namespace of their own; a veth pair joins them.
void scratchNamespaces(int count, size_t mib) {
  const Ipv4 serverIp{0x0ac80002};  // 10.200.0.2
  const Ipv4 loopback{0x7f000001};
  const std::string hostLocalnet = readLine("/proc/sys/net/ipv4/conf/all/route_localnet");
  std::promise<std::string> serverNs;     // B's namespace path
  std::promise<void> linked;              // the veth peer is in B
  std::promise<std::pair<uint16_t, uint16_t>> serving;
  std::promise<void> finished;
  std::thread b([&] {
    if (::unshare(CLONE_NEWNET) != 0) die("unshare B");
    serverNs.set_value("/proc/" + std::to_string(::getpid()) + "/task/" + std::to_string(::syscall(SYS_gettid)) + "/ns/net");
    linked.get_future().wait();
    run({"ip", "link", "set", "lo", "up"});
    run({"ip", "addr", "add", "10.200.0.2/24", "dev", "bv1"});
    run({"ip", "link", "set", "bv1", "up"});
    {
      Server server(serverIp);
      serving.set_value({server.echoPort, server.sinkPort});
      finished.get_future().wait();
    }
  });
  std::thread a([&] {
    if (::unshare(CLONE_NEWNET) != 0) die("unshare A");
    std::string nsB = serverNs.get_future().get();
    run({"ip", "link", "set", "lo", "up"});
    run({"ip", "link", "add", "name", "bv0", "type", "veth", "peer", "name", "bv1", "netns", nsB});
    run({"ip", "addr", "add", "10.200.0.1/24", "dev", "bv0"});
    run({"ip", "link", "set", "bv0", "up"});
    linked.set_value();
    auto [echoPort, sinkPort] = serving.get_future().get();
    {
      // This thread's namespace: /proc/sys/net follows the writer's namespace.
      std::ofstream localnet("/proc/sys/net/ipv4/conf/all/route_localnet");
      localnet << "1\n";
      if (!localnet.flush()) die("route_localnet in the scratch namespace");
    }
    if (readLine("/proc/sys/net/ipv4/conf/all/route_localnet") != "1") die("route_localnet did not take");
    const std::string server = "10.200.0.2:";
    nft("add table ip berth_bench\n"
        "add chain ip berth_bench out { type nat hook output priority -100 ; }\n"
        "add chain ip berth_bench post { type nat hook postrouting priority 100 ; }\n"
        "add rule ip berth_bench out ip daddr 127.0.0.1 tcp dport 20001 dnat to " + server + std::to_string(echoPort) + "\n"
        "add rule ip berth_bench out ip daddr 127.0.0.1 tcp dport 20002 dnat to " + server + std::to_string(sinkPort) + "\n"
        "add rule ip berth_bench post ip daddr 10.200.0.2 oifname \"bv0\" masquerade\n");
    // Settle the veth (carrier up) before timing.
    (void)connectionRate(serverIp, echoPort, 50);
    row("direct over veth", connectionRate(serverIp, echoPort, count), bulkGbits(serverIp, sinkPort, mib));
    {
      PortProxy proxy = proxyTo(loopback, serverIp, echoPort, sinkPort, 256 * 1024);
      row("splice proxy (256 KiB pipes)", connectionRate(loopback, proxy.hostPorts()[0], count),
          bulkGbits(loopback, proxy.hostPorts()[1], mib));
    }
    row("nftables DNAT + masquerade", connectionRate(loopback, 20001, count), bulkGbits(loopback, 20002, mib));
    finished.set_value();
  });
  a.join();
  b.join();
  std::string after = readLine("/proc/sys/net/ipv4/conf/all/route_localnet");
  std::printf("  (host route_localnet %s before, %s after)\n", hostLocalnet.c_str(), after.c_str());
  if (after != hostLocalnet) die("the host's route_localnet changed");
}

}  // namespace

int main(int argc, char* argv[]) {
  int count = argc > 1 ? std::atoi(argv[1]) : 2000;
  size_t mib = argc > 2 ? static_cast<size_t>(std::atoll(argv[2])) : 1024;
  std::printf("connection rate: %d connections; bulk: %zu MiB one way\n", count, mib);
  std::printf("loopback:\n");
  {
    Server server(Ipv4{0x7f000001});
    (void)connectionRate(Ipv4{0x7f000001}, server.echoPort, 50);  // warm up
    directAndProxied(Ipv4{0x7f000001}, server, count, mib, true);
  }
  if (::geteuid() != 0) {
    std::printf("veth + DNAT: skipped (needs root)\n");
    return 0;
  }
  std::printf("two scratch network namespaces, veth, server at 10.200.0.2:\n");
  scratchNamespaces(count, mib);
  return 0;
}
