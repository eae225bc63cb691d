#pragma once
// Fakes of the runtime's seams (runtime/host.hpp and the clock): a pretend
// kernel whose cgroups hold pretend inits, so ContainerManager runs without
// root. An init's "exit" is an eventfd that becomes readable, which the
// manager's supervisor (epoll) and its stops (poll) wait on as on a pidfd.
#include <signal.h>
#include <sys/eventfd.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/unique_fd.hpp"
#include "runtime/host.hpp"
#include "support/test_support.hpp"

namespace berth::testing {

// Wall time under the test's control; monotonic time is real (durations).
class FakeClock final : public Clock {
 public:
  explicit FakeClock(UnixMillis start = 1767225600000) : now_(start) {}
  UnixMillis now() const override { return now_.load(); }
  int64_t monotonicMillis() const override { return berth::monotonicMillis(); }
  void waitUntil(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                 UnixMillis deadline) const override {
    if (now() >= deadline) return;
    {
      std::lock_guard guard(mutex_);
      waiters_.insert({&wake, lock.mutex()});
    }
    wake.wait(lock);  // woken by a notify of its owner or by advance()
    std::lock_guard guard(mutex_);
    waiters_.erase({&wake, lock.mutex()});
  }
  // Moves the wall clock on and wakes whoever waits for a time.
  void advance(std::chrono::milliseconds by) {
    now_ += by.count();
    std::set<std::pair<std::condition_variable*, std::mutex*>> waiting;
    {
      std::lock_guard guard(mutex_);
      waiting = waiters_;
    }
    for (auto [wake, owner] : waiting) {
      std::lock_guard ownerLock(*owner);
      wake->notify_all();
    }
  }

 private:
  std::atomic<UnixMillis> now_;
  mutable std::mutex mutex_;
  mutable std::set<std::pair<std::condition_variable*, std::mutex*>> waiters_;
};

// A pretend container init: it "exits" by making its eventfd readable.
struct FakeInit {
  pid_t pid = 0;
  UniqueFd exitEvent{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  bool exitsOnTerm = true;  // like a shell that traps TERM
  std::optional<runtime::ExitRecord> exit;
  void end(int code, int signal, UnixMillis at) {
    if (exit) return;
    exit = runtime::ExitRecord{code, signal, at};
    uint64_t one = 1;
    (void)!::write(exitEvent.get(), &one, sizeof one);
  }
};

// What the fake cgroups and monitors share: groups by name, inits by runtime id.
class FakeKernel {
 public:
  explicit FakeKernel(const FakeClock& clock) : clock_(clock) {}

  struct GroupState {
    bool frozen = false;
    bool confirmsFreeze = true;  // false: a freeze never reaches "frozen 1"
    std::function<void()> onFinishFreeze;  // called (unlocked) as a freeze's wait begins
    uint64_t oomKills = 0;
    cgroup::Limits limits;
    std::optional<Error> failNextWaitEmpty;  // injected once
    int renewals = 0;                        // renewForClone calls
    std::vector<std::shared_ptr<FakeInit>> inits;
    bool populated() const {
      for (const auto& init : inits)
        if (!init->exit) return true;
      return false;
    }
  };

  std::mutex mutex;
  std::map<std::string, GroupState> groups;                      // by name (= runtime id)
  std::map<std::string, std::shared_ptr<FakeInit>> initsByRuntime;  // the last init of each instance
  std::map<std::string, runtime::ShimState> monitorStates;         // as the monitor files would say
  std::optional<Error> failNextLaunch;
  // The network: host veths and bridges as they stand, host ports something else holds.
  std::set<std::string> veths;
  std::set<std::string> bridges;
  std::set<std::string> hostPortsInUse;  // "127.0.0.1:8081"
  std::optional<Error> failNextAttach;
  std::vector<runtime::BridgeLink> attached;  // every attach and reattach, in order
  std::optional<runtime::ShimSpec> lastSpec;   // what the last launch was given
  std::vector<runtime::ExecRequest> execRequests;  // every exec a monitor was asked for
  // The layers' quotas (by container id), and one failure to inject into the next layer copy.
  std::map<std::string, std::optional<uint64_t>> layerLimits;
  std::map<std::string, std::pair<uint32_t, uint32_t>> layerOwners;  // setOwner's uid and gid, by container id
  std::optional<Error> failNextCopy;
  TempDir layerRoot{"berth-fake-layers"};  // layers/<id>, snapshots/<id>/<sid>: they outlive a service restart
  bool nextInitIgnoresTerm = false;
  int launches = 0;
  pid_t nextPid = 1000;

  const FakeClock& clock() const { return clock_; }

  // The running init of a runtime instance (nullptr if none).
  std::shared_ptr<FakeInit> initOf(const std::string& runtimeId) {
    std::lock_guard lock(mutex);
    auto found = initsByRuntime.find(runtimeId);
    return found == initsByRuntime.end() ? nullptr : found->second;
  }
  // The container's init exits by itself.
  void exitInit(const std::string& runtimeId, int code, int signal = 0) {
    std::lock_guard lock(mutex);
    initsByRuntime.at(runtimeId)->end(code, signal, clock_.now());
  }
  GroupState& group(const std::string& name) { return groups.at(name); }
  // A host boot: every group and process is gone.
  void boot() {
    std::lock_guard lock(mutex);
    groups.clear();
    initsByRuntime.clear();
    monitorStates.clear();
    veths.clear();
    bridges.clear();
  }

 private:
  const FakeClock& clock_;
};

class FakeGroup final : public runtime::ContainerGroup {
 public:
  FakeGroup(FakeKernel& kernel, std::string name) : kernel_(kernel), name_(std::move(name)) {}

  std::vector<std::string> joinFiles() const override { return {"/fake/cgroup/" + name_ + "/cgroup.procs"}; }
  Result<void> renewForClone(const cgroup::Limits& limits) override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    if (state->populated()) return fail(Errc::state_conflict, "fake group " + name_ + " still has processes");
    state->limits = limits;
    ++state->renewals;
    return {};
  }
  Result<void> setLimits(const cgroup::Limits& limits) override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    state->limits = limits;
    return {};
  }
  Result<void> beginFreeze() override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    if (state->confirmsFreeze) state->frozen = true;
    return {};
  }
  Result<void> finishFreeze(std::chrono::milliseconds timeout) override {
    std::function<void()> hook;
    {
      std::lock_guard lock(kernel_.mutex);
      BERTH_TRY(auto* state, find());
      hook = state->onFinishFreeze;
    }
    if (hook) hook();
    {
      std::lock_guard lock(kernel_.mutex);
      BERTH_TRY(auto* state, find());
      if (state->frozen) return {};
    }
    // Never confirmed: the wait runs out and, by the contract, the freeze is undone.
    std::this_thread::sleep_for(timeout);
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    state->frozen = false;
    return fail(Errc::deadline_exceeded, "timed out waiting for 'frozen 1' in /fake/cgroup/" + name_ + "/cgroup.events");
  }
  Result<void> thaw(std::chrono::milliseconds) override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    state->frozen = false;
    return {};
  }
  Result<bool> frozen() const override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    return state->frozen;
  }
  Result<void> killAll(std::chrono::milliseconds) override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    for (auto& init : state->inits) init->end(128 + SIGKILL, SIGKILL, kernel_.clock().now());
    return {};
  }
  Result<void> waitEmpty(std::chrono::milliseconds) const override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    if (state->failNextWaitEmpty) {
      Error error = *state->failNextWaitEmpty;
      state->failNextWaitEmpty.reset();
      return tl::unexpected(error);
    }
    if (state->populated()) return fail(Errc::deadline_exceeded, "fake group " + name_ + " stays populated");
    return {};
  }
  Result<std::vector<pid_t>> pids() const override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    std::vector<pid_t> out;
    for (const auto& init : state->inits)
      if (!init->exit) out.push_back(init->pid);
    return out;
  }
  Result<cgroup::Stats> stats() const override {
    std::lock_guard lock(kernel_.mutex);
    BERTH_TRY(auto* state, find());
    cgroup::Stats stats;
    stats.oomKills = state->oomKills;
    stats.pidsCurrent = state->populated() ? 1 : 0;
    stats.memoryLimitBytes = state->limits.memoryBytes.value_or(0);
    return stats;
  }
  Result<void> destroy() override {
    std::lock_guard lock(kernel_.mutex);
    auto found = kernel_.groups.find(name_);
    if (found == kernel_.groups.end()) return {};
    if (found->second.populated()) return fail(Errc::state_conflict, "fake group " + name_ + " still has processes");
    kernel_.groups.erase(found);
    return {};
  }

 private:
  // With kernel_.mutex held.
  Result<FakeKernel::GroupState*> find() const {
    auto found = kernel_.groups.find(name_);
    if (found == kernel_.groups.end())
      return sysFail("open /fake/cgroup/" + name_ + "/cgroup.events", ENOENT);
    return &found->second;
  }

  FakeKernel& kernel_;
  std::string name_;
};

class FakeCgroups final : public runtime::CgroupController {
 public:
  explicit FakeCgroups(FakeKernel& kernel) : kernel_(kernel) {}
  Result<std::unique_ptr<runtime::ContainerGroup>> create(const std::string& name) override {
    std::lock_guard lock(kernel_.mutex);
    if (!kernel_.groups.emplace(name, FakeKernel::GroupState{}).second)
      return fail(Errc::already_exists, "fake group " + name + " exists");
    return std::unique_ptr<runtime::ContainerGroup>(std::make_unique<FakeGroup>(kernel_, name));
  }
  Result<std::optional<std::unique_ptr<runtime::ContainerGroup>>> open(const std::string& name) override {
    std::lock_guard lock(kernel_.mutex);
    if (!kernel_.groups.count(name)) return std::optional<std::unique_ptr<runtime::ContainerGroup>>{};
    return std::optional<std::unique_ptr<runtime::ContainerGroup>>{std::make_unique<FakeGroup>(kernel_, name)};
  }
  std::vector<cgroup::Hierarchy> containerHierarchies() const override { return {}; }

 private:
  FakeKernel& kernel_;
};

// An exec that has ended as it started: exit code 0, its command echoed on stdout.
class FakeExecHandle final : public runtime::ExecHandle {
 public:
  explicit FakeExecHandle(runtime::ExecRecord record) : record_(std::move(record)), finished_(::eventfd(1, EFD_CLOEXEC)) {}
  const std::string& id() const override { return record_.id; }
  int finishedFd() const override { return finished_.get(); }
  Result<runtime::ExecRecord> wait() override { return record_; }
  int terminalFd() const override { return -1; }
  Result<void> resize(runtime::TerminalSize) override { return {}; }

 private:
  runtime::ExecRecord record_;
  UniqueFd finished_;
};

class FakeMonitor final : public runtime::Monitor {
 public:
  FakeMonitor(FakeKernel& kernel, std::shared_ptr<FakeInit> init, runtime::ShimState state)
      : kernel_(kernel), init_(std::move(init)), state_(state) {}
  const runtime::ShimState& state() const override { return state_; }
  int exitFd() const override { return init_->exitEvent.get(); }
  Result<void> signalInit(int signal) override {
    std::lock_guard lock(kernel_.mutex);
    if (signal == SIGTERM && init_->exitsOnTerm) init_->end(0, 0, kernel_.clock().now());
    return {};
  }
  Result<std::optional<runtime::ExitRecord>> collectExit() override {
    std::lock_guard lock(kernel_.mutex);
    return init_->exit;
  }
  Result<std::unique_ptr<runtime::ExecHandle>> exec(const std::string& execDir, const std::string& execId,
                                                    const runtime::ExecRequest& request) const override {
    std::lock_guard lock(kernel_.mutex);
    kernel_.execRequests.push_back(request);
    runtime::ExecRecord record;
    record.id = execId;
    record.command = request.command;
    record.running = false;
    record.startedAt = record.finishedAt.emplace(kernel_.clock().now());
    for (const std::string& arg : request.command) record.stdoutText += arg + "\n";
    // As the shim does: the record on disk is what the listing reads.
    BERTH_TRYV(makeDirs(execDir, 0700));
    BERTH_TRYV(writeFileFast(runtime::execRecordPath(execDir, execId), runtime::execRecordToJson(record).dump()));
    return std::unique_ptr<runtime::ExecHandle>(std::make_unique<FakeExecHandle>(std::move(record)));
  }

 private:
  FakeKernel& kernel_;
  std::shared_ptr<FakeInit> init_;
  runtime::ShimState state_;
};

class FakeMonitors final : public runtime::MonitorLauncher {
 public:
  explicit FakeMonitors(FakeKernel& kernel) : kernel_(kernel) {}

  Result<std::unique_ptr<runtime::Monitor>> launch(const runtime::InstancePaths&, runtime::ShimSpec spec) override {
    std::lock_guard lock(kernel_.mutex);
    ++kernel_.launches;
    kernel_.lastSpec = spec;
    if (kernel_.failNextLaunch) {
      Error error = *kernel_.failNextLaunch;
      kernel_.failNextLaunch.reset();
      return tl::unexpected(error);
    }
    auto group = kernel_.groups.find(spec.runtimeId);
    if (group == kernel_.groups.end()) return fail(Errc::host_refused, "no fake group " + spec.runtimeId);
    auto init = std::make_shared<FakeInit>();
    init->pid = kernel_.nextPid++;
    init->exitsOnTerm = !std::exchange(kernel_.nextInitIgnoresTerm, false);
    group->second.inits.push_back(init);
    kernel_.initsByRuntime[spec.runtimeId] = init;
    runtime::ShimState state{init->pid + 100000, init->pid, kernel_.clock().now()};
    kernel_.monitorStates[spec.runtimeId] = state;
    return std::unique_ptr<runtime::Monitor>(std::make_unique<FakeMonitor>(kernel_, init, state));
  }

  Result<Found> find(const runtime::InstancePaths& paths) override {
    std::string runtimeId = paths.dir.substr(paths.dir.find_last_of('/') + 1);
    std::lock_guard lock(kernel_.mutex);
    Found found;
    auto init = kernel_.initsByRuntime.find(runtimeId);
    if (init == kernel_.initsByRuntime.end()) return found;
    if (init->second->exit) {
      found.exit = init->second->exit;
    } else {
      found.running = std::make_unique<FakeMonitor>(kernel_, init->second, kernel_.monitorStates.at(runtimeId));
    }
    return found;
  }

 private:
  FakeKernel& kernel_;
};

class FakeNetwork final : public runtime::NetworkController {
 public:
  explicit FakeNetwork(FakeKernel& kernel) : kernel_(kernel) {}

  Result<UniqueFd> attach(const runtime::BridgeLink& link) override {
    std::lock_guard lock(kernel_.mutex);
    if (kernel_.failNextAttach) {
      Error error = *kernel_.failNextAttach;
      kernel_.failNextAttach.reset();
      return tl::unexpected(error);
    }
    if (kernel_.veths.contains(link.hostVeth)) return fail(Errc::host_refused, "veth " + link.hostVeth + " exists");
    kernel_.bridges.insert(link.bridge);
    kernel_.veths.insert(link.hostVeth);
    kernel_.attached.push_back(link);
    return UniqueFd(::eventfd(0, EFD_CLOEXEC));  // stands in for the namespace
  }
  Result<void> reattach(const runtime::BridgeLink& link, pid_t) override {
    std::lock_guard lock(kernel_.mutex);
    kernel_.bridges.insert(link.bridge);
    kernel_.veths.insert(link.hostVeth);
    kernel_.attached.push_back(link);
    return {};
  }
  Result<void> detach(const std::string& hostVeth) override {
    std::lock_guard lock(kernel_.mutex);
    kernel_.veths.erase(hostVeth);
    return {};
  }
  Result<void> dropBridge(const std::string& bridge) override {
    std::lock_guard lock(kernel_.mutex);
    kernel_.bridges.erase(bridge);
    return {};
  }
  Result<std::vector<std::string>> hostVeths() override {
    std::lock_guard lock(kernel_.mutex);
    return std::vector<std::string>(kernel_.veths.begin(), kernel_.veths.end());
  }
  Result<std::optional<runtime::LinkTraffic>> traffic(const std::string& hostVeth) override {
    std::lock_guard lock(kernel_.mutex);
    if (!kernel_.veths.contains(hostVeth)) return std::optional<runtime::LinkTraffic>{};
    return std::optional<runtime::LinkTraffic>(runtime::LinkTraffic{100, 200});
  }
  Result<void> checkHostPort(const store::PublishedPort& port) override {
    std::lock_guard lock(kernel_.mutex);
    if (kernel_.hostPortsInUse.contains(port.hostIp + ":" + std::to_string(port.hostPort)))
      return fail(Errc::already_exists, Detail::port_conflict, "host port " + std::to_string(port.hostPort) + " is in use");
    return {};
  }

 private:
  FakeKernel& kernel_;
};

// Layers as plain directories in a temp dir: snapshots and copies are copies,
// a quota is only recorded (the kernel enforces the real one).
class FakeLayers final : public runtime::LayerStore {
 public:
  explicit FakeLayers(FakeKernel& kernel) : kernel_(kernel) {}

  Result<void> create(const std::string& id) override {
    if (exists(id)) return fail(Errc::already_exists, "layer " + id + " exists");
    std::error_code error;
    for (const std::string& dir : {upperDir(id), workDir(id)}) std::filesystem::create_directories(dir, error);
    if (error) return fail(Errc::host_refused, "fake layer: " + error.message());
    return {};
  }
  Result<void> destroy(const std::string& id) override {
    std::error_code error;
    std::filesystem::remove_all(layer(id), error);
    std::lock_guard lock(kernel_.mutex);
    kernel_.layerLimits.erase(id);
    return {};
  }
  bool exists(const std::string& id) const override { return std::filesystem::exists(layer(id)); }
  std::string upperDir(const std::string& id) const override { return layer(id) + "/upper"; }
  std::string workDir(const std::string& id) const override { return layer(id) + "/work"; }
  Result<void> setLimit(const std::string& id, std::optional<uint64_t> bytes) override {
    std::lock_guard lock(kernel_.mutex);
    kernel_.layerLimits[id] = bytes;
    return {};
  }
  Result<uint64_t> usage(const std::string& id) override { return bytesIn(upperDir(id)); }
  Result<void> setOwner(const std::string& id, uint32_t uid, uint32_t gid) override {
    if (!exists(id)) return fail(Errc::host_refused, "no layer " + id);
    std::lock_guard lock(kernel_.mutex);
    kernel_.layerOwners[id] = {uid, gid};
    return {};
  }
  Result<uint64_t> snapshot(const std::string& id, const std::string& snapshotId) override {
    BERTH_TRYV(copyTree(layer(id), snapshotDir(id, snapshotId)));
    return bytesIn(snapshotDir(id, snapshotId));
  }
  Result<void> restore(const std::string& id, const std::string& snapshotId) override {
    if (!std::filesystem::exists(snapshotDir(id, snapshotId))) return fail(Errc::not_found, "no snapshot " + snapshotId);
    std::error_code error;
    std::filesystem::remove_all(layer(id), error);
    return copyTree(snapshotDir(id, snapshotId), layer(id));
  }
  Result<void> deleteSnapshot(const std::string& id, const std::string& snapshotId) override {
    std::error_code error;
    if (std::filesystem::remove_all(snapshotDir(id, snapshotId), error) == 0) return fail(Errc::not_found, "no snapshot");
    return {};
  }
  Result<void> deleteSnapshots(const std::string& id) override {
    std::error_code error;
    std::filesystem::remove_all(kernel_.layerRoot.sub("snapshots/" + id), error);
    return {};
  }
  Result<void> copy(const std::string& fromId, const std::string& toId) override {
    {
      std::lock_guard lock(kernel_.mutex);
      if (kernel_.failNextCopy) {
        Error failure = *kernel_.failNextCopy;
        kernel_.failNextCopy.reset();
        return tl::unexpected(failure);
      }
    }
    return copyTree(layer(fromId), layer(toId));
  }

 private:
  std::string layer(const std::string& id) const { return kernel_.layerRoot.sub("layers/" + id); }
  std::string snapshotDir(const std::string& id, const std::string& snapshotId) const {
    return kernel_.layerRoot.sub("snapshots/" + id + "/" + snapshotId);
  }
  static Result<void> copyTree(const std::string& from, const std::string& to) {
    std::error_code error;
    std::filesystem::create_directories(to, error);
    std::filesystem::copy(from, to, std::filesystem::copy_options::recursive | std::filesystem::copy_options::copy_symlinks,
                          error);
    if (error) return fail(Errc::host_refused, "fake layer copy: " + error.message());
    return {};
  }
  static uint64_t bytesIn(const std::string& dir) {
    uint64_t total = 0;
    std::error_code error;
    for (auto it = std::filesystem::recursive_directory_iterator(dir, error); !error && it != std::filesystem::end(it);
         it.increment(error))
      if (it->is_regular_file()) total += it->file_size();
    return total;
  }

  FakeKernel& kernel_;
};

inline runtime::Host fakeHost(FakeKernel& kernel, const FakeClock& clock) {
  runtime::Host host;
  host.cgroups = std::make_unique<FakeCgroups>(kernel);
  host.monitors = std::make_unique<FakeMonitors>(kernel);
  host.network = std::make_unique<FakeNetwork>(kernel);
  host.layers = std::make_unique<FakeLayers>(kernel);
  host.clock = &clock;
  return host;
}

}  // namespace berth::testing
