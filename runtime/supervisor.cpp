#include "runtime/supervisor.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

namespace berth::runtime {

Result<std::unique_ptr<Supervisor>> Supervisor::start(ExitCallback onExit) {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return sysFail("epoll_create1");
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return sysFail("eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = 0;  // 0 = the wake fd; watched pidfds use fd + 1
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) return sysFail("epoll_ctl add eventfd");
  return std::unique_ptr<Supervisor>(new Supervisor(std::move(epoll), std::move(wake), std::move(onExit)));
}

Supervisor::Supervisor(UniqueFd epoll, UniqueFd wake, ExitCallback onExit)
    : epoll_(std::move(epoll)), wake_(std::move(wake)), onExit_(std::move(onExit)) {
  thread_ = std::thread([this] { loop(); });
}

Supervisor::~Supervisor() {
  uint64_t one = 1;
  if (::write(wake_.get(), &one, sizeof one) != sizeof one) spdlog::error("supervisor: cannot wake its thread");
  thread_.join();
}

Result<void> Supervisor::watch(const std::string& key, int pidfd) {
  std::lock_guard lock(mutex_);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLONESHOT;
  event.data.u64 = static_cast<uint64_t>(pidfd) + 1;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pidfd, &event) != 0) return sysFail("epoll_ctl add pidfd");
  watched_[key] = pidfd;
  return {};
}

void Supervisor::unwatch(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = watched_.find(key);
  if (it == watched_.end()) return;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second, nullptr) != 0 && errno != ENOENT)
    spdlog::warn("supervisor: epoll_ctl del for {}: errno {}", key, errno);
  watched_.erase(it);
}

void Supervisor::loop() {
  for (;;) {
    epoll_event events[16];
    int n = ::epoll_wait(epoll_.get(), events, 16, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("supervisor: epoll_wait failed: errno {}", errno);
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == 0) return;
      int pidfd = static_cast<int>(events[i].data.u64 - 1);
      std::string key;
      {
        std::lock_guard lock(mutex_);
        for (auto it = watched_.begin(); it != watched_.end(); ++it) {
          if (it->second != pidfd) continue;
          key = it->first;
          ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, pidfd, nullptr);
          watched_.erase(it);
          break;
        }
      }
      if (!key.empty()) onExit_(key);
    }
  }
}

}  // namespace berth::runtime
