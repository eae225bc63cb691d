#pragma once
// Watches the pidfds of running shims (epoll, no polling loop) and calls back
// once per shim when it is gone. One thread for all containers.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::runtime {

class Supervisor {
 public:
  // Called on the supervisor's thread with the key given to watch().
  using ExitCallback = std::function<void(const std::string& key)>;

  static Result<std::unique_ptr<Supervisor>> start(ExitCallback onExit);
  ~Supervisor();
  Supervisor(const Supervisor&) = delete;
  Supervisor& operator=(const Supervisor&) = delete;

  // Watches pidfd (borrowed: the caller keeps it open until unwatch or the callback).
  Result<void> watch(const std::string& key, int pidfd);
  // Stops watching; no callback comes for this key afterwards unless watched again.
  void unwatch(const std::string& key);

 private:
  Supervisor(UniqueFd epoll, UniqueFd wake, ExitCallback onExit);
  void loop();

  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd that ends the loop
  ExitCallback onExit_;
  std::mutex mutex_;
  std::map<std::string, int> watched_;  // key -> pidfd
  std::thread thread_;
};

}  // namespace berth::runtime
