#include "api/event_hub.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/clock.hpp"

namespace berth::api {

namespace {

// A subscriber's output is topped up to this much at a time: it holds no more
// than this (plus one event) while the client reads slowly.
constexpr size_t kFillBytes = 32 * 1024;
constexpr size_t kStorePage = 128;
constexpr uint64_t kWakeKey = 0;
constexpr int kFanOutNice = 10;

std::string jsonString(std::string_view text) { return nlohmann::json(std::string(text)).dump(); }

}  // namespace

struct EventHub::Subscriber {
  UniqueFd socket;
  Subscription subscription;
  std::string lastId;   // the last event queued (sent or in `pending`)
  std::string pending;  // bytes not written yet
  bool resetSent = false;
  bool waitingForWritable = false;
  std::chrono::steady_clock::time_point lastWrite;
};

bool EventFilter::matches(const runtime::EventRecord& event) const {
  if (containerId && event.containerId != *containerId) return false;
  if (!types.empty() && std::find(types.begin(), types.end(), event.type) == types.end()) return false;
  if (projects && !std::binary_search(projects->begin(), projects->end(), event.projectId)) return false;
  return true;
}

std::string EventHub::jsonOf(const runtime::EventRecord& event, bool withId) {
  // `data` is the runtime's JSON, written as it is.
  std::string json = "{";
  if (withId) json += "\"id\":" + jsonString(event.id) + ",";
  json += "\"type\":" + jsonString(event.type) + ",\"data\":" + (event.data.empty() ? "{}" : event.data) +
          ",\"time\":" + jsonString(formatIsoMillis(event.time)) + "}";
  return json;
}

std::string EventHub::sseFrame(const runtime::EventRecord& event) {
  return "id: " + event.id + "\nevent: " + event.type + "\ndata: " + jsonOf(event, false) + "\n\n";
}

Result<std::unique_ptr<EventHub>> EventHub::start(ReadEvents read, NewestId newest, EventHubOptions options) {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return sysFail("epoll_create1 for the event streams");
  UniqueFd wake(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake) return sysFail("eventfd for the event streams");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kWakeKey;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) return sysFail("epoll_ctl add eventfd");
  BERTH_TRY(auto last, newest());
  auto hub = std::unique_ptr<EventHub>(
      new EventHub(std::move(read), std::move(newest), options, std::move(epoll), std::move(wake)));
  hub->windowBase_ = hub->windowLast_ = last.value_or("");
  hub->thread_ = std::thread([raw = hub.get()] { raw->loop(); });
  return hub;
}

EventHub::EventHub(ReadEvents read, NewestId newest, EventHubOptions options, UniqueFd epoll, UniqueFd wake)
    : read_(std::move(read)),
      newest_(std::move(newest)),
      options_(options),
      epoll_(std::move(epoll)),
      wake_(std::move(wake)),
      lastHeartbeatCheck_(std::chrono::steady_clock::now()) {}

EventHub::~EventHub() {
  {
    std::lock_guard lock(inboxMutex_);
    stopping_ = true;
  }
  wakeLoop();
  thread_.join();
}

void EventHub::notify() {
  // A stream added from now on wakes the loop itself (add), which then sees the flag.
  if (count_.load() == 0) {
    windowStale_.store(true);
    return;
  }
  wakeLoop();
}

void EventHub::wakeLoop() {
  uint64_t one = 1;
  // Only fails when the counter is saturated, which wakes the loop all the same.
  (void)!::write(wake_.get(), &one, sizeof one);
}

bool EventHub::hasRoom() const { return count_.load() < options_.maxSubscribers; }

void EventHub::add(UniqueFd socket, std::string head, Subscription subscription) {
  ++count_;
  {
    std::lock_guard lock(inboxMutex_);
    inbox_.push_back({std::move(socket), std::move(head), std::move(subscription)});
  }
  wakeLoop();
}

void EventHub::admitNewcomers() {
  std::vector<Newcomer> arrived;
  {
    std::lock_guard lock(inboxMutex_);
    arrived.swap(inbox_);
  }
  for (auto& newcomer : arrived) {
    int fd = newcomer.socket.get();
    int flags = ::fcntl(fd, F_GETFL);
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP;
    event.data.u64 = static_cast<uint64_t>(fd) + 1;
    if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      spdlog::warn("event stream of {}: cannot watch its socket: {}", newcomer.subscription.user, std::strerror(errno));
      --count_;
      continue;
    }
    auto subscriber = std::make_unique<Subscriber>();
    subscriber->socket = std::move(newcomer.socket);
    subscriber->pending = std::move(newcomer.head);
    subscriber->lastId = newcomer.subscription.afterId.value_or(windowLast_);
    subscriber->subscription = std::move(newcomer.subscription);
    subscriber->lastWrite = std::chrono::steady_clock::now();
    subscribers_.emplace(fd, std::move(subscriber));
  }
}

void EventHub::restartWindow() {
  auto newest = newest_();
  if (!newest) {
    spdlog::error("event streams: reading the newest event: {}", newest.error().describe());
    refreshWindow();
    return;
  }
  window_.clear();
  if (*newest) windowLast_ = **newest;
  windowBase_ = windowLast_;
}

void EventHub::refreshWindow() {
  for (;;) {
    auto page = read_(windowLast_, kStorePage);
    if (!page) {
      spdlog::error("event streams: reading the event log: {}", page.error().describe());
      return;
    }
    for (auto& event : page->events) {
      windowLast_ = event.id;
      window_.push_back(render(std::move(event)));
    }
    while (window_.size() > options_.window) {
      windowBase_ = window_.front().event.id;
      window_.pop_front();
    }
    if (page->events.size() < kStorePage) return;
  }
}

namespace {

// Seed 004 knows four types: the others are said in its terms, or not at all.
std::optional<std::string_view> dialectTypeOf(std::string_view type) {
  if (type == "container_started" || type == "container_deleted" || type == "container_updated") return type;
  if (type == "container_stopped" || type == "container_died" || type == "container_expired") return "container_stopped";
  if (type == "container_paused" || type == "container_resumed") return "container_updated";
  return std::nullopt;  // created (no client of that dialect saw it yet), oom (its died follows)
}

std::optional<std::string> dialectJsonOf(const runtime::EventRecord& event) {
  auto type = dialectTypeOf(event.type);
  if (!type) return std::nullopt;
  nlohmann::json data = nlohmann::json::parse(event.data, nullptr, false);
  if (!data.is_object()) return std::nullopt;
  nlohmann::json message{{"type", *type},
                         {"data",
                          {{"id", data.value("runtime_id", "")},
                           {"name", data.value("name", "")},
                           {"status", data.value("status", "")}}}};
  return message.dump();
}

}  // namespace

EventHub::Rendered EventHub::render(runtime::EventRecord event) {
  Rendered rendered;
  rendered.sse = sseFrame(event);
  rendered.json = jsonOf(event, true);
  rendered.dialectJson = dialectJsonOf(event);
  rendered.event = std::move(event);
  return rendered;
}

void EventHub::append(Subscriber& subscriber, const Rendered& rendered) {
  subscriber.lastId = rendered.event.id;
  if (!subscriber.subscription.filter.matches(rendered.event)) return;
  if (subscriber.subscription.protocol == StreamProtocol::sse) {
    subscriber.pending += rendered.sse;
    return;
  }
  const bool dialect = subscriber.subscription.shape == EventShape::containersDialect;
  if (dialect && !rendered.dialectJson) return;
  (void)subscriber.subscription.webSocket->sendText(dialect ? *rendered.dialectJson : rendered.json);
  subscriber.pending += subscriber.subscription.webSocket->takeOutput();
}

void EventHub::pump(Subscriber& subscriber) {
  while (subscriber.pending.size() < kFillBytes) {
    if (subscriber.lastId >= windowBase_) {
      // What it needs is in the window (ids are fixed-width hex: text order is id order).
      auto next = std::upper_bound(window_.begin(), window_.end(), subscriber.lastId,
                                   [](const std::string& id, const Rendered& r) { return id < r.event.id; });
      if (next == window_.end()) break;  // caught up
      for (; next != window_.end() && subscriber.pending.size() < kFillBytes; ++next) append(subscriber, *next);
      continue;
    }
    // Behind the window (a replay from long ago): from the store.
    auto page = read_(subscriber.lastId, kStorePage);
    if (!page) {
      spdlog::error("event stream of {}: reading the event log: {}", subscriber.subscription.user,
                    page.error().describe());
      break;
    }
    if (page->reset && !subscriber.resetSent) {
      runtime::EventRecord reset;
      reset.type = "reset";
      reset.time = nowMillis();
      if (subscriber.subscription.protocol == StreamProtocol::sse) {
        subscriber.pending += "event: reset\ndata: " + jsonOf(reset, false) + "\n\n";
      } else {
        (void)subscriber.subscription.webSocket->sendText(jsonOf(reset, false));
        subscriber.pending += subscriber.subscription.webSocket->takeOutput();
      }
    }
    subscriber.resetSent = true;
    if (page->events.empty()) break;
    for (auto& event : page->events) append(subscriber, render(std::move(event)));
  }
  flush(subscriber);
}

void EventHub::flush(Subscriber& subscriber) {
  int fd = subscriber.socket.get();
  size_t done = 0;
  while (done < subscriber.pending.size()) {
    ssize_t n = ::send(fd, subscriber.pending.data() + done, subscriber.pending.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return drop(fd, "the client is gone");
    done += static_cast<size_t>(n);
  }
  subscriber.pending.erase(0, done);
  if (done > 0) subscriber.lastWrite = std::chrono::steady_clock::now();
  bool blocked = !subscriber.pending.empty();
  // A replay reads from the store at whatever pace the client takes it; a client that stopped reading is let go.
  if (blocked && subscriber.lastId < windowBase_ &&
      std::chrono::steady_clock::now() - subscriber.lastWrite >= options_.stallLimit)
    return drop(fd, "it stopped reading and fell more than " + std::to_string(options_.window) + " events behind");
  if (subscriber.subscription.webSocket && subscriber.subscription.webSocket->closed() && !blocked)
    return drop(fd, "the WebSocket is closed");
  if (blocked != subscriber.waitingForWritable) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLRDHUP | (blocked ? EPOLLOUT : 0u);
    event.data.u64 = static_cast<uint64_t>(fd) + 1;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event) != 0) return drop(fd, "epoll_ctl failed");
    subscriber.waitingForWritable = blocked;
  }
}

void EventHub::readFrom(Subscriber& subscriber) {
  int fd = subscriber.socket.get();
  char buffer[4096];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n <= 0) return drop(fd, "the client is gone");
    // An SSE client has nothing to say; a WebSocket client's frames go to its protocol state.
    if (auto& webSocket = subscriber.subscription.webSocket) webSocket->feed(buffer, static_cast<size_t>(n));
  }
  if (auto& webSocket = subscriber.subscription.webSocket) {
    subscriber.pending += webSocket->takeOutput();  // pongs, a close reply
    flush(subscriber);
  }
}

void EventHub::heartbeats() {
  auto now = std::chrono::steady_clock::now();
  if (now - lastHeartbeatCheck_ < std::chrono::seconds(1)) return;
  lastHeartbeatCheck_ = now;
  std::vector<int> due;
  for (auto& [fd, subscriber] : subscribers_)
    if (subscriber->pending.empty() && now - subscriber->lastWrite >= options_.heartbeat) due.push_back(fd);
  for (int fd : due) {
    auto found = subscribers_.find(fd);
    if (found == subscribers_.end()) continue;
    Subscriber& subscriber = *found->second;
    if (subscriber.subscription.webSocket) {
      (void)subscriber.subscription.webSocket->ping();
      subscriber.pending += subscriber.subscription.webSocket->takeOutput();
    } else {
      subscriber.pending += ": heartbeat\n\n";  // a comment: keeps proxies from closing an idle stream
    }
    flush(subscriber);
  }
}

void EventHub::drop(int fd, std::string_view why) {
  auto found = subscribers_.find(fd);
  if (found == subscribers_.end()) return;
  spdlog::info("event stream of {} ended: {}", found->second->subscription.user, why);
  (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  subscribers_.erase(found);  // closes the socket
  --count_;
}

void EventHub::loop() {
  // Fan-out yields to the operations that make the events: on a busy host a
  // subscriber hears a little later rather than a start taking longer.
  if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kFanOutNice) != 0)
    spdlog::warn("event streams: lowering the fan-out thread's priority: {}", std::strerror(errno));
  epoll_event events[64];
  for (;;) {
    int timeout = static_cast<int>(std::min<int64_t>(1000, options_.heartbeat.count()));
    int n = ::epoll_wait(epoll_.get(), events, 64, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("event streams: epoll_wait failed: {}", std::strerror(errno));
      return;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeKey) {
        uint64_t drained;
        (void)!::read(wake_.get(), &drained, sizeof drained);
        woken = true;
        continue;
      }
      int fd = static_cast<int>(events[i].data.u64 - 1);
      auto found = subscribers_.find(fd);
      if (found == subscribers_.end()) continue;
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readFrom(*found->second);
      found = subscribers_.find(fd);
      if (found != subscribers_.end() && (events[i].events & EPOLLOUT)) pump(*found->second);
    }
    if (woken) {
      {
        std::lock_guard lock(inboxMutex_);
        if (stopping_) return;
      }
      // The window first: a live stream starts after the newest event committed
      // before it came. A stream behind a restarted window replays from the store.
      if (windowStale_.exchange(false)) {
        restartWindow();
      } else {
        refreshWindow();
      }
      admitNewcomers();
      std::vector<int> fds;
      for (const auto& [fd, subscriber] : subscribers_) fds.push_back(fd);
      for (int fd : fds)
        if (auto found = subscribers_.find(fd); found != subscribers_.end()) pump(*found->second);
    }
    heartbeats();
  }
}

}  // namespace berth::api
