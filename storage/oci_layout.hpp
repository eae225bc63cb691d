#pragma once
// Internal to storage/: the JSON documents of an OCI image layout (index,
// manifest, config; the docker v2 schema 2 equivalents too), parsed into what
// import needs. Pure functions on strings: nothing here touches the disk.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "storage/image_import.hpp"

namespace berth::storage::oci {

struct Platform {
  std::string os;
  std::string architecture;
};

struct Descriptor {
  std::string mediaType;  // may be empty in an index entry (then the blob's own mediaType says)
  std::string digest;     // "sha256:<64 hex>" (checked by parse)
  uint64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;
  std::string refName() const;  // org.opencontainers.image.ref.name, or ""
};

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};

// What a blob is, by its media type (or, for an index entry without one, by
// the blob's own mediaType field).
enum class Kind { index, manifest, unknown };
Kind kindOf(std::string_view mediaType);
// The mediaType field of a JSON blob ("" when absent or not JSON).
std::string mediaTypeOf(std::string_view json);

// The GOARCH name of the architecture berth was built for ("amd64").
std::string_view hostArchitecture();

Result<std::vector<Descriptor>> parseIndex(std::string_view json);
// Picks one entry: by `ref` when given (a top-level index only), else the
// only image; several images are told apart by the host's platform.
Result<Descriptor> selectManifest(const std::vector<Descriptor>& manifests, const std::string& ref,
                                  std::string_view architecture);
Result<Manifest> parseManifest(std::string_view json);
// Whether libarchive can read a layer of this media type (tar, gzip, zstd).
bool isLayerMediaType(std::string_view mediaType);
Result<ImageConfig> parseImageConfig(std::string_view json);

}  // namespace berth::storage::oci
