#include "api/service.hpp"

#include <exception>

#include <spdlog/spdlog.h>

#include "api/access.hpp"
#include "api/environments.hpp"
#include "api/envelope.hpp"
#include "api/errors.hpp"
#include "api/routes.hpp"
#include "api/terminal_sessions.hpp"
#include "common/ids.hpp"

namespace berth::api {

namespace {

constexpr size_t kMaxEchoedPath = 200;
constexpr std::string_view kDialectPrefix = "/api/containers";

std::string describeRequest(std::string_view method, std::string_view path) {
  return std::string(method.substr(0, 16)) + " " + std::string(path.substr(0, kMaxEchoedPath));
}

HttpResponse routeNotFound(const HttpRequest& request, std::string_view method) {
  return errorResponse(
      Error{Errc::not_found, 0, "no route for " + describeRequest(method, request.path), Detail::route_not_found});
}

HttpResponse methodNotAllowed(const HttpRequest& request, const std::vector<std::string>& allowed) {
  std::string list;
  for (const auto& method : allowed) list += (list.empty() ? "" : ", ") + method;
  HttpResponse response = errorResponse(Error{Errc::invalid_argument, 0,
                                              "method " + request.method.substr(0, 16) + " not allowed on " +
                                                  request.path.substr(0, kMaxEchoedPath) + " (allowed: " + list + ")",
                                              Detail::method_not_allowed});
  response.headers.emplace_back("Allow", list);
  return response;
}

// The token of a request: the Authorization header; on a dialect's route
// also the `session` cookie its clients send instead, on a route that allows
// it ?token= (never logged: the access log leaves the query out).
Result<iam::Principal> authenticate(const Core& core, const Route& route, const Call& call) {
  if (call.dialect != Dialect::v1 && call.http.authorization.empty()) {
    if (auto session = sessionCookie(call.http.header("Cookie"))) return authenticateBearer(core.accounts, "Bearer " + *session);
  }
  if (route.tokenInQuery && call.http.authorization.empty()) {
    auto [first, last] = call.http.query.equal_range("token");
    if (first != last && std::next(first) == last) return authenticateBearer(core.accounts, "Bearer " + first->second);
  }
  return authenticateBearer(core.accounts, call.http.authorization);
}

// The checks of the route table, in the order of API.md §2, then the handler.
// Every decision is the Authorizer's; a container is loaded here for it.
HandlerResult checkAndRun(Core& core, const Route& route, Call& call) {
  if (route.access != Access::anyone) {
    BERTH_TRY(call.principal, authenticate(core, route, call));
    call.callerId = call.principal->user.id;
  }
  // Every id in an /api/v1 path is an object id ({id}, {user_id}).
  if (call.dialect == Dialect::v1) {
    for (const auto& [name, value] : call.params.all()) {
      if ((name == "id" || name.ends_with("_id")) && !isObjectId(value)) return invalidIdFormat(name);
    }
  }
  if (route.access == Access::admin) BERTH_TRYV(core.authorizer.requireAdmin(*call.principal));
  iam::ContainerNeed need{route.role, route.mutates, route.allowedWhenExpired, route.deletedVisibleToOwners};
  if (route.access == Access::container) {
    const std::string id = call.params.get("id");
    BERTH_TRY(auto record,
              need.deletedVisibleToOwners ? core.containers.getIncludingDeleted(id) : core.containers.get(id));
    BERTH_TRYV(core.authorizer.authorizeContainer(*call.principal, record, need));
    call.container = std::move(record);
  } else if (route.access == Access::reference) {
    BERTH_TRY(call.host, environmentOf(core, call));
    BERTH_TRY(auto projects, core.authorizer.visibleProjects(*call.principal));
    BERTH_TRY(auto record, call.host->findByReference(call.params.get("id"), projects));
    BERTH_TRYV(core.authorizer.authorizeContainer(*call.principal, record, need));
    call.container = std::move(record);
  } else if (route.mutates) {
    BERTH_TRYV(core.authorizer.checkMayMutate(*call.principal));
  }
  return route.handler(core, call);
}

HttpResponse render(const HttpRequest& request, Dialect dialect, HandlerResult result) {
  if (result) return std::move(*result);
  const Failure& failure = result.error();
  if (failure.error.code == Errc::internal) {
    spdlog::error("{}: {}", describeRequest(request.method, request.path), failure.error.describe());
  } else if (toWireError(failure.error).status >= 500) {
    spdlog::warn("{}: {}", describeRequest(request.method, request.path), failure.error.describe());
  }
  HttpResponse response = dialect == Dialect::v1 ? errorResponse(failure.error, failure.data)
                                                 : dialectErrorResponse(failure.error, dialect);
  if (failure.retryAfter) response.headers.emplace_back("Retry-After", std::to_string(failure.retryAfter->count()));
  return response;
}

}  // namespace

struct Api::Impl {
  Impl(runtime::ContainerManager& containers, iam::Accounts& accounts, const iam::Authorizer& authorizer,
       Metrics& metrics, EventHub& events)
      : core{containers, accounts, authorizer, metrics, events, terminals} {}
  TerminalSessions terminals;  // first made, last gone: the handlers' core refers to it
  Core core;
};

Api::Api(runtime::ContainerManager& containers, iam::Accounts& accounts, const iam::Authorizer& authorizer,
         Metrics& metrics, EventHub& events)
    : impl_(std::make_unique<Impl>(containers, accounts, authorizer, metrics, events)) {}

Api::~Api() = default;

Metrics& Api::metrics() { return impl_->core.metrics; }

bool Api::streamsBody(std::string_view method, std::string_view path) const {
  auto lookup = findRoute(apiRoutes(), method, path);
  return lookup.route && lookup.route->streamsBody;
}

Api::Outcome Api::handle(const HttpRequest& request) {
  Outcome outcome;
  try {
    std::string_view method = request.method == "HEAD" ? std::string_view("GET") : std::string_view(request.method);
    auto lookup = findRoute(apiRoutes(), method, request.path);
    if (!lookup.route) {
      outcome.response = lookup.pathKnown ? methodNotAllowed(request, lookup.allowed) : routeNotFound(request, method);
      // Under the dialects' prefix, their clients get their error shape.
      if (request.path.starts_with(kDialectPrefix)) {
        int status = outcome.response.status;
        outcome.response = dialectErrorResponse(
            Error{status == 405 ? Errc::invalid_argument : Errc::not_found, 0,
                  "method " + request.method.substr(0, 16) + " not allowed here",
                  status == 405 ? Detail::method_not_allowed : Detail::route_not_found},
            Dialect::containers);
      }
      return outcome;
    }
    Call call{request, std::move(lookup.params), std::nullopt, std::nullopt, {}};
    call.dialect = lookup.route->dialect;
    if (call.dialect == Dialect::containers && request.query.count("env")) call.dialect = Dialect::environments;
    HandlerResult result = checkAndRun(impl_->core, *lookup.route, call);
    outcome.callerId = call.callerId;
    outcome.response = render(request, call.dialect, std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("{}: unhandled exception: {}", describeRequest(request.method, request.path), e.what());
    outcome.response = errorResponse(Error{Errc::internal, 0, "unhandled exception", {}});
  } catch (...) {
    spdlog::error("{}: unhandled exception", describeRequest(request.method, request.path));
    outcome.response = errorResponse(Error{Errc::internal, 0, "unhandled exception", {}});
  }
  return outcome;
}

}  // namespace berth::api
