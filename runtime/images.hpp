#pragma once
// Images: read-only root filesystems under <images-dir>/<name>/rootfs.
#include <string>

#include "common/error.hpp"

namespace berth::runtime {

inline constexpr const char* kDefaultImage = "busybox";

std::string imageRootfs(const std::string& imagesDir, const std::string& name);
bool imageExists(const std::string& imagesDir, const std::string& name);
// Builds the busybox image from the host's busybox-static if it is missing:
// the binary, its applet links, and minimal /etc files. Built beside and
// renamed into place, so a crash never leaves half an image.
Result<void> ensureBusyboxImage(const std::string& imagesDir, const std::string& busyboxBinary = "/bin/busybox");

}  // namespace berth::runtime
