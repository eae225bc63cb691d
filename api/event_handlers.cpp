// GET /api/v1/events (SSE) and GET /api/v1/events/ws (WebSocket), API.md §8:
// the request is checked here, on the HTTP worker; then the connection is
// handed to the EventHub, which serves every stream from one thread.
#include <memory>

#include "api/envelope.hpp"
#include "api/errors.hpp"
#include "api/event_hub.hpp"
#include "api/handlers.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

// What both routes check before anything is switched: 400s, then room for one more stream.
Result<Subscription> subscriptionFor(Core& core, const Call& call) {
  BERTH_TRY(auto query, parseEventsQuery(call.http.query, call.http.header("Last-Event-ID")));
  Subscription subscription;
  subscription.afterId = std::move(query.afterId);
  subscription.filter.containerId = std::move(query.containerId);
  subscription.filter.types = std::move(query.types);
  // The same decision as the container routes' visibility: the projects the caller has a role in.
  BERTH_TRY(subscription.filter.projects, core.authorizer.visibleProjects(call.caller()));
  subscription.user = call.caller().user.id;
  return subscription;
}

HttpResponse handOver(Core& core, int status, std::string head, Subscription subscription) {
  HttpResponse response;
  response.status = status;
  // A std::function is copyable; the subscription (a WebSocket's state) is not.
  auto pending = std::make_shared<Subscription>(std::move(subscription));
  response.takeOver = [&hub = core.events, head = std::move(head), pending](UniqueFd socket) mutable {
    hub.add(std::move(socket), std::move(head), std::move(*pending));
  };
  return response;
}

}  // namespace

HandlerResult eventStream(Core& core, Call& call) {
  BERTH_TRY(auto subscription, subscriptionFor(core, call));
  if (!core.events.hasRoom()) return fail(Errc::unavailable, "too many event streams are open; retry later");
  BERTH_TRYV(expectEmptyBody(call.http.body));
  subscription.protocol = StreamProtocol::sse;
  // No length and no chunking: the stream is the rest of the connection. `retry:` once, as reconnect advice.
  std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
      "Connection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: 3000\n\n";
  return handOver(core, 200, std::move(head), std::move(subscription));
}

HandlerResult webSocketStream(Core& core, const Call& call, Subscription subscription) {
  if (!core.events.hasRoom()) return fail(Errc::unavailable, "too many event streams are open; retry later");
  UpgradeRequest upgrade;
  upgrade.method = call.http.method;
  upgrade.target = call.http.path;
  upgrade.headers = call.http.headers;
  BERTH_TRY(subscription.webSocket, WebSocketConnection::accept(upgrade));
  subscription.protocol = StreamProtocol::websocket;
  std::string head = subscription.webSocket->takeOutput();  // the 101
  return handOver(core, 101, std::move(head), std::move(subscription));
}

HandlerResult eventWebSocket(Core& core, Call& call) {
  BERTH_TRY(auto subscription, subscriptionFor(core, call));
  return webSocketStream(core, call, std::move(subscription));
}

}  // namespace berth::api::handlers
