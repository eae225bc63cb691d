// Handlers of /api/v1/containers (API.md §4-§6). The dispatcher has already
// authenticated the caller and, for routes on one container, loaded it and
// checked visibility, role, guest expiry and container expiry.
#include <chrono>

#include "api/envelope.hpp"
#include "api/errors.hpp"
#include "api/handlers.hpp"
#include "api/json_shapes.hpp"
#include "api/validation.hpp"
#include "common/clock.hpp"

namespace berth::api::handlers {

namespace {

using Json = nlohmann::ordered_json;
using store::ContainerStatus;

// Times one runtime call for the operation metrics.
template <typename F>
auto measured(Core& core, std::string_view operation, F&& call) {
  auto start = std::chrono::steady_clock::now();
  auto result = call();
  auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  core.metrics.recordOperation(operation, result ? std::nullopt : std::optional<Errc>(result.error().code), elapsed);
  return result;
}

Json containerList(const store::ContainerPage& page) {
  Json containers = Json::array();
  for (const auto& record : page.containers) containers.push_back(containerJson(record));
  return Json{{"containers", std::move(containers)}, {"pagination", paginationJson(page.pagination)}};
}

HandlerResult listIn(Core& core, const ContainerListQuery& query, std::optional<std::vector<std::string>> projects) {
  store::ContainerQuery storeQuery;
  storeQuery.page = query.page;
  storeQuery.status = query.status;
  storeQuery.projectIds = std::move(projects);
  BERTH_TRY(auto page, core.containers.list(storeQuery));
  return ok("Containers retrieved successfully", containerList(page));
}

bool isLive(ContainerStatus status) { return status == ContainerStatus::running || status == ContainerStatus::paused; }

}  // namespace

// It carries the status the container is in now, so the client need not ask.
Failure withManageData(Core& core, Error error, const std::string& id, std::string_view operation) {
  bool describesContainer = error.code == Errc::state_conflict || error.code == Errc::container_config ||
                            error.code == Errc::host_refused || error.code == Errc::deadline_exceeded;
  if (!describesContainer) return Failure(std::move(error));
  auto current = core.containers.getIncludingDeleted(id);
  if (!current) return Failure(std::move(error));
  Json data = manageResponseJson(operation, *current, true, toWireError(error).message);
  return Failure(std::move(error), std::move(data));
}

HandlerResult listContainers(Core& core, Call& call) {
  BERTH_TRY(auto query, parseContainerListQuery(call.http.query, true));
  if (query.projectId) {
    BERTH_TRYV(core.authorizer.requireProjectRole(call.caller(), *query.projectId, store::ProjectRole::viewer));
    return listIn(core, query, std::vector<std::string>{*query.projectId});
  }
  return listIn(core, query, core.authorizer.visibleProjectsFailClosed(call.caller()));
}

HandlerResult listProjectContainers(Core& core, Call& call) {
  BERTH_TRY(auto query, parseContainerListQuery(call.http.query, false));
  std::string projectId = call.params.get("id");
  BERTH_TRYV(core.authorizer.requireProjectRole(call.caller(), projectId, store::ProjectRole::viewer));
  return listIn(core, query, std::vector<std::string>{projectId});
}

HandlerResult createContainer(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto request, parseCreateContainerBody(call.http.body, nowMillis()));
  if (request.projectId.empty()) request.projectId = call.caller().user.personalProjectId;
  BERTH_TRYV(core.authorizer.requireProjectRole(call.caller(), request.projectId, store::ProjectRole::owner));
  if (!core.containers.hasImage(request.image))
    return tl::unexpected(Failure(
        Error{Errc::not_found, 0, "image " + request.image + " not found", Detail::image_not_found}));
  auto made = measured(core, "create", [&] { return core.containers.create(call.caller().user.id, request); });
  if (!made) return tl::unexpected(Failure(std::move(made.error())));
  if (made->startError) return tl::unexpected(withManageData(core, std::move(*made->startError), made->record.id, "start"));
  return created("Container created successfully", containerJson(made->record));
}

HandlerResult getContainer(Core& core, Call& call) {
  BERTH_TRY(bool withRuntime, parseGetContainerQuery(call.http.query));
  const store::ContainerRecord& record = *call.container;
  Json data = containerJson(record);
  if (withRuntime) {
    // Only a live container has processes to describe.
    data["runtime_info"] = nullptr;
    if (isLive(record.status)) {
      BERTH_TRY(auto info, core.containers.runtimeInfo(record));
      data["runtime_info"] = runtimeInfoJson(info);
    }
  }
  return ok("Container retrieved successfully", std::move(data));
}

HandlerResult updateContainer(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(runtime::UpdateRequest update, parseUpdateContainerBody(call.http.body, nowMillis()));
  const std::string& id = call.container->id;
  auto updated = measured(core, "update", [&] { return core.containers.update(call.caller().user.id, id, update); });
  if (!updated) return tl::unexpected(withManageData(core, std::move(updated.error()), id, "update"));
  Json data = containerJson(updated->container);
  data["restarted"] = updated->restarted;
  return ok("Container updated successfully", std::move(data));
}

HandlerResult deleteContainer(Core& core, Call& call) {
  BERTH_TRY(auto options, parseDeleteQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  const std::string& id = call.container->id;
  auto removed = measured(core, "delete", [&] {
    return core.containers.remove(call.caller().user.id, id, options.force, options.keepVolume);
  });
  if (!removed) return tl::unexpected(withManageData(core, std::move(removed.error()), id, "delete"));
  return ok("Container deleted successfully", containerJson(*removed));
}

HandlerResult operateContainer(Core& core, Call& call) {
  BERTH_TRY(runtime::Operation operation, parseOperationName(call.params.get("operation")));
  BERTH_TRY(auto options, parseOperationQuery(call.http.query));
  if (options.timeout && operation != runtime::Operation::stop && operation != runtime::Operation::restart)
    return validationError("timeout applies only to stop and restart");
  BERTH_TRYV(expectEmptyBody(call.http.body));
  const store::ContainerRecord& container = *call.container;
  const std::string& name = call.params.get("operation");  // the wire name, as parsed above
  auto done = measured(core, name, [&] {
    return core.containers.operate(call.caller().user.id, container, operation, options);
  });
  if (!done) return tl::unexpected(withManageData(core, std::move(done.error()), container.id, name));
  return ok("Container operation completed successfully",
            manageResponseJson(name, *done, false, operationSuccessMessage(operation)));
}

HandlerResult containerStatusLogs(Core& core, Call& call) {
  BERTH_TRY(auto query, parseStatusLogQuery(call.http.query));
  BERTH_TRY(auto page, core.containers.statusLogs(call.container->id, query));
  Json logs = Json::array();
  for (const auto& entry : page.logs) logs.push_back(statusLogEntryJson(entry));
  return ok("Container status logs retrieved successfully",
            Json{{"logs", std::move(logs)}, {"pagination", paginationJson(page.pagination)}});
}

}  // namespace berth::api::handlers
