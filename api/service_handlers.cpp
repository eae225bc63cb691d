// GET /healthz, GET /metrics (API.md §9) and GET /api/v1/openapi.json: outside the envelope.
#include "api/errors.hpp"
#include "api/handlers.hpp"
#include "api/openapi.hpp"

namespace berth::api::handlers {

namespace {

// The unix socket (no address) is root-only, so it counts as local.
bool isLoopback(std::string_view address) {
  return address.empty() || address == "::1" || address.rfind("127.", 0) == 0 || address.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

HandlerResult health(Core&, Call&) {
  HttpResponse response;
  response.body = R"({"status":"ok"})";
  return response;
}

HandlerResult metrics(Core& core, Call& call) {
  if (!isLoopback(call.http.remoteAddress))
    return tl::unexpected(Failure(Error{Errc::permission_denied, 0, "metrics are served to loopback clients only", {}}));
  BERTH_TRY(auto counts, core.containers.countByStatus());
  BERTH_TRY(auto usage, core.containers.liveUsage(Metrics::kMaxContainerSeries));
  HttpResponse response;
  response.contentType = "text/plain; version=0.0.4; charset=utf-8";
  response.body = core.metrics.render(counts, usage);
  return response;
}

HandlerResult openapi(Core&, Call&) {
  static const std::string text = openapiDocument().dump();
  HttpResponse response;
  response.body = text;
  return response;
}

}  // namespace berth::api::handlers
