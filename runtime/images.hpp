#pragma once
// Images: read-only root filesystems under <images-dir>/<name>/rootfs.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "common/error.hpp"

namespace berth::runtime {

inline constexpr const char* kDefaultImage = "busybox";
inline constexpr const char* kSourceBuiltin = "builtin";

// Defaults of the containers created from an image.
struct ImageDefaults {
  std::vector<std::string> command;  // empty: none (the runtime runs /bin/sh)
  std::vector<std::string> env;      // "KEY=VALUE", in the image's order
  std::string workingDir;            // empty: none ("/")
  std::string user;                  // the image config's User; empty: none (0:0)
};

struct ImageInfo {
  std::string name;
  std::string source;  // kSourceBuiltin, or storage's rootfs-tar / oci-layout
  uint64_t sizeBytes = 0;
  UnixMillis createdAt = 0;
  std::optional<std::string> digest;  // null for the builtin image
  ImageDefaults config;
};

// A chunk of a body being received; an empty view = the end (storage::ChunkReader).
using BodyReader = std::function<Result<std::string_view>()>;

std::string imageRootfs(const std::string& imagesDir, const std::string& name);
bool imageExists(const std::string& imagesDir, const std::string& name);
// The image as listed: the builtin busybox, or one imported (its image.json).
Result<ImageInfo> readImage(const std::string& imagesDir, const std::string& name);
// Only the defaults (cheaper than readImage: no size walk).
Result<ImageDefaults> readImageDefaults(const std::string& imagesDir, const std::string& name);
// Every image of the directory, by name.
Result<std::vector<ImageInfo>> listImagesIn(const std::string& imagesDir);
// Streams an archive into <imagesDir>/<name> (storage::importImage). Errors:
// invalid_argument (bad name or archive), already_exists (name taken, or an
// import of it running), resource_exhausted with Detail::payload_too_large
// past maxArchiveBytes or the unpacked bound (the reader is not drained).
Result<ImageInfo> importImageInto(const std::string& imagesDir, const std::string& name, const std::string& ref,
                                  const BodyReader& read, uint64_t maxArchiveBytes);
// Leftovers of a crash: <name>.importing (an import cut off) and .<name>.deleting.
Result<void> removeImageLeftovers(const std::string& imagesDir);
// Moves the image out of the way at once, then removes it.
Result<void> removeImageDir(const std::string& imagesDir, const std::string& name);
// Builds the busybox image from the host's busybox-static if it is missing:
// the binary, its applet links, and minimal /etc files. Built beside and
// renamed into place, so a crash never leaves half an image.
Result<void> ensureBusyboxImage(const std::string& imagesDir, const std::string& busyboxBinary = "/bin/busybox");

}  // namespace berth::runtime
