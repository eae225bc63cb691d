#pragma once
// The host's LayerStore: the btrfs pool of storage/ under <data-dir>/storage.
#include <memory>

#include "common/error.hpp"
#include "runtime/host.hpp"

namespace berth::runtime {

// Opens the pool (made and mounted on the first start, attached again after
// a host boot).
Result<std::unique_ptr<LayerStore>> kernelLayers(const RuntimeConfig& config);

}  // namespace berth::runtime
