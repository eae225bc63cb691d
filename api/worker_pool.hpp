#pragma once
// The HTTP server's workers. A worker serves a connection from a complete
// request header to the end of its response (the connection gate holds it
// otherwise); a streamed answer (a log follow) would keep that worker for
// minutes. Such a stream hands its worker over: the pool starts a new
// worker in its place at once, and the old thread ends with its connection.
// So streams never take workers away from requests.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>

#include <httplib.h>

namespace berth::api {

class WorkerPool final : public httplib::TaskQueue {
 public:
  explicit WorkerPool(size_t workers);
  ~WorkerPool() override;
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void enqueue(std::function<void()> task) override;
  // Waits for every thread, handed-over ones included.
  void shutdown() override;

  // On a worker of some pool: a new worker replaces this one now, and this
  // thread ends when its current task does. Elsewhere, or a second time: nothing.
  static void handOverCurrentWorker();

 private:
  void startWorker();  // with mutex_ held
  void work();
  void reapEnded();    // with mutex_ held

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  std::list<std::thread> threads_;
  std::list<std::thread::id> ended_;  // handed-over threads that finished, to join
  bool stopping_ = false;
};

}  // namespace berth::api
