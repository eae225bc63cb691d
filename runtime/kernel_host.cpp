// The host side of runtime/host.hpp: cgroups through cgroup::Driver, monitors
// through the berth-shim binary and its files in the run dir.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>

#include "common/process.hpp"
#include "namespaces/security.hpp"
#include "namespaces/userns.hpp"
#include "runtime/host.hpp"
#include "runtime/images.hpp"
#include "runtime/kernel_layers.hpp"
#include "runtime/kernel_network.hpp"

namespace berth::runtime {

namespace {

// How long a shim may take from its spawn to the report that init exec'd.
constexpr auto kShimReportDeadline = std::chrono::seconds(30);

class KernelGroup final : public ContainerGroup {
 public:
  explicit KernelGroup(cgroup::Group group) : group_(std::move(group)) {}
  std::vector<std::string> joinFiles() const override { return group_.joinFiles(); }
  Result<void> renewForClone(const cgroup::Limits& limits) override { return group_.renewForClone(limits); }
  Result<void> setLimits(const cgroup::Limits& limits) override { return group_.setLimits(limits); }
  Result<void> beginFreeze() override { return group_.beginFreeze(); }
  Result<void> finishFreeze(std::chrono::milliseconds timeout) override { return group_.finishFreeze(timeout); }
  Result<void> thaw(std::chrono::milliseconds timeout) override { return group_.thaw(timeout); }
  Result<bool> frozen() const override { return group_.frozen(); }
  Result<void> killAll(std::chrono::milliseconds timeout) override { return group_.killAll(timeout); }
  Result<void> waitEmpty(std::chrono::milliseconds timeout) const override { return group_.waitEmpty(timeout); }
  Result<std::vector<pid_t>> pids() const override { return group_.pids(); }
  Result<cgroup::Stats> stats() const override { return group_.stats(); }
  Result<void> destroy() override { return group_.destroy(); }

 private:
  cgroup::Group group_;
};

class KernelCgroups final : public CgroupController {
 public:
  explicit KernelCgroups(cgroup::Driver driver) : driver_(std::move(driver)) {}

  Result<std::unique_ptr<ContainerGroup>> create(const std::string& name) override {
    BERTH_TRY(auto made, driver_.createGroup(name));
    return std::unique_ptr<ContainerGroup>(std::make_unique<KernelGroup>(std::move(made).commit()));
  }

  Result<std::optional<std::unique_ptr<ContainerGroup>>> open(const std::string& name) override {
    auto opened = driver_.openGroup(name);
    if (!opened) {
      if (opened.error().code == Errc::not_found) return std::optional<std::unique_ptr<ContainerGroup>>{};
      return tl::unexpected(std::move(opened.error()));
    }
    return std::optional<std::unique_ptr<ContainerGroup>>{std::make_unique<KernelGroup>(std::move(*opened))};
  }

  std::vector<cgroup::Hierarchy> containerHierarchies() const override { return driver_.containerHierarchies(); }

 private:
  cgroup::Driver driver_;
};

class ShimMonitor final : public Monitor {
 public:
  ShimMonitor(InstancePaths paths, ShimState state, UniqueFd shimPidfd, bool isOurChild)
      : paths_(std::move(paths)), state_(state), shimPidfd_(std::move(shimPidfd)), isOurChild_(isOurChild) {
    // Signals go through a pidfd, so a recycled pid can never be hit.
    if (auto initPidfd = openPidfd(state_.initPid)) initPidfd_ = std::move(*initPidfd);
  }

  const ShimState& state() const override { return state_; }
  int exitFd() const override { return shimPidfd_.get(); }

  Result<void> signalInit(int signal) override {
    if (!initPidfd_) return {};  // init was gone before we could open it
    if (::syscall(SYS_pidfd_send_signal, initPidfd_.get(), signal, nullptr, 0) != 0 && errno != ESRCH)
      return sysFail("signal " + std::to_string(signal) + " to init " + std::to_string(state_.initPid));
    return {};
  }

  Result<std::optional<ExitRecord>> collectExit() override {
    if (isOurChild_) {
      siginfo_t info{};
      while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(shimPidfd_.get()), &info, WEXITED) != 0) {
        if (errno != EINTR) return sysFail("waitid for the monitor " + std::to_string(state_.shimPid));
      }
      isOurChild_ = false;
    }
    return readExitRecord(paths_);
  }

  Result<std::unique_ptr<ExecHandle>> exec(const std::string& execDir, const std::string& execId,
                                           const ExecRequest& request) const override {
    return startShimExec(paths_.dir, execDir, execId, request);
  }

 private:
  InstancePaths paths_;
  ShimState state_;
  UniqueFd shimPidfd_;
  UniqueFd initPidfd_;
  bool isOurChild_;
};

class ShimLauncher final : public MonitorLauncher {
 public:
  ShimLauncher(std::string shimBinary, std::vector<sock_filter> seccompFilter)
      : shimBinary_(std::move(shimBinary)), seccompFilter_(std::move(seccompFilter)) {}

  Result<std::unique_ptr<Monitor>> launch(const InstancePaths& paths, ShimSpec spec) override {
    spec.seccompFilter = seccompFilter_;
    BERTH_TRY(auto launched, launchShim(shimBinary_, paths, spec, kShimReportDeadline));
    return std::unique_ptr<Monitor>(
        std::make_unique<ShimMonitor>(paths, launched.state, std::move(launched.shimPidfd), true));
  }

  Result<Found> find(const InstancePaths& paths) override {
    Found found;
    BERTH_TRY(found.exit, readExitRecord(paths));
    if (found.exit) return found;  // the monitor may still be on its way out
    BERTH_TRY(auto state, readShimState(paths));
    if (!state) return found;
    auto shimPidfd = openPidfd(state->shimPid);
    if (!shimPidfd || waitPidfdReadable(shimPidfd->get(), std::chrono::milliseconds(0)).value_or(true)) return found;
    found.running = std::make_unique<ShimMonitor>(paths, *state, std::move(*shimPidfd), false);
    return found;
  }

 private:
  std::string shimBinary_;
  std::vector<sock_filter> seccompFilter_;  // compiled once, handed to every shim
};

Result<std::string> executablePath() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) return sysFail("readlink /proc/self/exe");
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Result<Host> kernelHost(const RuntimeConfig& config) {
  BERTH_TRY(auto driver, cgroup::Driver::detect(config.cgroupRoot));
  std::string shimBinary = config.shimPath;
  if (shimBinary.empty()) {
    BERTH_TRY(std::string self, executablePath());
    shimBinary = self.substr(0, self.find_last_of('/')) + "/berth-shim";
  }
  if (::access(shimBinary.c_str(), X_OK) != 0) return sysFail("shim binary " + shimBinary);
  BERTH_TRY(auto filter, withContext(ns::compileDefaultFilter(), "seccomp filter"));
  Host host;
  host.cgroups = std::make_unique<KernelCgroups>(std::move(driver));
  host.monitors = std::make_unique<ShimLauncher>(std::move(shimBinary), std::move(filter));
  BERTH_TRY(host.network, kernelNetwork(config.network));
  BERTH_TRY(host.layers, kernelLayers(config));
  // Probed once, at the first create that asks for it.
  struct Probe {
    std::once_flag once;
    Result<void> result;
  };
  auto probe = std::make_shared<Probe>();
  host.userNamespaceSupport = [probe, images = imageRootfs(config.dataDir + "/images", kDefaultImage),
                               scratch = config.dataDir + "/containers"]() -> Result<void> {
    std::call_once(probe->once, [&] {
      probe->result = withContext(ns::probeUserNamespaceRoot(images, scratch), "isolation user-namespace");
    });
    return probe->result;
  };
  return host;
}

}  // namespace berth::runtime
