// The EventHub over socketpairs and an event log in memory: what a stream
// writes (head, frames, reset, heartbeats), filters, and that a client that
// stops reading is dropped while the others go on.
#include <sys/socket.h>
#include <poll.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <thread>

#include "api/event_hub.hpp"
#include "common/ids.hpp"

using namespace berth;
using namespace berth::api;
using namespace std::chrono_literals;

namespace {

// An event log in memory, as the store would page it.
class FakeLog {
 public:
  void append(const std::string& type, const std::string& projectId = "p1", const std::string& containerId = "c1") {
    std::lock_guard lock(mutex_);
    runtime::EventRecord event;
    event.id = makeObjectId(1700000000, ++sequence_);
    event.type = type;
    event.projectId = projectId;
    event.containerId = containerId;
    event.time = 1700000000000;
    event.data = R"({"id":")" + containerId + R"("})";
    events_.push_back(event);
  }
  void forgetBefore(size_t count) {  // as retention would
    std::lock_guard lock(mutex_);
    prunedThrough_ = events_[count - 1].id;
    events_.erase(events_.begin(), events_.begin() + static_cast<long>(count));
  }
  Result<runtime::EventPage> after(const std::string& afterId, size_t limit) {
    std::lock_guard lock(mutex_);
    ++reads_;
    runtime::EventPage page;
    page.reset = !afterId.empty() && afterId < prunedThrough_;
    for (const auto& event : events_)
      if (event.id > afterId && page.events.size() < limit) page.events.push_back(event);
    return page;
  }
  Result<std::optional<std::string>> newest() {
    std::lock_guard lock(mutex_);
    if (events_.empty()) return std::optional<std::string>{};
    return std::optional<std::string>{events_.back().id};
  }
  std::string idAt(size_t index) {
    std::lock_guard lock(mutex_);
    return events_.at(index).id;
  }
  size_t reads() {
    std::lock_guard lock(mutex_);
    return reads_;
  }

 private:
  size_t reads_ = 0;
  std::mutex mutex_;
  std::vector<runtime::EventRecord> events_;
  uint64_t sequence_ = 0;
  std::string prunedThrough_;
};

std::unique_ptr<EventHub> startHub(FakeLog& log, EventHubOptions options = {}) {
  auto hub = EventHub::start([&log](const std::string& afterId, size_t limit) { return log.after(afterId, limit); },
                             [&log] { return log.newest(); }, options);
  REQUIRE(hub);
  return std::move(*hub);
}

// The client's end of a stream.
struct Client {
  UniqueFd fd;
  std::string received;

  enum class Read { data, closed, timeout };
  // One read, waiting at most until the deadline.
  Read readOnce(std::chrono::steady_clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Read::timeout;
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return Read::data;  // nothing yet: look again
    char buffer[65536];
    ssize_t n = ::recv(fd.get(), buffer, sizeof buffer, 0);
    if (n < 0 && errno != ECONNRESET) return Read::data;
    if (n <= 0) return Read::closed;
    received.append(buffer, static_cast<size_t>(n));
    return Read::data;
  }
  // Reads until `text` has arrived (true), the hub closes, or the time is up.
  bool waitFor(const std::string& text, std::chrono::milliseconds limit = 3s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (received.find(text) == std::string::npos)
      if (readOnce(deadline) != Read::data) return received.find(text) != std::string::npos;
    return true;
  }
  // True once the hub has closed its end, within the time.
  bool waitForClose(std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      Read read = readOnce(deadline);
      if (read != Read::data) return read == Read::closed;
    }
  }
};

Client subscribe(EventHub& hub, Subscription subscription, std::string head = "HEAD\n") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  hub.add(UniqueFd(fds[0]), std::move(head), std::move(subscription));
  return Client{UniqueFd(fds[1]), {}};
}

}  // namespace

TEST_CASE("event hub: head first, then replay after the given id, then live events, each as SSE") {
  FakeLog log;
  log.append("container_created");
  log.append("container_started");
  auto hub = startHub(log);
  Subscription replay;
  replay.afterId = log.idAt(0);
  Client client = subscribe(*hub, std::move(replay));
  REQUIRE(client.waitFor("event: container_started"));
  CHECK(client.received.rfind("HEAD\n", 0) == 0);
  CHECK(client.received.find("container_created") == std::string::npos);
  CHECK(client.received.find("id: " + log.idAt(1) + "\nevent: container_started\ndata: {\"type\":\"container_started\"") !=
        std::string::npos);

  Client live = subscribe(*hub, Subscription{});
  REQUIRE(live.waitFor("HEAD\n"));
  log.append("container_stopped");
  hub->notify();
  REQUIRE(live.waitFor("event: container_stopped"));
  REQUIRE(client.waitFor("event: container_stopped"));
  CHECK(live.received.find("container_started") == std::string::npos);  // live only: nothing from before
}

TEST_CASE("event hub: with no stream open a commit wakes nobody; the next streams still get what they ask for") {
  FakeLog log;
  log.append("container_created");
  auto hub = startHub(log);
  for (int i = 0; i < 30; ++i) {
    log.append(i % 2 == 0 ? "container_paused" : "container_resumed");
    hub->notify();
  }
  std::this_thread::sleep_for(100ms);
  CHECK(log.reads() == 0);  // the loop slept through all 30

  Subscription replay;
  replay.afterId = log.idAt(10);
  Client behind = subscribe(*hub, std::move(replay));
  Client live = subscribe(*hub, Subscription{});
  REQUIRE(behind.waitFor("id: " + log.idAt(30) + "\n"));
  CHECK(behind.received.find("id: " + log.idAt(10) + "\n") == std::string::npos);
  CHECK(behind.received.find("id: " + log.idAt(11) + "\n") != std::string::npos);
  REQUIRE(live.waitFor("HEAD\n"));
  log.append("container_stopped");
  hub->notify();
  REQUIRE(live.waitFor("event: container_stopped"));
  REQUIRE(behind.waitFor("event: container_stopped"));
  CHECK(live.received.find("container_paused") == std::string::npos);  // live only: nothing from before it came
}

TEST_CASE("event hub: filters by project, container and type") {
  FakeLog log;
  auto hub = startHub(log);
  Subscription filtered;
  filtered.filter.projects = std::vector<std::string>{"p1", "p2"};
  filtered.filter.types = {"container_started"};
  Client client = subscribe(*hub, std::move(filtered));
  Subscription oneContainer;
  oneContainer.filter.containerId = "c9";
  Client single = subscribe(*hub, std::move(oneContainer));
  REQUIRE(client.waitFor("HEAD\n"));
  log.append("container_started", "p3", "c1");  // another project
  log.append("container_created", "p1", "c1");  // another type
  log.append("container_started", "p2", "c9");
  hub->notify();
  REQUIRE(client.waitFor("\"id\":\"c9\""));
  CHECK(client.received.find("container_created") == std::string::npos);
  CHECK(client.received.find("\"id\":\"c1\"") == std::string::npos);
  REQUIRE(single.waitFor("event: container_started"));
  CHECK(single.received.find("container_created") == std::string::npos);
}

TEST_CASE("event hub: a replay from before what retention kept starts with a reset") {
  FakeLog log;
  for (int i = 0; i < 5; ++i) log.append("container_updated");
  std::string old = log.idAt(0);
  log.forgetBefore(3);
  auto hub = startHub(log);
  Subscription replay;
  replay.afterId = old;
  Client client = subscribe(*hub, std::move(replay));
  REQUIRE(client.waitFor("id: " + log.idAt(1)));
  size_t reset = client.received.find("event: reset\n");
  REQUIRE(reset != std::string::npos);
  CHECK(reset < client.received.find("id: " + log.idAt(0)));
}

TEST_CASE("event hub: an idle stream gets heartbeats") {
  FakeLog log;
  auto hub = startHub(log, {.heartbeat = 200ms});
  Client client = subscribe(*hub, Subscription{});
  CHECK(client.waitFor(": heartbeat\n\n", 3s));
}

TEST_CASE("event hub: a client that stops reading is dropped; one that reads goes on getting everything") {
  FakeLog log;
  auto hub = startHub(log, {.window = 64, .stallLimit = 200ms});
  Client stalled = subscribe(*hub, Subscription{});
  Client reader = subscribe(*hub, Subscription{});
  int small = 4096;
  REQUIRE(::setsockopt(stalled.fd.get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
  REQUIRE(stalled.waitFor("HEAD\n"));
  REQUIRE(reader.waitFor("HEAD\n"));
  bool readerGotAll = false;
  std::thread reading([&] { readerGotAll = reader.waitFor("event: container_deleted", 10s); });
  // Far more than the socket buffers and the window hold, in rounds.
  for (int round = 0; round < 40; ++round) {
    for (int i = 0; i < 50; ++i) log.append("container_updated");
    hub->notify();
    std::this_thread::sleep_for(20ms);
  }
  log.append("container_deleted");
  hub->notify();
  reading.join();
  REQUIRE(readerGotAll);
  size_t frames = 0;
  for (size_t at = 0; (at = reader.received.find("\nevent: ", at)) != std::string::npos; ++at) ++frames;
  CHECK(frames == 2001);
  CHECK(stalled.waitForClose(5s));
}
