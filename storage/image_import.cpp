#include "storage/image_import.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "common/files.hpp"
#include "common/scope_guard.hpp"
#include "common/unique_fd.hpp"
#include "storage/oci_layout.hpp"
#include "storage/sha256.hpp"
#include "storage/tree_writer.hpp"

namespace berth::storage {

namespace {

// index.json, manifests and configs are read whole: bounded, so a hostile one cannot exhaust memory.
constexpr uint64_t kMaxJsonBlob = 8u << 20;
// Nested indexes (an index pointing at a platform index) deeper than this are refused.
constexpr int kMaxIndexDepth = 4;

struct ArchiveDeleter {
  void operator()(archive* reader) const { archive_read_free(reader); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

// libarchive's text for its last error, which may be none at all.
std::string archiveText(archive* reader) {
  const char* text = archive_error_string(reader);
  return text ? text : "unreadable archive";
}

// Tar (ustar, pax, GNU), uncompressed, gzip or zstd.
Result<ArchivePtr> newReader() {
  ArchivePtr reader(archive_read_new());
  if (!reader) return fail(Errc::host_refused, "archive_read_new: out of memory");
  if (archive_read_support_format_tar(reader.get()) != ARCHIVE_OK ||
      archive_read_support_filter_gzip(reader.get()) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(reader.get()) != ARCHIVE_OK)
    return fail(Errc::host_refused, "libarchive setup: " + archiveText(reader.get()));
  return reader;
}

// The HTTP body as libarchive's input: counted against the limit chunk by
// chunk (so an oversized body stops as soon as it passes it) and hashed.
struct BodyStream {
  const ChunkReader* read = nullptr;
  uint64_t maxBytes = 0;
  uint64_t total = 0;
  Sha256 hash;
  bool ended = false;
  std::optional<Error> error;  // the reader's own, or the limit: preferred over libarchive's text

  // The next chunk; empty at the end (or after an error).
  std::string_view next() {
    if (ended || error) return {};
    Result<std::string_view> chunk = tl::unexpected<Error>(Error{});
    try {
      chunk = (*read)();
    } catch (const std::exception& e) {  // never through libarchive's C frames
      chunk = fail(Errc::internal, std::string("body reader threw: ") + e.what());
    }
    if (!chunk) {
      error = std::move(chunk.error());
      return {};
    }
    if (chunk->empty()) {
      ended = true;
      return {};
    }
    total += chunk->size();
    if (total > maxBytes) {
      error = Error{Errc::resource_exhausted, 0,
                    std::string(kArchiveTooLarge) + ": more than " + std::to_string(maxBytes) + " bytes", {}};
      return {};
    }
    hash.update(*chunk);
    return *chunk;
  }
};

la_ssize_t readBody(archive* reader, void* client, const void** buffer) {
  auto* body = static_cast<BodyStream*>(client);
  std::string_view chunk = body->next();
  if (body->error) {
    archive_set_error(reader, EIO, "%s", body->error->message.c_str());
    return ARCHIVE_FATAL;
  }
  *buffer = chunk.data();
  return static_cast<la_ssize_t>(chunk.size());
}

UniqueFd openDirAt(int parentFd, const char* name) {
  return UniqueFd(::openat(parentFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

bool isRegularAt(int dirFd, const char* name) {
  struct stat st {};
  return ::fstatat(dirFd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

// Bytes of the regular files under dirFd, each inode once (hard links).
Result<uint64_t> treeBytes(int dirFd, const std::string& shown, std::set<std::pair<dev_t, ino_t>>& seen) {
  int fd = ::dup(dirFd);
  if (fd < 0) return sysFail("dup");
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return sysFail("fdopendir " + shown, err);
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(dir, ::closedir);
  ::rewinddir(dir);
  uint64_t total = 0;
  while (struct dirent* child = ::readdir(dir)) {
    if (std::strcmp(child->d_name, ".") == 0 || std::strcmp(child->d_name, "..") == 0) continue;
    struct stat st {};
    if (::fstatat(dirFd, child->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
      return sysFail("stat " + shown + "/" + child->d_name);
    if (S_ISREG(st.st_mode)) {
      if (st.st_nlink == 1 || seen.insert({st.st_dev, st.st_ino}).second) total += static_cast<uint64_t>(st.st_size);
    } else if (S_ISDIR(st.st_mode)) {
      UniqueFd sub = openDirAt(dirFd, child->d_name);
      if (!sub) return sysFail("open " + shown + "/" + child->d_name);
      BERTH_TRY(uint64_t bytes, treeBytes(sub.get(), shown + "/" + child->d_name, seen));
      total += bytes;
    }
  }
  return total;
}

// A blob of the layout, checked against its descriptor: present (as a
// regular file the archive wrote), its content hashing to its name, the
// size the descriptor says.
class Layout {
 public:
  Layout(int dirFd, const std::map<std::string, BlobRecord>& blobs) : dirFd_(dirFd), blobs_(blobs) {}

  Result<void> verifyNames() const {
    for (const auto& [path, record] : blobs_) {
      std::string hex = path.substr(path.rfind('/') + 1);
      if (record.sha256 != hex)
        return fail(Errc::invalid_argument, "blob sha256:" + hex + " does not match its content (which hashes to " +
                                                (record.sha256.empty() ? "nothing: it is sparse" : "sha256:" + record.sha256) + ")");
    }
    return {};
  }

  Result<UniqueFd> open(const oci::Descriptor& desc, const std::string& what) const {
    std::string hex = desc.digest.substr(7);
    auto it = blobs_.find("blobs/sha256/" + hex);
    if (it == blobs_.end())
      return fail(Errc::invalid_argument, what + ": missing blob " + desc.digest + " (not in the archive's blobs/sha256/)");
    if (it->second.size != desc.size)
      return fail(Errc::invalid_argument, what + ": blob " + desc.digest + " has " + std::to_string(it->second.size) +
                                              " bytes, the descriptor says " + std::to_string(desc.size));
    UniqueFd blobs = openDirAt(dirFd_, "blobs");
    UniqueFd sha = blobs ? openDirAt(blobs.get(), "sha256") : UniqueFd();
    UniqueFd fd = sha ? UniqueFd(::openat(sha.get(), hex.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) : UniqueFd();
    if (!fd) return sysFail("open blob " + desc.digest);
    return fd;
  }

  Result<std::string> read(const oci::Descriptor& desc, const std::string& what) const {
    if (desc.size > kMaxJsonBlob)
      return fail(Errc::invalid_argument, what + " is too large (" + std::to_string(desc.size) + " bytes)");
    BERTH_TRY(UniqueFd fd, open(desc, what));
    return readFd(fd.get());
  }

 private:
  int dirFd_;
  const std::map<std::string, BlobRecord>& blobs_;
};

// index.json (and nested indexes) down to the one manifest for this host.
Result<std::pair<oci::Descriptor, std::string>> resolveManifest(const Layout& layout, std::string indexJson,
                                                                const std::string& ref) {
  std::string pickRef = ref;
  for (int depth = 0; depth < kMaxIndexDepth; ++depth) {
    BERTH_TRY(std::vector<oci::Descriptor> manifests, oci::parseIndex(indexJson));
    BERTH_TRY(oci::Descriptor chosen, oci::selectManifest(manifests, pickRef, oci::hostArchitecture()));
    BERTH_TRY(std::string blob, layout.read(chosen, "manifest " + chosen.digest));
    std::string mediaType = chosen.mediaType.empty() ? oci::mediaTypeOf(blob) : chosen.mediaType;
    switch (oci::kindOf(mediaType)) {
      case oci::Kind::manifest: return std::pair{chosen, blob};
      case oci::Kind::index:
        indexJson = std::move(blob);
        pickRef.clear();  // the ref names the image at the top; below it only the platform chooses
        continue;
      case oci::Kind::unknown:
        return fail(Errc::invalid_argument,
                    "manifest " + chosen.digest + " has an unknown media type '" + mediaType + "'");
    }
  }
  return fail(Errc::invalid_argument, "the index nests more than " + std::to_string(kMaxIndexDepth) + " levels deep");
}

Result<ImportedImage> importLayout(int layoutFd, int rootfsFd, const std::map<std::string, BlobRecord>& blobs,
                                   const std::string& ref, const ImportLimits& limits, uint64_t& unpacked) {
  Layout layout(layoutFd, blobs);
  BERTH_TRYV(layout.verifyNames());
  UniqueFd indexFd(::openat(layoutFd, "index.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!indexFd) return sysFail("open index.json");
  struct stat st {};
  if (::fstat(indexFd.get(), &st) != 0) return sysFail("stat index.json");
  if (static_cast<uint64_t>(st.st_size) > kMaxJsonBlob) return fail(Errc::invalid_argument, "index.json is too large");
  BERTH_TRY(std::string indexJson, readFd(indexFd.get()));
  BERTH_TRY(auto resolved, resolveManifest(layout, std::move(indexJson), ref));
  auto& [manifestDesc, manifestJson] = resolved;
  BERTH_TRY(oci::Manifest manifest, withContext(oci::parseManifest(manifestJson), "manifest " + manifestDesc.digest));
  BERTH_TRY(std::string configJson, layout.read(manifest.config, "image config"));
  ImportedImage image;
  image.source = kSourceOciLayout;
  image.digest = manifestDesc.digest;
  BERTH_TRY(image.config, oci::parseImageConfig(configJson));

  TreeWriter writer(rootfsFd, unpacked, limits.maxUnpackedBytes);
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    const oci::Descriptor& layer = manifest.layers[i];
    std::string what = "layer " + std::to_string(i) + " (" + layer.digest + ")";
    BERTH_TRY(UniqueFd fd, layout.open(layer, what));
    BERTH_TRY(ArchivePtr reader, newReader());
    if (archive_read_open_fd(reader.get(), fd.get(), 256 << 10) != ARCHIVE_OK)
      return fail(Errc::invalid_argument, what + ": " + archiveText(reader.get()));
    BERTH_TRYV(withContext(writer.extractAll(reader.get(), {.whiteouts = true, .recordBlobs = false}), what));
  }
  return image;
}

}  // namespace

std::string importedImageToJson(const ImportedImage& image) {
  nlohmann::json doc = {
      {"source", image.source},
      {"digest", image.digest},
      {"sizeBytes", image.sizeBytes},
      {"config",
       {{"command", image.config.command},
        {"env", image.config.env},
        {"workingDir", image.config.workingDir},
        {"user", image.config.user}}},
  };
  // Replacement instead of an exception for names that are not UTF-8.
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

Result<ImportedImage> readImportedImage(const std::string& imageDir) {
  BERTH_TRY(std::string text, readFile(imageDir + "/image.json"));
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return fail(Errc::internal, imageDir + "/image.json is not valid JSON");
  try {
    ImportedImage image;
    image.source = doc.at("source").get<std::string>();
    image.digest = doc.at("digest").get<std::string>();
    image.sizeBytes = doc.at("sizeBytes").get<uint64_t>();
    const auto& config = doc.at("config");
    image.config.command = config.at("command").get<std::vector<std::string>>();
    image.config.env = config.at("env").get<std::vector<std::string>>();
    image.config.workingDir = config.at("workingDir").get<std::string>();
    image.config.user = config.at("user").get<std::string>();
    return image;
  } catch (const nlohmann::json::exception& e) {
    return fail(Errc::internal, imageDir + "/image.json: " + e.what());
  }
}

Result<ImportedImage> importImage(const ChunkReader& read, const std::string& targetDir, const std::string& ref,
                                  const ImportLimits& limits) {
  if (targetDir.empty() || targetDir.back() == '/')
    return fail(Errc::internal, "importImage: target '" + targetDir + "' is not a directory path");
  if (pathExists(targetDir)) return fail(Errc::already_exists, "image directory " + targetDir + " already exists");
  const std::string work = targetDir + ".importing";
  if (::mkdir(work.c_str(), 0700) != 0) {
    if (errno == EEXIST)
      return fail(Errc::already_exists, "an import into " + targetDir + " is running (or a crash left " + work + ")");
    return sysFail("mkdir " + work);
  }
  ScopeGuard cleanup([&] {
    auto removed = removeTree(work);
    if (!removed) std::fprintf(stderr, "image import: cleanup: %s\n", removed.error().describe().c_str());
  });
  UniqueFd workFd = openDirAt(AT_FDCWD, work.c_str());
  if (!workFd) return sysFail("open " + work);
  // Unpacked into "root"; renamed to "rootfs" for a tarball, to "layout" for an OCI layout.
  if (::mkdirat(workFd.get(), "root", 0755) != 0) return sysFail("mkdir " + work + "/root");
  UniqueFd rootFd = openDirAt(workFd.get(), "root");
  if (!rootFd) return sysFail("open " + work + "/root");

  uint64_t unpacked = 0;
  BodyStream body;
  body.read = &read;
  body.maxBytes = limits.maxArchiveBytes;
  TreeWriter writer(rootFd.get(), unpacked, limits.maxUnpackedBytes);
  {
    BERTH_TRY(ArchivePtr reader, newReader());
    if (archive_read_open(reader.get(), &body, nullptr, readBody, nullptr) != ARCHIVE_OK) {
      if (body.error) return tl::unexpected<Error>(*body.error);
      return fail(Errc::invalid_argument, "not a tar archive: " + archiveText(reader.get()));
    }
    auto extracted = writer.extractAll(reader.get(), {.whiteouts = false, .recordBlobs = true});
    if (body.error) return tl::unexpected<Error>(*body.error);
    if (!extracted) return tl::unexpected<Error>(std::move(extracted.error()));
  }
  // What follows the tar's end (padding) still counts: against the limit, and in the digest.
  while (!body.next().empty()) {
  }
  if (body.error) return tl::unexpected<Error>(*body.error);

  ImportedImage image;
  if (isRegularAt(rootFd.get(), "oci-layout") && isRegularAt(rootFd.get(), "index.json")) {
    if (::renameat(workFd.get(), "root", workFd.get(), "layout") != 0) return sysFail("rename " + work + "/root");
    if (::mkdirat(workFd.get(), "rootfs", 0755) != 0) return sysFail("mkdir " + work + "/rootfs");
    UniqueFd rootfsFd = openDirAt(workFd.get(), "rootfs");
    if (!rootfsFd) return sysFail("open " + work + "/rootfs");
    BERTH_TRY(image, importLayout(rootFd.get(), rootfsFd.get(), writer.blobs(), ref, limits, unpacked));
    rootFd.reset();
    BERTH_TRYV(removeTree(work + "/layout"));
  } else {
    if (::renameat(workFd.get(), "root", workFd.get(), "rootfs") != 0) return sysFail("rename " + work + "/root");
    image.source = kSourceRootfsTar;
    image.digest = "sha256:" + body.hash.hexDigest();
  }
  {
    UniqueFd rootfsFd = openDirAt(workFd.get(), "rootfs");
    if (!rootfsFd) return sysFail("open " + work + "/rootfs");
    std::set<std::pair<dev_t, ino_t>> seen;
    BERTH_TRY(image.sizeBytes, treeBytes(rootfsFd.get(), work + "/rootfs", seen));
  }
  BERTH_TRYV(writeFileFast(work + "/image.json", importedImageToJson(image)));
  // On disk before it appears under its name: a crash never leaves an image with half its files.
  if (::syncfs(workFd.get()) != 0) return sysFail("syncfs " + work);
  if (::renameat2(AT_FDCWD, work.c_str(), AT_FDCWD, targetDir.c_str(), RENAME_NOREPLACE) != 0) {
    if (errno == EEXIST) return fail(Errc::already_exists, "image directory " + targetDir + " already exists");
    return sysFail("rename " + work + " to " + targetDir);
  }
  cleanup.dismiss();
  return image;
}

}  // namespace berth::storage
