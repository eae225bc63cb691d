// Handlers of /api/v1/images (API.md §12). The dispatcher has authenticated
// the caller (and checked the admin role) before any of the body is read.
#include <memory>

#include "api/envelope.hpp"
#include "api/errors.hpp"
#include "api/handlers.hpp"
#include "api/json_shapes.hpp"
#include "api/validation.hpp"

namespace berth::api::handlers {

namespace {

using Json = nlohmann::ordered_json;

// The body as chunks: the streamed one, or (no body, or a caller without a
// socket) the whole body at once.
runtime::BodyReader bodyOf(const HttpRequest& http) {
  if (http.bodyReader) return http.bodyReader;
  auto given = std::make_shared<bool>(false);
  return [&body = http.body, given]() -> Result<std::string_view> {
    if (*given) return std::string_view();
    *given = true;
    return std::string_view(body);
  };
}

}  // namespace

HandlerResult listImages(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRY(auto images, core.containers.listImages());
  Json list = Json::array();
  for (const auto& image : images) list.push_back(imageJson(image));
  return ok("Images retrieved successfully", Json{{"images", std::move(list)}});
}

HandlerResult importImage(Core& core, Call& call) {
  BERTH_TRY(auto query, parseImageImportQuery(call.http.query));
  BERTH_TRY(auto declared, parseContentLength(call.http.header("Content-Length")));
  uint64_t limit = core.containers.config().imageMaxBytes;
  // Refused before a byte is read; a chunked body is counted while it streams.
  if (declared && *declared > limit)
    return fail(Errc::resource_exhausted, Detail::payload_too_large,
                "image archive exceeds image_max_mb (" + std::to_string(limit) + " bytes)");
  BERTH_TRY(auto image, core.containers.importImage(query.name, query.ref, bodyOf(call.http)));
  return created("Image imported successfully", imageJson(image));
}

HandlerResult deleteImage(Core& core, Call& call) {
  BERTH_TRYV(expectNoQuery(call.http.query));
  BERTH_TRYV(expectEmptyBody(call.http.body));
  std::string name = call.params.get("name");
  BERTH_TRYV(checkImageName(name));
  BERTH_TRY(auto image, core.containers.deleteImage(name));
  return ok("Image deleted successfully", imageJson(image));
}

}  // namespace berth::api::handlers
