#pragma once
// What the runtime core needs to know about its host; filled from the
// service's configuration (api/ or cmd/ parse YAML and flags into this).
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "runtime/network.hpp"
#include "store/records.hpp"

namespace berth::runtime {

struct TierLimits {
  uint64_t maxMemoryMb = 16384;
  uint32_t maxCpuMillicores = 4000;
  uint64_t maxPidsMax = 32768;
  uint64_t maxDiskMb = 65536;
};

// Bounds of the waits of an operation on the host.
struct InstanceTimeouts {
  std::chrono::milliseconds freeze{5000};  // a freeze not done by then is undone (503)
  // After the grace period (or at once for a force-stop) the kill gets this
  // long before the call gives up (503): a process stuck in the kernel.
  std::chrono::milliseconds kill{30000};
};

// When a committed change is on the disk (durability, README "Durability").
enum class Durability {
  host,     // every change before its answer
  process,  // transitions of a running or paused container within the store's
            // deferred sync delay; every other change before its answer
};

struct RuntimeConfig {
  std::string dataDir = "/var/lib/berth";  // db/, images/, containers/<id>/
  std::string runDir = "/run/berth";       // <runtime_id>/: spec, pid and exit files
  std::string cgroupRoot = "berth";        // group root under every hierarchy
  std::string shimPath;                    // the berth-shim binary; empty: next to the running binary
  std::chrono::seconds defaultStopTimeout{10};
  uint64_t defaultPidsMax = 4096;          // a fork bomb stays inside
  uint64_t logMaxBytes = 8u << 20;         // per container: console.log, then one rotation
  size_t logFollowersMax = 1024;           // clients following logs at once (each holds a thread)
  TierLimits tierLimits;
  store::ProjectLimits projectLimits;  // every project's, unless an admin set its own (none by default)
  InstanceTimeouts timeouts;
  store::EventRetention eventsRetention;  // the event log keeps at least this much
  NetworkConfig network;
  // The sparse image of the writable layers' btrfs pool (<data-dir>/storage/pool.img), when it is made.
  uint64_t storagePoolBytes = 64ull << 30;
  // The largest archive POST /api/v1/images takes (image_max_mb), as received.
  uint64_t imageMaxBytes = 2048ull << 20;
  // The isolation of a container whose create does not say (default_isolation).
  std::string defaultIsolation = std::string(store::kHostRoot);
  Durability durability = Durability::host;
};

}  // namespace berth::runtime
