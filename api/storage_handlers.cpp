// Handlers of a container's snapshots and copies (API.md §12). The
// dispatcher has loaded the container and checked the caller's role on it.
#include "api/envelope.hpp"
#include "api/errors.hpp"
#include "api/handlers.hpp"
#include "api/json_shapes.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

using Json = nlohmann::ordered_json;

}  // namespace

HandlerResult createSnapshot(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(std::string alias, parseNewSnapshotBody(call.http.body));
  BERTH_TRY(auto snapshot, core.containers.createSnapshot(*call.container, alias));
  return created("Snapshot created successfully", snapshotJson(snapshot));
}

HandlerResult listSnapshots(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto snapshots, core.containers.listSnapshots(*call.container));
  Json list = Json::array();
  for (const auto& snapshot : snapshots) list.push_back(snapshotJson(snapshot));
  return ok("Snapshots retrieved successfully", Json{{"snapshots", std::move(list)}});
}

HandlerResult restoreSnapshot(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  BERTH_TRYV(checkSnapshotId(call.params.get("sid")));
  BERTH_TRY(auto restored, core.containers.restoreSnapshot(*call.container, call.params.get("sid")));
  return ok("Container restored from snapshot", containerJson(restored));
}

HandlerResult deleteSnapshot(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  BERTH_TRYV(checkSnapshotId(call.params.get("sid")));
  BERTH_TRY(auto snapshot, core.containers.deleteSnapshot(*call.container, call.params.get("sid")));
  return ok("Snapshot deleted successfully", snapshotJson(snapshot));
}

HandlerResult copyContainer(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(CopyRequest request, parseCopyBody(call.http.body));
  std::string projectId = request.projectId.value_or(call.container->projectId);
  // Owner of the source (the route) and of the project the copy lands in.
  BERTH_TRYV(core.authorizer.requireProjectRole(call.caller(), projectId, store::ProjectRole::owner));
  BERTH_TRY(auto copy, core.containers.copy(call.caller().user.id, *call.container, request.name, projectId));
  return created("Container copied successfully", containerJson(copy));
}

}  // namespace berth::api::handlers
