#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <memory>
#include <utility>

#include "api/worker_pool.hpp"

namespace berth::api {
namespace {

using namespace std::chrono_literals;

// A pool of one whose only worker is kept busy until release().
struct BusyPoolOfOne {
  std::promise<void> releasing;
  std::shared_future<void> released = releasing.get_future().share();
  bool isReleased = false;
  WorkerPool pool{1};  // last: its threads are joined before the rest goes

  ~BusyPoolOfOne() { release(); }
  void release() {
    if (!std::exchange(isReleased, true)) releasing.set_value();
  }
  // Occupies the worker; it hands itself over first when asked to.
  void occupy(bool handOver) {
    auto started = std::make_shared<std::promise<void>>();
    auto running = started->get_future();
    pool.enqueue([handOver, started, until = released] {
      if (handOver) WorkerPool::handOverCurrentWorker();
      started->set_value();
      until.wait();
    });
    running.wait();
  }
  // Whether a task enqueued now runs within the time.
  bool runsWithin(std::chrono::milliseconds wait) {
    auto ran = std::make_shared<std::promise<void>>();
    auto done = ran->get_future();
    pool.enqueue([ran] { ran->set_value(); });
    return done.wait_for(wait) == std::future_status::ready;
  }
};

TEST_CASE("a worker handed over to a long task is replaced, so other tasks still run") {
  BusyPoolOfOne busy;
  busy.occupy(true);
  CHECK(busy.runsWithin(5s));
  CHECK(busy.runsWithin(5s));
  busy.release();
}

TEST_CASE("without a hand-over (or with one off the pool's threads), a pool of one runs tasks in turn") {
  WorkerPool::handOverCurrentWorker();  // not a worker: must start nothing
  BusyPoolOfOne busy;
  busy.occupy(false);
  CHECK_FALSE(busy.runsWithin(200ms));
  busy.release();
  CHECK(busy.runsWithin(5s));
}

}  // namespace
}  // namespace berth::api
