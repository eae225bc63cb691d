#pragma once
// Loop devices backing the pool's image file.
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::storage {

// A loop device just configured with LO_FLAGS_AUTOCLEAR: it detaches itself
// when its last user goes, so the fd held here keeps it until a mount holds it
// (dropping this before the mount frees the device).
struct LoopAttachment {
  std::string devicePath;  // "/dev/loop3"
  UniqueFd fd;
};

// Attaches `imagePath` to a free loop device (LOOP_CTL_GET_FREE + LOOP_CONFIGURE,
// direct I/O when the backing filesystem allows it, so pages are not cached twice).
Result<LoopAttachment> attachLoop(const std::string& imagePath);
// The backing file of a loop device ("/dev/loop3"), nullopt when it is detached.
std::optional<std::string> loopBackingFile(const std::string& devicePath);

}  // namespace berth::storage
