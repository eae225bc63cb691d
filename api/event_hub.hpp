#pragma once
// The event streams of API.md §8, SSE and WebSocket: every subscriber's
// connection is served by one thread and one epoll, never a thread each.
// A subscriber is sent the event log from where it is (replay from the
// store, then live). A commit only wakes the hub, which reads each new event
// once into a window of recent ones that every subscriber sends from; one
// that has fallen out of the window reads the store itself. A subscriber
// that does not read and falls that far behind is disconnected: the events
// stay in the store, so it loses nothing when it reconnects with its last id.
#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "api/websocket.hpp"
#include "common/error.hpp"
#include "common/unique_fd.hpp"
#include "runtime/events.hpp"

namespace berth::api {

enum class StreamProtocol { sse, websocket };
// What an event looks like on the wire: API.md §8, or the seed-004 dialect's
// {"type","data":{"id":<runtime id>,"name","status"}} of its four types.
enum class EventShape { v1, containersDialect };

// Which events a subscriber receives.
struct EventFilter {
  std::optional<std::vector<std::string>> projects;  // sorted; nullopt: every project (admins)
  std::optional<std::string> containerId;
  std::vector<std::string> types;  // empty: every type
  bool matches(const runtime::EventRecord& event) const;
};

struct Subscription {
  StreamProtocol protocol = StreamProtocol::sse;
  EventShape shape = EventShape::v1;  // containersDialect: WebSocket only
  // The last event the client has (Last-Event-ID, ?since=); nullopt: live events only.
  std::optional<std::string> afterId;
  EventFilter filter;
  std::unique_ptr<WebSocketConnection> webSocket;  // the protocol's state, for websocket
  std::string user;                                // for the service's log
};

struct EventHubOptions {
  std::chrono::milliseconds heartbeat{15000};
  size_t window = 4096;          // recent events kept in memory
  // A subscriber behind the window that has taken nothing for this long is dropped.
  std::chrono::milliseconds stallLimit{2000};
  size_t maxSubscribers = 4096;
};

class EventHub {
 public:
  // Reads the event log: events after an id, in id order, at most `limit`.
  using ReadEvents = std::function<Result<runtime::EventPage>(const std::string& afterId, size_t limit)>;
  using NewestId = std::function<Result<std::optional<std::string>>()>;

  static Result<std::unique_ptr<EventHub>> start(ReadEvents read, NewestId newest, EventHubOptions options = {});
  ~EventHub();  // closes every stream
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Takes over a connection whose request was read: `head` (the response
  // head) is written first, then the events.
  void add(UniqueFd socket, std::string head, Subscription subscription);
  // New events were committed. Cheap and never blocks: called after every
  // commit. With no stream open it only marks the window stale, so a commit
  // wakes nobody (the next stream's window starts from the store's newest).
  void notify();
  // Whether another subscriber fits (the routes answer 503 beyond).
  bool hasRoom() const;

  // How a stream renders one event.
  static std::string sseFrame(const runtime::EventRecord& event);
  static std::string jsonOf(const runtime::EventRecord& event, bool withId);

 private:
  struct Subscriber;
  EventHub(ReadEvents read, NewestId newest, EventHubOptions options, UniqueFd epoll, UniqueFd wake);
  void wakeLoop();
  void loop();
  void admitNewcomers();
  void refreshWindow();
  // Empties the window and starts it at the store's newest event.
  void restartWindow();
  void pump(Subscriber& subscriber);
  void flush(Subscriber& subscriber);
  void readFrom(Subscriber& subscriber);
  void heartbeats();
  void drop(int fd, std::string_view why);
  // An event as the streams send it, rendered once for all of them.
  struct Rendered {
    runtime::EventRecord event;
    std::string sse;   // the whole SSE frame
    std::string json;  // a WebSocket message's text
    std::optional<std::string> dialectJson;  // the seed-004 message, for the types it has
  };
  static Rendered render(runtime::EventRecord event);
  void append(Subscriber& subscriber, const Rendered& rendered);

  ReadEvents read_;
  NewestId newest_;
  EventHubOptions options_;
  UniqueFd epoll_;
  UniqueFd wake_;  // eventfd: notify(), add() and the destructor
  // Events were committed while no stream was open (notify() did not wake the loop).
  std::atomic<bool> windowStale_{false};

  std::mutex inboxMutex_;
  struct Newcomer {
    UniqueFd socket;
    std::string head;
    Subscription subscription;
  };
  std::vector<Newcomer> inbox_;  // guarded by inboxMutex_
  bool stopping_ = false;        // guarded by inboxMutex_
  std::atomic<size_t> count_{0};

  // The loop thread's own state.
  std::map<int, std::unique_ptr<Subscriber>> subscribers_;  // by socket fd
  std::deque<Rendered> window_;
  std::string windowBase_;  // the window holds every event after this id (up to its back)
  std::string windowLast_;  // the newest event read
  std::chrono::steady_clock::time_point lastHeartbeatCheck_;
  std::thread thread_;
};

}  // namespace berth::api
