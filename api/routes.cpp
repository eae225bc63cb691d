#include "api/routes.hpp"

#include "api/envelope.hpp"
#include "api/handlers.hpp"

namespace berth::api {

using store::ProjectRole;

namespace {

// POST /api/containers/{ref}/{operation}: seed 003's five operations with
// ?env=, else seeds 001/004's start and stop.
HandlerResult dialectOperation(Core& core, Call& call) {
  if (call.dialect == Dialect::environments) return handlers::environmentOperate(core, call);
  std::string name = call.params.get("operation");
  if (name == "start") return handlers::dialectStartStop(core, call, runtime::Operation::start);
  if (name == "stop") return handlers::dialectStartStop(core, call, runtime::Operation::stop);
  return fail(Errc::not_found, Detail::route_not_found, "unknown operation " + name.substr(0, 32));
}

}  // namespace

const std::vector<Route>& apiRoutes() {
  namespace h = handlers;
  // Literal routes before the placeholders they would otherwise match (/users/me).
  static const std::vector<Route> routes = {
      {.method = "GET", .pattern = "/healthz", .access = Access::anyone, .handler = h::health},
      {.method = "GET", .pattern = "/metrics", .access = Access::anyone, .handler = h::metrics},
      // A client reads the description before it has a token (api/openapi.yaml).
      {.method = "GET", .pattern = "/api/v1/openapi.json", .access = Access::anyone, .handler = h::openapi},

      {.method = "POST", .pattern = "/api/v1/auth/login", .access = Access::anyone, .handler = h::login},
      {.method = "POST", .pattern = "/api/v1/auth/logout", .handler = h::logout},

      {.method = "GET", .pattern = "/api/v1/users/me", .handler = h::currentUser},
      {.method = "POST", .pattern = "/api/v1/users", .access = Access::admin, .mutates = true, .handler = h::createUser},
      {.method = "GET", .pattern = "/api/v1/users", .access = Access::admin, .handler = h::listUsers},
      {.method = "GET", .pattern = "/api/v1/users/{id}", .access = Access::admin, .handler = h::getUser},
      {.method = "PATCH", .pattern = "/api/v1/users/{id}", .access = Access::admin, .mutates = true, .handler = h::updateUser},
      {.method = "DELETE", .pattern = "/api/v1/users/{id}", .access = Access::admin, .mutates = true, .handler = h::deleteUser},

      {.method = "POST", .pattern = "/api/v1/projects", .mutates = true, .handler = h::createProject},
      {.method = "GET", .pattern = "/api/v1/projects", .handler = h::listProjects},
      {.method = "GET", .pattern = "/api/v1/projects/{id}", .handler = h::getProject},
      {.method = "PATCH", .pattern = "/api/v1/projects/{id}", .access = Access::admin, .mutates = true,
       .handler = h::updateProject},
      {.method = "GET", .pattern = "/api/v1/projects/{id}/containers", .handler = h::listProjectContainers},
      {.method = "POST", .pattern = "/api/v1/projects/{id}/members", .mutates = true, .handler = h::addProjectMember},
      {.method = "DELETE", .pattern = "/api/v1/projects/{id}/members/{user_id}", .mutates = true,
       .handler = h::removeProjectMember},

      {.method = "GET", .pattern = "/api/v1/images", .handler = h::listImages},
      {.method = "POST", .pattern = "/api/v1/images", .access = Access::admin, .mutates = true, .handler = h::importImage,
       .streamsBody = true},
      {.method = "DELETE", .pattern = "/api/v1/images/{name}", .access = Access::admin, .mutates = true,
       .handler = h::deleteImage},

      {.method = "GET", .pattern = "/api/v1/events", .handler = h::eventStream},
      {.method = "GET", .pattern = "/api/v1/events/ws", .handler = h::eventWebSocket},

      {.method = "POST", .pattern = "/api/v1/containers", .mutates = true, .handler = h::createContainer},
      {.method = "GET", .pattern = "/api/v1/containers", .handler = h::listContainers},
      {.method = "GET", .pattern = "/api/v1/containers/{id}", .access = Access::container,
       .role = ProjectRole::viewer, .handler = h::getContainer},
      {.method = "PATCH", .pattern = "/api/v1/containers/{id}", .access = Access::container, .mutates = true,
       .role = ProjectRole::owner, .handler = h::updateContainer},
      {.method = "DELETE", .pattern = "/api/v1/containers/{id}", .access = Access::container, .mutates = true,
       .role = ProjectRole::owner, .allowedWhenExpired = true, .handler = h::deleteContainer},
      {.method = "GET", .pattern = "/api/v1/containers/{id}/status-logs", .access = Access::container,
       .role = ProjectRole::viewer, .deletedVisibleToOwners = true, .handler = h::containerStatusLogs},
      {.method = "GET", .pattern = "/api/v1/containers/{id}/logs", .access = Access::container,
       .role = ProjectRole::viewer, .handler = h::containerLogs},
      {.method = "POST", .pattern = "/api/v1/containers/{id}/snapshots", .access = Access::container, .mutates = true,
       .role = ProjectRole::owner, .handler = h::createSnapshot},
      {.method = "GET", .pattern = "/api/v1/containers/{id}/snapshots", .access = Access::container,
       .role = ProjectRole::viewer, .handler = h::listSnapshots},
      {.method = "POST", .pattern = "/api/v1/containers/{id}/snapshots/{sid}/restore", .access = Access::container,
       .mutates = true, .role = ProjectRole::owner, .handler = h::restoreSnapshot},
      {.method = "DELETE", .pattern = "/api/v1/containers/{id}/snapshots/{sid}", .access = Access::container,
       .mutates = true, .role = ProjectRole::owner, .handler = h::deleteSnapshot},
      {.method = "POST", .pattern = "/api/v1/containers/{id}/copy", .access = Access::container, .mutates = true,
       .role = ProjectRole::owner, .handler = h::copyContainer},
      {.method = "POST", .pattern = "/api/v1/containers/{id}/exec", .access = Access::container, .mutates = true,
       .role = ProjectRole::operator_, .handler = h::execInContainer},
      {.method = "GET", .pattern = "/api/v1/containers/{id}/execs", .access = Access::container,
       .role = ProjectRole::operator_, .handler = h::listExecs},
      {.method = "GET", .pattern = "/api/v1/containers/{id}/execs/{exec_id}", .access = Access::container,
       .role = ProjectRole::operator_, .handler = h::getExec},
      {.method = "GET", .pattern = "/api/v1/containers/{id}/terminal", .access = Access::container, .mutates = true,
       .role = ProjectRole::operator_, .handler = h::containerTerminal, .tokenInQuery = true},
      {.method = "POST", .pattern = "/api/v1/containers/{id}/{operation}", .access = Access::container,
       .mutates = true, .role = ProjectRole::operator_, .handler = h::operateContainer},

      // The compatibility dialects (API.md §7): {id} is an id, a runtime id or a name.
      {.method = "GET", .pattern = "/api/containers/events", .handler = h::dialectEvents,
       .dialect = Dialect::containers},
      {.method = "POST", .pattern = "/api/containers/{id}/{operation}", .access = Access::reference, .mutates = true,
       .role = ProjectRole::operator_, .handler = dialectOperation, .dialect = Dialect::containers},
      {.method = "DELETE", .pattern = "/api/containers/{id}", .access = Access::reference, .mutates = true,
       .role = ProjectRole::owner, .allowedWhenExpired = true, .handler = h::dialectDelete,
       .dialect = Dialect::containers},
      {.method = "PATCH", .pattern = "/api/containers/{id}", .access = Access::reference, .mutates = true,
       .role = ProjectRole::owner, .handler = h::dialectSettings, .dialect = Dialect::containers},
  };
  return routes;
}

HttpResponse ok(std::string_view message, nlohmann::ordered_json data) { return successResponse(200, message, std::move(data)); }

HttpResponse created(std::string_view message, nlohmann::ordered_json data) {
  return successResponse(201, message, std::move(data));
}

}  // namespace berth::api
