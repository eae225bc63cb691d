#include "api/environments.hpp"

#include "api/validation.hpp"

namespace berth::api {

namespace {
constexpr std::string_view kThisHost = "1";
}  // namespace

Result<runtime::ContainerManager*> environmentOf(Core& core, const Call& call) {
  if (call.dialect != Dialect::environments) return &core.containers;
  BERTH_TRY(std::string environment, parseEnvironmentQuery(call.http.query));
  if (environment != kThisHost)
    return fail(Errc::permission_denied, Detail::unknown_environment, "environment " + environment + " is not served here");
  return &core.containers;
}

}  // namespace berth::api
