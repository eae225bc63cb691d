#include "api/worker_pool.hpp"

#include <algorithm>

namespace berth::api {

namespace {

// The pool whose worker this thread is, and whether it was handed over.
struct CurrentWorker {
  WorkerPool* pool = nullptr;
  bool handedOver = false;
};
thread_local CurrentWorker tCurrent;

}  // namespace

WorkerPool::WorkerPool(size_t workers) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < std::max<size_t>(workers, 1); ++i) startWorker();
}

WorkerPool::~WorkerPool() { shutdown(); }

void WorkerPool::enqueue(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    reapEnded();
    tasks_.push_back(std::move(task));
  }
  ready_.notify_one();
}

void WorkerPool::shutdown() {
  std::list<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
    ended_.clear();
  }
  ready_.notify_all();
  for (auto& thread : threads) thread.join();
}

void WorkerPool::handOverCurrentWorker() {
  WorkerPool* pool = tCurrent.pool;
  if (!pool || tCurrent.handedOver) return;
  tCurrent.handedOver = true;
  std::lock_guard lock(pool->mutex_);
  pool->reapEnded();
  if (!pool->stopping_) pool->startWorker();
}

void WorkerPool::startWorker() { threads_.emplace_back([this] { work(); }); }

void WorkerPool::reapEnded() {
  for (std::thread::id id : ended_) {
    auto it = std::find_if(threads_.begin(), threads_.end(), [id](const std::thread& t) { return t.get_id() == id; });
    if (it == threads_.end()) continue;
    it->join();  // it has left work() already, or is about to
    threads_.erase(it);
  }
  ended_.clear();
}

void WorkerPool::work() {
  tCurrent = {this, false};
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      ready_.wait(lock, [this] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping, and nothing left to do
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
    if (tCurrent.handedOver) {
      std::lock_guard lock(mutex_);
      if (!stopping_) ended_.push_back(std::this_thread::get_id());
      return;
    }
  }
}

}  // namespace berth::api
