// GET /healthz and GET /metrics (API.md §9): outside the envelope.
#include "api/errors.hpp"
#include "api/handlers.hpp"

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
  HttpResponse response;
  response.contentType = "text/plain; version=0.0.4; charset=utf-8";
  response.body = core.metrics.render(counts);
  return response;
}

}  // namespace berth::api::handlers
