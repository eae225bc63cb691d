#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>

#include "api/worker_pool.hpp"

namespace berth::api {
namespace {

using namespace std::chrono_literals;

TEST_CASE("a worker handed over to a long task is replaced, so other tasks still run") {
  WorkerPool pool(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holderStarted;
  pool.enqueue([&] {
    WorkerPool::handOverCurrentWorker();
    WorkerPool::handOverCurrentWorker();  // a second call changes nothing
    holderStarted.set_value();
    released.wait();
  });
  holderStarted.get_future().wait();
  CHECK(pool.handedOver() == 1);
  // The only worker is busy; its replacement runs these.
  std::atomic<int> done{0};
  std::promise<void> allDone;
  for (int i = 0; i < 3; ++i)
    pool.enqueue([&] {
      if (++done == 3) allDone.set_value();
    });
  CHECK(allDone.get_future().wait_for(5s) == std::future_status::ready);
  release.set_value();
  pool.shutdown();
  CHECK(pool.handedOver() == 0);
}

TEST_CASE("without a hand-over, a pool of one runs tasks one after another") {
  WorkerPool pool(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> holderStarted;
  pool.enqueue([&] {
    holderStarted.set_value();
    released.wait();
  });
  holderStarted.get_future().wait();
  std::promise<void> second;
  auto secondDone = second.get_future();
  pool.enqueue([&] { second.set_value(); });
  CHECK(secondDone.wait_for(200ms) == std::future_status::timeout);
  release.set_value();
  CHECK(secondDone.wait_for(5s) == std::future_status::ready);
  CHECK(pool.handedOver() == 0);
}

TEST_CASE("hand-over off a pool's threads does nothing") {
  WorkerPool::handOverCurrentWorker();
  WorkerPool pool(2);
  CHECK(pool.handedOver() == 0);
}

}  // namespace
}  // namespace berth::api
