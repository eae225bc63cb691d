// The runtime core on the real kernel: containers created, started, paused,
// stopped and deleted through ContainerManager, with the real shim.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>
#include <atomic>
#include <algorithm>

#include "cgroup/cgroup.hpp"
#include "common/clock.hpp"
#include "common/files.hpp"
#include "common/process.hpp"
#include "runtime/shim.hpp"
#include "runtime/manager.hpp"
#include "store/store.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::runtime;
using berth::testing::TempDir;

namespace {

const std::string kAdmin = "0123456789abcdef01234567";

class Fixture {
 public:
  Fixture() : root_(berth::testing::uniqueCgroupRoot("rt")) {
    config_.dataDir = data_.path();
    config_.runDir = data_.sub("run");
    config_.cgroupRoot = root_;
    config_.shimPath = BERTH_BUILD_DIR "/cmd/berth-shim";
    auto opened = store::Store::open(data_.sub("db"), {.syncOnCommit = false});
    REQUIRE(opened);
    store_ = std::move(*opened);
    reopen();
  }

  ~Fixture() {
    if (manager_) {
      auto all = store_->allContainers();
      if (all)
        for (const auto& record : *all)
          if (record.status != ContainerStatus::deleted) {
            auto removed = manager_->remove(kAdmin, record.id, true, false);
            if (!removed) WARN("cleanup of " << record.id << ": " << removed.error().describe());
          }
      manager_.reset();
    }
    if (auto driver = cgroup::Driver::detect(root_)) (void)driver->removeRoot();
    auto left = berth::testing::leftoverCgroups(root_);
    CHECK(left.empty());
    CHECK(berth::testing::unmountStoragePool(data_.path()));
    CHECK(berth::testing::mountsContaining(data_.path()).empty());
    CHECK(berth::testing::loopDevicesBackedBy(data_.path()).empty());
  }

  void reopen() {
    manager_.reset();
    auto manager = ContainerManager::open(config_, *store_);
    if (!manager) FAIL(manager.error().describe());
    manager_ = std::move(*manager);
  }
  void closeManager() { manager_.reset(); }

  ContainerManager& manager() { return *manager_; }
  store::Store& store() { return *store_; }
  RuntimeConfig& config() { return config_; }
  std::string upperFile(const ContainerRecord& record, const std::string& path) const {
    return data_.path() + "/storage/pool/layers/" + record.id + "/upper" + path;
  }
  std::string consoleLog(const ContainerRecord& record) const {
    return data_.path() + "/containers/" + record.id + "/console.log";
  }

  ContainerRecord create(const std::string& name, std::vector<std::string> command, bool autostart = true) {
    CreateRequest request;
    request.name = name;
    request.projectId = kAdmin;
    request.command = std::move(command);
    request.autostart = autostart;
    auto created = manager_->create(kAdmin, request);
    if (!created) FAIL("create " << name << ": " << created.error().describe());
    if (created->startError) FAIL("autostart of " << name << ": " << created->startError->describe());
    // A TERM handler says "ready" once its trap is set: an init ignores a
    // signal it has no handler for, so a stop sent sooner would be lost.
    if (autostart && !request.command.empty() && request.command.back().find("echo ready") != std::string::npos) {
      std::string log = consoleLog(created->record);
      for (int i = 0; i < 200 && berth::readFile(log).value_or("").find("ready\n") == std::string::npos; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
      CHECK(berth::readFile(log).value_or("").find("ready\n") != std::string::npos);
    }
    return created->record;
  }

  // Polls the record until it reaches the status (the supervisor records exits asynchronously).
  ContainerRecord waitFor(const std::string& id, ContainerStatus status, int timeoutMs = 5000) {
    int64_t end = monotonicMillis() + timeoutMs;
    for (;;) {
      auto record = manager_->get(id);
      REQUIRE(record);
      if (record->status == status || monotonicMillis() > end) return *record;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

 private:
  TempDir data_{"berth-rt"};
  std::string root_;
  RuntimeConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ContainerManager> manager_;
};

const std::vector<std::string> kTermHandler{"/bin/sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.05; done"};

std::string readOr(const std::string& path) {
  auto text = readFile(path);
  return text ? *text : "";
}

// Runs the command in a new container until it exits 0; its console output.
std::string outputOfRun(Fixture& f, const std::string& name, std::vector<std::string> command) {
  auto record = f.create(name, std::move(command));
  auto done = f.waitFor(record.id, ContainerStatus::stopped);
  REQUIRE(done.status == ContainerStatus::stopped);
  CHECK(done.exitCode == 0);
  return readOr(f.consoleLog(record));
}

std::vector<store::StatusLogEntry> logOf(Fixture& f, const std::string& id) {
  store::LogQuery query;
  query.page.limit = 100;
  query.order = store::SortOrder::asc;
  auto page = f.manager().statusLogs(id, query);
  REQUIRE(page);
  return page->logs;
}

}  // namespace

TEST_CASE("a container runs isolated: pid 1, own hostname, own root, no host processes") {
  Fixture f;
  std::string out = outputOfRun(f, "iso", {"/bin/sh", "-c", "echo pid=$$; echo host=$(hostname); ls /proc | grep -c '^[0-9]'; test -e /etc/os-release && echo hostroot || echo ownroot"});
  CHECK(out.find("pid=1\n") != std::string::npos);
  CHECK(out.find("host=iso\n") != std::string::npos);
  CHECK(out.find("ownroot") != std::string::npos);
  // sh, ls, grep: a handful of pids at most, never the host's hundreds
  auto countLine = out.substr(out.find("host=iso\n") + 9);
  CHECK(std::stoi(countLine) < 10);
}

TEST_CASE("a container started by the manager runs under the seccomp filter berthd compiled once") {
  Fixture f;
  CHECK(outputOfRun(f, "filtered", {"grep", "^Seccomp:", "/proc/self/status"}) == "Seccomp:\t2\n");
}

TEST_CASE("writes land in the container's own writable layer") {
  Fixture f;
  auto a = f.create("writer", {"/bin/sh", "-c", "echo hello > /data.txt"});
  REQUIRE(f.waitFor(a.id, ContainerStatus::stopped).exitCode == 0);
  CHECK(readOr(f.upperFile(a, "/data.txt")) == "hello\n");
  CHECK_FALSE(pathExists(f.config().dataDir + "/images/busybox/rootfs/data.txt"));
  auto b = f.create("reader", {"/bin/sh", "-c", "test -e /data.txt"});
  CHECK(f.waitFor(b.id, ContainerStatus::stopped).exitCode == 1);
}

TEST_CASE("exit codes and the status log of a container that exits by itself") {
  Fixture f;
  auto record = f.create("seven", {"/bin/sh", "-c", "exit 7"});
  auto done = f.waitFor(record.id, ContainerStatus::stopped);
  REQUIRE(done.status == ContainerStatus::stopped);
  CHECK(done.exitCode == 7);
  CHECK_FALSE(done.exitSignal);
  CHECK_FALSE(done.pid);
  auto log = logOf(f, record.id);
  REQUIRE(log.size() == 3);
  CHECK(log[0].fromStatus == ContainerStatus::creating);
  CHECK(log[1].toStatus == ContainerStatus::running);
  CHECK(log[2].toStatus == ContainerStatus::stopped);
  CHECK(log[2].triggeredBy == "system");
  CHECK(log[2].metadata.exitCode == 7);
}

TEST_CASE("stop: a SIGTERM-handling init stops fast, one that ignores it is killed after the timeout") {
  Fixture f;
  auto polite = f.create("polite", kTermHandler);
  REQUIRE(polite.status == ContainerStatus::running);
  int64_t t0 = monotonicMillis();
  auto stopped = f.manager().operate(kAdmin, polite, Operation::stop);
  REQUIRE(stopped);
  CHECK(monotonicMillis() - t0 < 2000);
  CHECK(stopped->status == ContainerStatus::stopped);
  CHECK(stopped->exitCode == 0);

  auto stubborn = f.create("stubborn", {"/bin/sh", "-c", "trap '' TERM; while true; do sleep 0.05; done"});
  t0 = monotonicMillis();
  OperationOptions options;
  options.timeout = std::chrono::seconds(1);
  auto killed = f.manager().operate(kAdmin, stubborn, Operation::stop, options);
  REQUIRE(killed);
  int64_t took = monotonicMillis() - t0;
  CHECK(took >= 1000);
  CHECK(took < 5000);
  CHECK(killed->exitSignal == "SIGKILL");
  CHECK(killed->exitCode == 137);
}

TEST_CASE("force-stop ends a tree of 50 processes at once") {
  Fixture f;
  auto tree = f.create("tree", {"/bin/sh", "-c", "for i in $(seq 50); do sleep 1000 & done; wait"});
  // wait until the 50 sleepers exist
  int64_t end = monotonicMillis() + 5000;
  uint64_t count = 0;
  while (monotonicMillis() < end) {
    auto info = f.manager().runtimeInfo(tree);
    REQUIRE(info);
    count = info->processes.size();
    if (count >= 51) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(count >= 51);
  int64_t t0 = monotonicMillis();
  auto stopped = f.manager().operate(kAdmin, tree, Operation::force_stop);
  REQUIRE(stopped);
  CHECK(monotonicMillis() - t0 < 1000);
  CHECK(stopped->status == ContainerStatus::stopped);
  auto info = f.manager().runtimeInfo(tree);
  REQUIRE(info);
  CHECK(info->processes.empty());
}

TEST_CASE("a container force-stopped starts again in the same, killed group and stays up") {
  // Linux 6.15+ kills what is cloned into a group cgroup.kill was used on;
  // an init that joins its groups by cgroup.procs is not affected.
  Fixture f;
  auto record = f.create("again", kTermHandler);
  REQUIRE(f.manager().operate(kAdmin, record, Operation::force_stop));
  auto started = f.manager().operate(kAdmin, record, Operation::start);
  REQUIRE(started);
  CHECK(started->runtimeId == record.runtimeId);
  REQUIRE(started->pid);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(::kill(*started->pid, 0) == 0);
  auto current = f.manager().get(record.id);
  REQUIRE(current);
  CHECK(current->status == ContainerStatus::running);
}

TEST_CASE("pause freezes the container and resume lets it go on") {
  Fixture f;
  auto ticker = f.create("ticker", {"/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tick; sleep 0.02; done"});
  std::string tick = f.upperFile(ticker, "/tick");
  int64_t end = monotonicMillis() + 3000;
  while (readOr(tick).empty() && monotonicMillis() < end) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto paused = f.manager().operate(kAdmin, ticker, Operation::pause);
  REQUIRE(paused);
  CHECK(paused->status == ContainerStatus::paused);
  std::string frozenAt = readOr(tick);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(readOr(tick) == frozenAt);
  auto resumed = f.manager().operate(kAdmin, ticker, Operation::resume);
  REQUIRE(resumed);
  CHECK(resumed->status == ContainerStatus::running);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(readOr(tick) != frozenAt);
  // stop from paused thaws first
  REQUIRE(f.manager().operate(kAdmin, ticker, Operation::pause));
  auto stopped = f.manager().operate(kAdmin, ticker, Operation::force_stop);
  REQUIRE(stopped);
  CHECK(stopped->status == ContainerStatus::stopped);
}

TEST_CASE("a missing command fails the start with a clear error and status failed") {
  Fixture f;
  CreateRequest request;
  request.name = "broken";
  request.projectId = kAdmin;
  request.command = {"/bin/no-such-command"};
  int64_t t0 = monotonicMillis();
  auto created = f.manager().create(kAdmin, request);
  CHECK(monotonicMillis() - t0 < 2000);
  REQUIRE(created);
  REQUIRE(created->startError);
  CHECK(created->startError->code == Errc::container_config);
  CHECK(created->startError->message.find("/bin/no-such-command") != std::string::npos);
  CHECK(created->record.status == ContainerStatus::failed);
  auto page = f.manager().list({});
  REQUIRE(page);
  REQUIRE(page->containers.size() == 1);
  CHECK(page->containers[0].id == created->record.id);
  CHECK(page->containers[0].status == ContainerStatus::failed);
  auto log = logOf(f, created->record.id);
  REQUIRE(log.size() == 2);
  CHECK(log[1].toStatus == ContainerStatus::failed);
  CHECK(log[1].metadata.reason.value_or("").find("no-such-command") != std::string::npos);
}

TEST_CASE("operations the table refuses are state conflicts and change nothing") {
  Fixture f;
  auto idle = f.create("idle", kTermHandler, false);
  CHECK(idle.status == ContainerStatus::stopped);
  for (Operation op : {Operation::stop, Operation::force_stop, Operation::pause, Operation::resume}) {
    auto result = f.manager().operate(kAdmin, idle, op);
    REQUIRE_FALSE(result);
    CHECK(result.error().code == Errc::state_conflict);
  }
  REQUIRE(f.manager().operate(kAdmin, idle, Operation::start));
  auto again = f.manager().operate(kAdmin, idle, Operation::start);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == Errc::state_conflict);
  CHECK(logOf(f, idle.id).size() == 2);
}

TEST_CASE("concurrent partial resource updates both take effect, on the record and in the cgroup") {
  Fixture f;
  auto box = f.create("limits", kTermHandler);
  for (uint64_t round = 1; round <= 20; ++round) {
    UpdateRequest memory;
    memory.resources = ResourcesChange{.memoryMb = std::optional<uint64_t>(64 + round)};
    UpdateRequest pids;
    pids.resources = ResourcesChange{.pidsMax = std::optional<uint64_t>(100 + round)};
    std::thread other([&] { REQUIRE(f.manager().update(kAdmin, box.id, memory)); });
    REQUIRE(f.manager().update(kAdmin, box.id, pids));
    other.join();
    auto record = f.manager().get(box.id);
    REQUIRE(record);
    CHECK(record->resources.memoryMb == 64 + round);
    CHECK(record->resources.pidsMax == 100 + round);
  }
  auto info = f.manager().runtimeInfo(box);
  REQUIRE(info);
  CHECK(info->memoryLimitBytes == (64 + 20) * 1024 * 1024);
}

TEST_CASE("restart of a running container writes two entries and gives a new init") {
  Fixture f;
  auto record = f.create("again", kTermHandler);
  auto restarted = f.manager().operate(kAdmin, record, Operation::restart);
  REQUIRE(restarted);
  CHECK(restarted->status == ContainerStatus::running);
  CHECK(restarted->pid != record.pid);
  auto log = logOf(f, record.id);
  REQUIRE(log.size() == 4);
  CHECK(log[2].toStatus == ContainerStatus::stopped);
  CHECK(log[3].toStatus == ContainerStatus::running);
  CHECK(log[3].metadata.operation == "restart");
}

TEST_CASE("containers outlive the manager and are adopted again; exits while it was away are recorded") {
  Fixture f;
  auto lasting = f.create("lasting", kTermHandler);
  auto leaving = f.create("leaving", {"/bin/sh", "-c", "trap 'exit 3' TERM; echo ready; while true; do sleep 0.05; done"});
  f.closeManager();
  REQUIRE(::kill(*lasting.pid, 0) == 0);
  REQUIRE(::kill(*leaving.pid, SIGTERM) == 0);
  // Until its monitor has recorded the exit (bounded; the host may be busy).
  std::string exitFile = f.config().runDir + "/" + leaving.runtimeId + "/exit.json";
  for (int i = 0; i < 200 && !berth::pathExists(exitFile); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  REQUIRE(berth::pathExists(exitFile));
  f.reopen();
  auto adopted = f.manager().get(lasting.id);
  REQUIRE(adopted);
  CHECK(adopted->status == ContainerStatus::running);
  CHECK(adopted->pid == lasting.pid);
  auto exited = f.manager().get(leaving.id);
  REQUIRE(exited);
  CHECK(exited->status == ContainerStatus::stopped);
  CHECK(exited->exitCode == 3);
  // the adopted container is still under control
  auto stopped = f.manager().operate(kAdmin, lasting, Operation::stop);
  REQUIRE(stopped);
  CHECK(stopped->exitCode == 0);
}

TEST_CASE("delete removes the runtime instance; keep_volume keeps the writable layer") {
  Fixture f;
  auto keep = f.create("keep", {"/bin/sh", "-c", "echo kept > /kept"});
  REQUIRE(f.waitFor(keep.id, ContainerStatus::stopped).status == ContainerStatus::stopped);
  auto running = f.create("running", kTermHandler);
  auto refused = f.manager().remove(kAdmin, running.id, false, false);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::state_conflict);
  auto forced = f.manager().remove(kAdmin, running.id, true, false);
  REQUIRE(forced);
  CHECK(forced->status == ContainerStatus::deleted);
  CHECK_FALSE(f.manager().get(running.id));
  CHECK(f.manager().getIncludingDeleted(running.id));
  CHECK_FALSE(pathExists(f.config().dataDir + "/containers/" + running.id));
  auto kept = f.manager().remove(kAdmin, keep.id, false, true);
  REQUIRE(kept);
  CHECK(readOr(f.upperFile(keep, "/kept")) == "kept\n");
  // the audit trail stays readable
  CHECK(logOf(f, running.id).back().toStatus == ContainerStatus::deleted);
}

TEST_CASE("a container whose expires_at passes is force-stopped and expired, in one entry") {
  Fixture f;
  CreateRequest request;
  request.name = "ephemeral";
  request.projectId = kAdmin;
  request.command = kTermHandler;
  request.expiresAt = nowMillis() + 400;
  auto created = f.manager().create(kAdmin, request);
  REQUIRE(created);
  REQUIRE(created->record.status == ContainerStatus::running);
  auto expired = f.waitFor(created->record.id, ContainerStatus::expired, 5000);
  CHECK(expired.status == ContainerStatus::expired);
  CHECK_FALSE(expired.pid);
  auto log = logOf(f, created->record.id);
  REQUIRE(log.size() == 3);
  CHECK(log[2].fromStatus == ContainerStatus::running);
  CHECK(log[2].toStatus == ContainerStatus::expired);
  CHECK(log[2].triggeredBy == "system");
  auto refused = f.manager().operate(kAdmin, created->record, Operation::start);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::state_conflict);
}

TEST_CASE("random concurrent operations leave, per container, a log that is a valid path to the real state") {
  Fixture f;
  std::vector<ContainerRecord> containers;
  for (int i = 0; i < 3; ++i) containers.push_back(f.create("busy-" + std::to_string(i), kTermHandler));
  const Operation ops[] = {Operation::start, Operation::stop, Operation::force_stop,
                           Operation::restart, Operation::pause, Operation::resume};
  std::atomic<int> succeeded{0}, refused{0}, otherErrors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      unsigned seed = static_cast<unsigned>(t * 7919 + 1);
      for (int i = 0; i < 15; ++i) {
        seed = seed * 1103515245u + 12345u;
        const auto& target = containers[(seed >> 8) % containers.size()];
        Operation op = ops[(seed >> 16) % 6];
        OperationOptions options;
        options.timeout = std::chrono::seconds(1);
        auto result = f.manager().operate(kAdmin, target, op, options);
        if (result) ++succeeded;
        else if (result.error().code == Errc::state_conflict) ++refused;
        else ++otherErrors;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(otherErrors == 0);
  CHECK(succeeded > 0);
  for (const auto& container : containers) {
    store::LogQuery query;
    query.page.limit = 100;
    query.order = store::SortOrder::asc;
    // page through everything in id order
    std::vector<store::StatusLogEntry> all;
    for (query.page.page = 1;; ++query.page.page) {
      auto page = f.manager().statusLogs(container.id, query);
      REQUIRE(page);
      if (page->logs.empty()) break;
      all.insert(all.end(), page->logs.begin(), page->logs.end());
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    REQUIRE_FALSE(all.empty());
    for (size_t i = 1; i < all.size(); ++i) {
      INFO("entry " << i << " of " << container.name);
      CHECK(all[i].fromStatus == all[i - 1].toStatus);
    }
    auto record = f.manager().get(container.id);
    REQUIRE(record);
    CHECK(record->status == all.back().toStatus);
    // the kernel agrees with the record
    auto info = f.manager().runtimeInfo(container);
    REQUIRE(info);
    bool live = record->status == ContainerStatus::running || record->status == ContainerStatus::paused;
    CHECK(live == (record->pid.has_value() && ::kill(*record->pid, 0) == 0));
  }
}

TEST_CASE("a container's output is kept bounded, and its tail read back through the manager") {
  Fixture f;
  f.config().logMaxBytes = 4096;
  f.reopen();
  auto record = f.create("chatty", {"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done; echo done >&2"});
  REQUIRE(f.waitFor(record.id, ContainerStatus::stopped).exitCode == 0);
  std::string current = readOr(f.consoleLog(record));
  std::string previous = readOr(f.consoleLog(record) + ".1");
  CHECK(current.size() <= 4096);
  CHECK(previous.size() <= 4096);
  CHECK_FALSE(previous.empty());  // ~20 KB were written: it rotated
  auto tail = f.manager().logs(record, 2);
  REQUIRE(tail);
  CHECK(*tail == "line 1999\ndone\n");
  auto all = f.manager().logs(record, std::nullopt);
  REQUIRE(all);
  CHECK(all->size() == current.size() + previous.size());
}

namespace {

// What a host reboot leaves: no monitors, no containers, no groups, an empty run dir.
void simulateHostBoot(Fixture& f, const std::vector<ContainerRecord>& running) {
  auto driver = cgroup::Driver::detect(f.config().cgroupRoot);
  REQUIRE(driver);
  for (const auto& record : running) {
    auto group = driver->openGroup(record.runtimeId);
    REQUIRE(group);
    REQUIRE(group->killAll(std::chrono::seconds(5)));
    auto state = runtime::readShimState({f.config().runDir + "/" + record.runtimeId});
    REQUIRE(state);
    REQUIRE(*state);
    auto shim = openPidfd((*state)->shimPid);
    if (shim) REQUIRE(waitPidfdReadable(shim->get(), std::chrono::seconds(5)));
    REQUIRE(group->destroy());
  }
  REQUIRE(removeTree(f.config().runDir));
}

}  // namespace

TEST_CASE("a restart of the service finds a freeze the kernel made but the log missed") {
  Fixture f;
  auto record = f.create("frozen", kTermHandler);
  f.closeManager();
  {
    auto driver = cgroup::Driver::detect(f.config().cgroupRoot);
    REQUIRE(driver);
    auto group = driver->openGroup(record.runtimeId);
    REQUIRE(group);
    REQUIRE(group->freeze(std::chrono::seconds(5)));
  }
  f.reopen();
  auto adopted = f.manager().get(record.id);
  REQUIRE(adopted);
  CHECK(adopted->status == ContainerStatus::paused);
  CHECK(adopted->pid == record.pid);
  auto last = logOf(f, record.id).back();
  CHECK(last.metadata.operation == "reconcile");
  CHECK(last.triggeredBy == "system");
  CHECK(last.toStatus == ContainerStatus::paused);
  auto resumed = f.manager().operate(kAdmin, record, Operation::resume);
  REQUIRE(resumed);
  CHECK(resumed->status == ContainerStatus::running);
}

TEST_CASE("a host boot records running containers stopped, then starts the autostart ones") {
  Fixture f;
  auto autostarted = f.create("auto", kTermHandler);
  auto manual = f.create("manual", kTermHandler);
  REQUIRE(f.manager().update(kAdmin, manual.id, UpdateRequest{.autostart = false}));
  auto userStopped = f.create("user-stopped", kTermHandler);
  REQUIRE(f.manager().operate(kAdmin, userStopped, Operation::stop));

  // A plain service restart changes nothing.
  f.reopen();
  CHECK(f.manager().get(autostarted.id)->pid == autostarted.pid);
  CHECK(f.manager().get(userStopped.id)->status == ContainerStatus::stopped);

  f.closeManager();
  simulateHostBoot(f, {autostarted, manual});
  f.reopen();

  auto restarted = f.waitFor(autostarted.id, ContainerStatus::running);
  CHECK(restarted.status == ContainerStatus::running);
  CHECK(restarted.pid != autostarted.pid);
  auto log = logOf(f, autostarted.id);
  REQUIRE(log.size() >= 2);
  CHECK(log[log.size() - 2].toStatus == ContainerStatus::stopped);
  CHECK(log[log.size() - 2].metadata.reason == "host_restart");
  CHECK(log.back().toStatus == ContainerStatus::running);

  auto notAuto = f.manager().get(manual.id);
  REQUIRE(notAuto);
  CHECK(notAuto->status == ContainerStatus::stopped);
  CHECK(logOf(f, manual.id).back().metadata.reason == "host_restart");
  // API.md §4: on a host boot every autostart container starts, a stopped one too.
  CHECK(f.waitFor(userStopped.id, ContainerStatus::running).status == ContainerStatus::running);
  // The manual one starts again on request, in a group rebuilt from its record.
  auto started = f.manager().operate(kAdmin, manual, Operation::start);
  REQUIRE(started);
  CHECK(started->status == ContainerStatus::running);
}

TEST_CASE("a start rebuilds a runtime instance removed behind berth's back, keeping the writable layer") {
  Fixture f;
  auto record = f.create("rebuilt", {"/bin/sh", "-c", "cat /mark 2>/dev/null || echo first > /mark; sleep 1000"});
  int64_t marked = monotonicMillis() + 5000;
  while (readOr(f.upperFile(record, "/mark")).empty() && monotonicMillis() < marked)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(f.manager().operate(kAdmin, record, Operation::force_stop));
  f.closeManager();
  {
    auto driver = cgroup::Driver::detect(f.config().cgroupRoot);
    REQUIRE(driver);
    auto group = driver->openGroup(record.runtimeId);
    REQUIRE(group);
    REQUIRE(group->destroy());
  }
  REQUIRE(removeTree(f.config().runDir + "/" + record.runtimeId));
  f.reopen();
  auto started = f.manager().operate(kAdmin, record, Operation::start);
  REQUIRE(started);
  CHECK(started->status == ContainerStatus::running);
  CHECK(started->runtimeId != record.runtimeId);
  CHECK(readOr(f.upperFile(record, "/mark")) == "first\n");
  // The second run reads the mark the first one left.
  int64_t end = monotonicMillis() + 5000;
  while (readOr(f.consoleLog(record)).find("first") == std::string::npos && monotonicMillis() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(readOr(f.consoleLog(record)).find("first") != std::string::npos);
}
