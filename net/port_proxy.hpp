#pragma once
// Published ports in userspace: a TCP forwarder from host ip:port to a
// container's ip:port, served by the container's monitor (berth-shim), which
// outlives the service. Bytes move with splice(2) through a pipe per
// direction, so they are never copied into this process.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "net/address.hpp"

namespace berth::net {

struct PortForward {
  Ipv4 hostIp;
  uint16_t hostPort = 0;  // 0: the kernel picks one (see PortProxy::hostPorts)
  Ipv4 targetIp;
  uint16_t targetPort = 0;
};

struct ProxyOptions {
  // Capacity asked of each splice pipe (F_SETPIPE_SZ); a refusal (the
  // per-user pipe quota) keeps the kernel's default of 64 KiB.
  size_t pipeSize = 256 * 1024;
  // How long accepting pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM: the
  // connection stays queued and would wake a level-triggered loop at once.
  int acceptBackoffMs = 100;
};

// Checks that hostIp:hostPort can be bound right now (SO_REUSEADDR, bind, close):
//   taken -> already_exists with Detail::port_conflict;
//   hostIp not an address of this host -> invalid_argument naming it;
//   anything else -> host_refused.
// Only a check: another process may bind the port before listen().
Result<void> probeHostPort(Ipv4 hostIp, uint16_t hostPort);

class PortProxy {
 public:
  // Called on the proxy's thread for what an operator should see (accept
  // backing off, a failed socket or epoll call); a refused or reset
  // connection is the peers' business and is not reported.
  using ErrorSink = std::function<void(const Error&)>;

  // Binds and listens on every forward (SO_REUSEADDR, CLOEXEC, nonblocking)
  // or on none; the errors of probeHostPort. Connections queue in the
  // backlog until start().
  static Result<PortProxy> listen(const std::vector<PortForward>& forwards, const ProxyOptions& options = {});

  PortProxy(PortProxy&&) noexcept;
  PortProxy& operator=(PortProxy&&) noexcept;
  PortProxy(const PortProxy&) = delete;
  PortProxy& operator=(const PortProxy&) = delete;
  ~PortProxy();  // stop()

  // Serves on one thread of its own (epoll, all signals blocked) until
  // stop(); returns at once. state_conflict when started or stopped before.
  Result<void> start(ErrorSink onError = {});
  // Closes the listeners and every connection, then joins the thread. Idempotent.
  void stop();

  // The bound host port of each forward, in order (the kernel's pick where hostPort was 0).
  std::vector<uint16_t> hostPorts() const;

 private:
  struct State;
  explicit PortProxy(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace berth::net
