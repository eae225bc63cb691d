#pragma once
// The route table of the HTTP API as data (LXD's APIEndpoint): each route
// names its method, path pattern, who may call it and what the dispatcher
// checks before the handler runs. Internal to api/.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/errors.hpp"
#include "api/http_types.hpp"
#include "api/metrics.hpp"
#include "api/router.hpp"
#include "iam/accounts.hpp"
#include "iam/authorizer.hpp"
#include "runtime/manager.hpp"

namespace berth::api {

class EventHub;
class TerminalSessions;

// What the handlers work with; the same for every dialect.
struct Core {
  runtime::ContainerManager& containers;
  iam::Accounts& accounts;
  const iam::Authorizer& authorizer;
  Metrics& metrics;
  EventHub& events;
  TerminalSessions& terminals;
};

enum class Access {
  anyone,     // no token needed
  user,       // any authenticated caller
  admin,      // callers with the admin role
  container,  // the {id} container, with at least Route::role in its project
  reference,  // the same, {id} being an id, a runtime id or a name (the dialects)
};

// One request on its way through the dispatcher and a handler.
struct Call {
  const HttpRequest& http;
  PathParams params;
  std::optional<iam::Principal> principal;       // set unless Access::anyone
  std::optional<store::ContainerRecord> container;   // set for Access::container, already authorized
  std::string callerId;                              // for the access log (login sets it too)
  Dialect dialect = Dialect::v1;                     // how errors are answered
  runtime::ContainerManager* host = nullptr;         // Access::reference: the environment the container is in

  const iam::Principal& caller() const { return *principal; }
};

// An error on its way to the envelope; `data` is the envelope's optional data.
struct Failure {
  Error error;
  nlohmann::ordered_json data;
  std::optional<std::chrono::seconds> retryAfter;  // sent as Retry-After (429)
  Failure(Error e, nlohmann::ordered_json d = nullptr) : error(std::move(e)), data(std::move(d)) {}  // NOLINT: implicit from Error
};

using HandlerResult = tl::expected<HttpResponse, Failure>;
using Handler = HandlerResult (*)(Core& core, Call& call);

struct Route {
  std::string_view method;
  std::string_view pattern;
  Access access = Access::user;
  // Changes state: refused to a guest past guest_expires_at, and (container
  // routes) on an expired container unless allowedWhenExpired.
  bool mutates = false;
  store::ProjectRole role = store::ProjectRole::viewer;  // Access::container only
  bool allowedWhenExpired = false;
  // Access::container: a deleted container is found too, by its project's owners (audit reads).
  bool deletedVisibleToOwners = false;
  Handler handler = nullptr;
  // The body is not read before the handler: it comes through
  // HttpRequest::bodyReader, up to the route's own limit (not kMaxBodyBytes).
  bool streamsBody = false;
  // A dialect route; `containers` becomes `environments` when the request has ?env=.
  Dialect dialect = Dialect::v1;
  // The token may also come as ?token= (browsers cannot set headers on a WebSocket).
  bool tokenInQuery = false;
};

const std::vector<Route>& apiRoutes();

// Success envelopes of API.md §2.
HttpResponse ok(std::string_view message, nlohmann::ordered_json data);
HttpResponse created(std::string_view message, nlohmann::ordered_json data);

}  // namespace berth::api
