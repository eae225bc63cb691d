// The seeds 001/004 dialect: /api/containers/{ref} without ?env= (API.md §7).
// Parsing and shaping only: the dispatcher has resolved and authorized the
// container; the core does the rest. `id` in these answers is the runtime id.
#include "api/envelope.hpp"
#include "api/event_hub.hpp"
#include "api/handlers.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

Json containerSummary(std::string_view message, const store::ContainerRecord& record) {
  return Json{{"message", message},
              {"id", record.runtimeId},
              {"db_id", record.id},
              {"name", record.name},
              {"status", store::statusName(record.status)}};
}

HttpResponse plain(Json body) {
  HttpResponse response;
  response.body = dumpJson(body);
  return response;
}

}  // namespace

HandlerResult dialectStartStop(Core&, Call& call, runtime::Operation operation) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  std::optional<runtime::Recreation> recreated;
  BERTH_TRY(auto record, call.host->operate(call.caller().user.id, *call.container, operation, {}, &recreated));
  if (operation == runtime::Operation::stop) return plain(containerSummary("container stopped", record));
  if (!recreated) return plain(containerSummary("container started", record));
  Json body = containerSummary("container recreated and started", record);
  body["old_id"] = recreated->oldRuntimeId;
  body["recreated"] = true;
  body["volume_kept"] = recreated->volumeKept;
  return plain(std::move(body));
}

HandlerResult dialectDelete(Core&, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  // A soft delete that stops a running container first.
  BERTH_TRY(auto record, call.host->remove(call.caller().user.id, call.container->id, true, false));
  Json body = containerSummary("container deleted", record);
  body.erase("status");
  return plain(std::move(body));
}

HandlerResult dialectSettings(Core&, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto change, parseSettingsBody(call.http.body));
  BERTH_TRY(auto updated, call.host->update(call.caller().user.id, call.container->id, change));
  const store::ContainerRecord& record = updated.container;
  Json resources = Json::object();
  if (record.resources.memoryMb) resources["memory_mb"] = *record.resources.memoryMb;
  if (record.resources.cpuMillicores) resources["cpu_shares"] = *record.resources.cpuMillicores;
  if (record.resources.diskMb) resources["disk_mb"] = *record.resources.diskMb;
  Json container = containerSummary("", record);
  container.erase("message");
  container["image"] = record.image;
  container["resources"] = std::move(resources);
  return plain(Json{{"message", "settings updated"}, {"restarted", updated.restarted}, {"container", std::move(container)}});
}

HandlerResult dialectEvents(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  Subscription subscription;
  subscription.shape = EventShape::containersDialect;
  BERTH_TRY(subscription.filter.projects, core.authorizer.visibleProjects(call.caller()));
  subscription.user = call.caller().user.id;
  return webSocketStream(core, call, std::move(subscription));
}

}  // namespace berth::api::handlers
