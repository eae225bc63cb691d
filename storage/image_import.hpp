#pragma once
// Image import: a root filesystem tarball or an OCI image layout (as a tar,
// optionally gzip), streamed from an HTTP body into <targetDir>/rootfs with
// the image's defaults in <targetDir>/image.json.
//
// What the archive may not do, whatever it holds: write outside the rootfs
// (`..` components refuse the import; a leading `/` is stripped, so
// "/etc/passwd" lands in rootfs/etc/passwd; no symlink is ever followed while
// writing: an entry under a symlink refuses the import), hard-link to
// anything outside it (link targets are resolved beneath the rootfs the same
// way), create char or block devices (skipped; fifos are kept), keep
// setuid/setgid bits (dropped). Owners, modes, mtimes are kept (owners only
// when running as root, like tar); of the xattrs only user.* are kept:
// security.* (file capabilities, SELinux labels), trusted.* and system.* would
// carry privileges or host policy an untrusted image must not choose.
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"

namespace berth::storage {

struct ImageConfig {                 // defaults for containers created from the image
  std::vector<std::string> command;  // OCI Entrypoint + Cmd; empty for a rootfs tarball
  std::vector<std::string> env;      // "KEY=VALUE"
  std::string workingDir;            // "" = "/"
  std::string user;                  // OCI User, as given (may be empty)
};

inline constexpr const char* kSourceRootfsTar = "rootfs-tar";
inline constexpr const char* kSourceOciLayout = "oci-layout";

struct ImportedImage {
  std::string source;      // kSourceRootfsTar or kSourceOciLayout
  std::string digest;      // "sha256:<hex>": of the manifest for a layout; of the archive bytes for a tarball
  uint64_t sizeBytes = 0;  // bytes of the unpacked rootfs (regular files, each inode once)
  ImageConfig config;
};

struct ImportLimits {
  uint64_t maxArchiveBytes = 2048ull << 20;  // of the body as received (compressed)
  uint64_t maxUnpackedBytes = 16ull << 30;   // file data written, over all passes (a gzip bomb stops here)
};

// A chunk of the body; an empty view = the end. The view must stay valid
// until the next call.
using ChunkReader = std::function<Result<std::string_view>()>;

// Message prefixes of the two resource_exhausted errors (the API answers 413).
inline constexpr std::string_view kArchiveTooLarge = "archive too large";
inline constexpr std::string_view kUnpackedTooLarge = "unpacked image too large";

// Reads the archive from `read` chunk by chunk (never whole in memory) into
// `targetDir` (must not exist: already_exists otherwise), which ends up
// holding `rootfs/` and `image.json` — or nothing at all on any failure (the
// work happens in `<targetDir>.importing`, renamed at the end; an import
// already running there, or one a crash left, is already_exists: the caller
// removes leftovers at startup).
// An OCI image layout is recognized by regular files `oci-layout` and
// `index.json` at the archive's root; anything else is a rootfs tarball.
// `ref` picks the manifest whose org.opencontainers.image.ref.name equals it
// (required when the index holds several images). Multi-platform indexes:
// the host's linux platform.
// Errors: invalid_argument for anything wrong with the archive; resource_exhausted
// (messages starting kArchiveTooLarge / kUnpackedTooLarge) past a limit,
// stopped while streaming; host_refused for the host's own failures; the
// reader's own errors as they came.
Result<ImportedImage> importImage(const ChunkReader& read, const std::string& targetDir, const std::string& ref,
                                  const ImportLimits& limits = {});

// image.json of an imported image directory.
Result<ImportedImage> readImportedImage(const std::string& imageDir);
std::string importedImageToJson(const ImportedImage& image);

}  // namespace berth::storage
