#include "runtime/log_follow.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/files.hpp"
#include "runtime/console_log.hpp"

namespace berth::runtime {

struct LogWatch::Hub {
  UniqueFd inotify;
  UniqueFd stop;  // eventfd: the reader thread leaves when it is readable
  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  // Per watch descriptor (one per directory: the kernel hands out the same
  // one for the same directory), its subscribers.
  std::map<int, std::vector<Subscription*>> subscribers;
  size_t subscriptions = 0;
  size_t maxSubscriptions = 0;
  std::thread reader;

  void readEvents() {
    alignas(inotify_event) char buf[16384];
    pollfd fds[2] = {{inotify.get(), POLLIN, 0}, {stop.get(), POLLIN, 0}};
    for (;;) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        spdlog::error("log watch: poll: {}", std::strerror(errno));
        return;
      }
      if (fds[1].revents) return;
      ssize_t got = ::read(inotify.get(), buf, sizeof buf);
      if (got < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        spdlog::error("log watch: read inotify: {}", std::strerror(errno));
        return;
      }
      std::lock_guard lock(mutex);
      for (ssize_t at = 0; at < got;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buf + at);
        if (auto it = subscribers.find(event->wd); it != subscribers.end())
          for (Subscription* subscription : it->second) ++subscription->changes_;
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
      changed.notify_all();
    }
  }
};

Result<std::unique_ptr<LogWatch>> LogWatch::open(size_t maxSubscriptions) {
  auto hub = std::make_shared<Hub>();
  hub->maxSubscriptions = maxSubscriptions;
  hub->inotify.reset(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!hub->inotify) return sysFail("inotify_init1");
  hub->stop.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!hub->stop) return sysFail("eventfd");
  hub->reader = std::thread([raw = hub.get()] { raw->readEvents(); });
  return std::unique_ptr<LogWatch>(new LogWatch(std::move(hub)));
}

LogWatch::~LogWatch() {
  uint64_t one = 1;
  if (::write(hub_->stop.get(), &one, sizeof one) != sizeof one) spdlog::error("log watch: cannot stop its reader");
  hub_->reader.join();
}

Result<std::unique_ptr<LogWatch::Subscription>> LogWatch::subscribe(const std::string& dir) {
  std::lock_guard lock(hub_->mutex);
  if (hub_->subscriptions >= hub_->maxSubscriptions)
    return fail(Errc::unavailable, std::to_string(hub_->maxSubscriptions) + " clients already follow logs; retry later");
  // The directory, not the file: a rotation replaces the file.
  int watch = ::inotify_add_watch(hub_->inotify.get(), dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO);
  if (watch < 0) return sysFail("inotify_add_watch " + dir);
  std::unique_ptr<Subscription> subscription(new Subscription(hub_, watch));
  hub_->subscribers[watch].push_back(subscription.get());
  ++hub_->subscriptions;
  return subscription;
}

LogWatch::Subscription::~Subscription() {
  std::lock_guard lock(hub_->mutex);
  --hub_->subscriptions;
  auto it = hub_->subscribers.find(watch_);
  if (it == hub_->subscribers.end()) return;
  std::erase(it->second, this);
  if (!it->second.empty()) return;
  hub_->subscribers.erase(it);
  // The directory may be gone (its watch went with it): nothing left to remove then.
  (void)::inotify_rm_watch(hub_->inotify.get(), watch_);
}

uint64_t LogWatch::Subscription::changes() const {
  std::lock_guard lock(hub_->mutex);
  return changes_;
}

bool LogWatch::Subscription::waitPast(uint64_t seen, std::chrono::milliseconds wait) const {
  std::unique_lock lock(hub_->mutex);
  return hub_->changed.wait_for(lock, wait, [&] { return changes_ != seen; });
}

Result<LogFollower> LogFollower::open(LogWatch& watch, const std::string& logPath, std::optional<size_t> tailLines,
                                      std::string& initial) {
  LogFollower follower;
  follower.path_ = logPath;
  BERTH_TRY(follower.subscription_, watch.subscribe(logPath.substr(0, logPath.rfind('/'))));
  BERTH_TRY(follower.file_, openFile(logPath, O_RDONLY | O_CREAT, 0640));
  struct stat st{};
  if (::fstat(follower.file_.get(), &st) != 0) return sysFail("fstat " + logPath);
  follower.inode_ = st.st_ino;
  // Everything up to here is the initial tail; the follower goes on from its end.
  std::string current(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < current.size()) {
    ssize_t n = ::read(follower.file_.get(), current.data() + done, current.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("read " + logPath);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  current.resize(done);
  BERTH_TRY(initial, tailWithPrevious(logPath, std::move(current), tailLines));
  return follower;
}

Result<std::string> LogFollower::readNew() {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(file_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("read " + path_);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<void> LogFollower::reopenIfRotated() {
  struct stat st{};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sysFail("stat " + path_);
  }
  if (st.st_ino == inode_) return {};
  BERTH_TRY(file_, openFile(path_, O_RDONLY));
  inode_ = st.st_ino;
  return {};
}

// What the old file got before a rotation comes first, then the new file's.
Result<std::string> LogFollower::readAcrossRotation() {
  BERTH_TRY(std::string out, readNew());
  BERTH_TRYV(reopenIfRotated());
  if (out.empty()) {
    BERTH_TRY(out, readNew());
  }
  return out;
}

Result<std::string> LogFollower::next(std::chrono::milliseconds wait) {
  // Changes counted before the read: one that lands after it ends the wait at once.
  uint64_t seen = subscription_->changes();
  BERTH_TRY(std::string out, readAcrossRotation());
  if (!out.empty() || !subscription_->waitPast(seen, wait)) return out;
  return readAcrossRotation();
}

}  // namespace berth::runtime
