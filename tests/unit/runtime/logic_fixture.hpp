#pragma once
// The runtime logic tests' fixture: a ContainerManager over a real store in a
// temp dir and the fakes of support/fake_host.hpp.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "runtime/manager.hpp"
#include "store/store.hpp"
#include "support/fake_host.hpp"
#include "support/test_support.hpp"

namespace berth::runtime::logicfix {

using namespace std::chrono_literals;

inline const std::string kOwner = "0123456789abcdef01234567";

class LogicFixture {
 public:
  LogicFixture() : kernel_(clock_) {
    config_.dataDir = dir_.path();
    config_.runDir = dir_.sub("run");
    config_.timeouts.freeze = 300ms;
    config_.timeouts.kill = 2s;
    auto opened = store::Store::open(dir_.sub("db"), {.syncOnCommit = false});
    REQUIRE(opened);
    store_ = std::move(*opened);
    reopen();
  }

  void reopen() {
    manager_.reset();
    auto manager = ContainerManager::open(config_, *store_, testing::fakeHost(kernel_, clock_));
    if (!manager) FAIL(manager.error().describe());
    manager_ = std::move(*manager);
    manager_->onChange([this](const CommittedChange&) {
      std::lock_guard lock(changedMutex_);
      ++transitions_;
      changed_.notify_all();
    });
  }
  void closeManager() { manager_.reset(); }

  ContainerManager& manager() { return *manager_; }
  store::Store& store() { return *store_; }
  testing::FakeKernel& kernel() { return kernel_; }
  testing::FakeClock& clock() { return clock_; }
  RuntimeConfig& config() { return config_; }

  // A create as a client asks for it: the request's own project unless it names one.
  Result<Created> create(CreateRequest request) {
    if (request.projectId.empty()) request.projectId = kOwner;
    return manager_->create(kOwner, request);
  }

  ContainerRecord create(const std::string& name, bool autostart = true,
                         std::optional<UnixMillis> expiresAt = std::nullopt) {
    CreateRequest request;
    request.name = name;
    request.projectId = kOwner;
    request.autostart = autostart;
    request.expiresAt = expiresAt;
    auto made = manager_->create(kOwner, request);
    if (!made) FAIL(made.error().describe());
    if (made->startError) FAIL(made->startError->describe());
    return made->record;
  }

  ContainerRecord current(const std::string& id) {
    auto record = store_->getContainer(id);
    if (!record) FAIL(record.error().describe());
    return *record;
  }

  // Waits, woken by each commit, until the container is in `status`.
  bool waitForStatus(const std::string& id, ContainerStatus status, std::chrono::milliseconds limit = 5s) {
    std::unique_lock lock(changedMutex_);
    return changed_.wait_for(lock, limit, [&] { return current(id).status == status; });
  }

  // Oldest first.
  std::vector<store::StatusLogEntry> log(const std::string& id) {
    store::LogQuery query;
    query.page.limit = 100;
    query.order = store::SortOrder::asc;
    auto page = store_->statusLogs(id, query);
    if (!page) FAIL(page.error().describe());
    return page->logs;
  }

 private:
  testing::TempDir dir_;
  testing::FakeClock clock_;
  testing::FakeKernel kernel_;
  RuntimeConfig config_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<ContainerManager> manager_;
  std::mutex changedMutex_;
  std::condition_variable changed_;
  int transitions_ = 0;
};

inline int64_t millisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
}


}  // namespace berth::runtime::logicfix
