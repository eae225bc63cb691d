#pragma once
// The host's bridge networking for one service instance (net/ underneath).
#include <memory>

#include "common/error.hpp"
#include "runtime/host.hpp"
#include "runtime/network.hpp"

namespace berth::runtime {

// invalid_argument when bridge_subnet overlaps a route the host already has
// (the message names both). Rules for bridges a previous run left are put
// back in place.
Result<std::unique_ptr<NetworkController>> kernelNetwork(const NetworkConfig& config);

}  // namespace berth::runtime
