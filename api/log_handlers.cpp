// GET /api/v1/containers/{id}/logs?tail=N&follow=true (API.md §6): the
// container's stdout and stderr as text/plain, streamed while following.
#include <chrono>
#include <memory>

#include <spdlog/spdlog.h>

#include "api/handlers.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

// How long one round of a follow waits for output before it looks again at
// the client and at the container's status.
constexpr auto kFollowRound = std::chrono::milliseconds(500);

bool isLive(store::ContainerStatus status) {
  return status == store::ContainerStatus::running || status == store::ContainerStatus::paused;
}

}  // namespace

HandlerResult containerLogs(Core& core, Call& call) {
  BERTH_TRY(LogsQuery query, parseLogsQuery(call.http.query));
  std::string id = call.container->id;
  HttpResponse response;
  response.contentType = "text/plain; charset=utf-8";
  if (!query.follow) {
    BERTH_TRY(response.body, core.containers.logs(*call.container, query.tailLines));
    return response;
  }
  BERTH_TRY(runtime::LogFollower follower, core.containers.followLogs(*call.container, query.tailLines, response.body));
  auto shared = std::make_shared<runtime::LogFollower>(std::move(follower));
  runtime::ContainerManager& containers = core.containers;
  // Ends when the container is no longer running or paused (after what it
  // wrote last), when the client leaves, or on a read error.
  response.stream = [shared, &containers, id](std::string& chunk, const std::function<bool()>& clientGone) {
    auto more = shared->next(kFollowRound);
    if (!more) {
      spdlog::warn("following the log of {}: {}", id, more.error().describe());
      return false;
    }
    chunk += *more;
    if (!chunk.empty()) return true;
    if (clientGone()) return false;
    auto record = containers.get(id);
    if (record && isLive(record->status)) return true;
    auto last = shared->next(std::chrono::milliseconds(0));
    if (last) chunk += *last;
    return false;
  };
  return response;
}

}  // namespace berth::api::handlers
