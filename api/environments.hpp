#pragma once
// The environments of the `?env=` dialect (seed 003): which berth host a
// request addresses. Environment 1 is this host; further ones (other hosts
// this one fronts) would be added here, and the handlers stay as they are.
#include "api/routes.hpp"

namespace berth::api {

// The manager of the request's environment: this host for every dialect
// but `environments`, whose ?env= names one (400 when malformed, 403 when
// unknown).
Result<runtime::ContainerManager*> environmentOf(Core& core, const Call& call);

}  // namespace berth::api
