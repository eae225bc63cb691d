#pragma once
// Internal to storage/: writes the entries of a libarchive reader beneath a
// directory fd, without ever following a symlink and without anything landing
// outside it (see image_import.hpp for the rules). No chdir: every path is
// walked component by component with openat(O_NOFOLLOW).
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/error.hpp"

struct archive;
struct archive_entry;

namespace berth::storage {

// A file written at blobs/sha256/<64 hex>, hashed as it streamed.
struct BlobRecord {
  std::string sha256;  // hex of the content ("" if it could not be hashed: a sparse entry)
  uint64_t size = 0;
};

struct ExtractOptions {
  bool whiteouts = false;    // an OCI layer: .wh.<name> removes, .wh..wh..opq makes opaque, neither is written
  bool recordBlobs = false;  // hash files written at blobs/sha256/<hex>
};

class TreeWriter {
 public:
  // `unpackedBytes` counts file data over every archive written (the limit is on the total).
  TreeWriter(int rootFd, uint64_t& unpackedBytes, uint64_t maxUnpackedBytes);
  // Writes every entry of `reader`, then the deferred directory metadata.
  // libarchive's own failures come back as invalid_argument with its text.
  Result<void> extractAll(archive* reader, const ExtractOptions& options);
  const std::map<std::string, BlobRecord>& blobs() const { return blobs_; }

 private:
  struct DeferredDir {
    std::vector<std::string> parts;
    mode_t mode;
    int64_t uid, gid;
    bool hasTime;
    struct timespec times[2];
  };
  Result<void> writeEntry(archive* reader, archive_entry* entry, const ExtractOptions& options);
  Result<void> writeFile(archive* reader, archive_entry* entry, int parentFd, const std::string& name,
                         const std::string& shown, bool recordBlob);
  Result<void> applyWhiteout(const std::vector<std::string>& parts, const std::string& shown);
  Result<void> applyDeferred();
  // Removes whatever is at parent/name (a directory with its contents); none is fine.
  Result<void> clearName(int parentFd, const std::string& name, const std::string& shown);
  void forget(const std::string& shown, bool subtree);

  int rootFd_;
  uint64_t& unpackedBytes_;
  uint64_t maxUnpackedBytes_;
  bool asRoot_;
  std::vector<DeferredDir> deferred_;
  std::set<std::string> layerPaths_;  // what the current layer wrote (and the parents it made): opaque keeps them
  std::map<std::string, BlobRecord> blobs_;
};

// "a/b/c" components of an archive path beneath the root: a leading "/" and
// "." components are dropped; ".." refuses (invalid_argument).
Result<std::vector<std::string>> splitEntryPath(std::string_view path);

}  // namespace berth::storage
