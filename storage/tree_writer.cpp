#include "storage/tree_writer.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstring>

#include "common/files.hpp"
#include "common/unique_fd.hpp"
#include "storage/sha256.hpp"

namespace berth::storage {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kWhiteoutMeta = ".wh..wh.";  // .wh..wh..opq and aufs' own bookkeeping
constexpr std::string_view kOpaque = ".wh..wh..opq";

std::string joinParts(const std::vector<std::string>& parts, size_t count) {
  std::string out;
  for (size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

tl::unexpected<Error> archiveFail(archive* reader, const std::string& context) {
  const char* text = archive_error_string(reader);
  return fail(Errc::invalid_argument, context + ": " + (text ? text : "unreadable archive"));
}

bool isBlobPath(const std::vector<std::string>& parts) {
  if (parts.size() != 3 || parts[0] != "blobs" || parts[1] != "sha256" || parts[2].size() != 64) return false;
  for (char c : parts[2])
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Opens the directory parts[0..count) beneath `rootFd`, creating missing ones
// when `create`. Never follows a symlink: one in the way refuses the entry.
// Without `create`, a missing directory yields an invalid fd.
Result<UniqueFd> openDirBeneath(int rootFd, const std::vector<std::string>& parts, size_t count, bool create,
                                const std::string& shown) {
  UniqueFd current(::openat(rootFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!current) return sysFail("open the extraction root");
  for (size_t i = 0; i < count; ++i) {
    const char* name = parts[i].c_str();
    int fd = ::openat(current.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (::mkdirat(current.get(), name, 0755) != 0 && errno != EEXIST)
        return sysFail("mkdir " + joinParts(parts, i + 1));
      fd = ::openat(current.get(), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      int err = errno;
      struct stat st {};
      if (::fstatat(current.get(), name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT && !create) return UniqueFd();
        return sysFail("open " + joinParts(parts, i + 1), err);
      }
      if (S_ISLNK(st.st_mode))
        return fail(Errc::invalid_argument, "entry '" + shown + "': '" + joinParts(parts, i + 1) +
                                                "' is a symlink; refusing to write through it");
      if (!S_ISDIR(st.st_mode))
        return fail(Errc::invalid_argument,
                    "entry '" + shown + "': '" + joinParts(parts, i + 1) + "' is not a directory");
      return sysFail("open " + joinParts(parts, i + 1), err);
    }
    current.reset(fd);
  }
  return current;
}

Result<void> writeAllAt(int fd, const char* data, size_t size, int64_t offset, const std::string& shown) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("write " + shown);
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += n;
  }
  return {};
}

// Permissions as the archive gives them, without setuid and setgid.
mode_t safeMode(archive_entry* entry) { return archive_entry_perm(entry) & 07777 & ~mode_t(S_ISUID | S_ISGID); }

Result<void> checkOwner(archive_entry* entry, const std::string& shown) {
  // (uid_t)-1 would mean "leave unchanged" to chown.
  auto valid = [](int64_t id) { return id >= 0 && id < int64_t(UINT32_MAX); };
  if (!valid(archive_entry_uid(entry)) || !valid(archive_entry_gid(entry)))
    return fail(Errc::invalid_argument, "entry '" + shown + "' has an invalid owner");
  return {};
}

bool entryTimes(archive_entry* entry, struct timespec times[2]) {
  if (!archive_entry_mtime_is_set(entry)) return false;
  times[1] = {archive_entry_mtime(entry), archive_entry_mtime_nsec(entry)};
  times[0] = archive_entry_atime_is_set(entry) ? timespec{archive_entry_atime(entry), archive_entry_atime_nsec(entry)}
                                               : times[1];
  // A hostile nanosecond field would make utimensat fail with EINVAL.
  for (int i = 0; i < 2; ++i)
    if (times[i].tv_nsec < 0 || times[i].tv_nsec >= 1000000000L) times[i].tv_nsec = 0;
  return true;
}

// Only user.* survives (see image_import.hpp for why).
Result<void> applyXattrs(int fd, archive_entry* entry, const std::string& shown) {
  archive_entry_xattr_reset(entry);
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK) {
    if (name == nullptr || std::strncmp(name, "user.", 5) != 0) continue;
    if (std::strlen(name) > XATTR_NAME_MAX || size > XATTR_SIZE_MAX)
      return fail(Errc::invalid_argument, "entry '" + shown + "' has an oversized xattr");
    if (::fsetxattr(fd, name, value, size, 0) != 0) {
      if (errno == ENOTSUP) continue;  // the filesystem keeps none: the file is still right
      return sysFail("setxattr " + std::string(name) + " on " + shown);
    }
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> splitEntryPath(std::string_view path) {
  std::vector<std::string> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..")
      return fail(Errc::invalid_argument, "entry '" + std::string(path) + "' has a '..' component");
    if (part.size() > NAME_MAX)
      return fail(Errc::invalid_argument, "entry '" + std::string(path) + "' has a name longer than 255 bytes");
    parts.emplace_back(part);
  }
  return parts;
}

TreeWriter::TreeWriter(int rootFd, uint64_t& unpackedBytes, uint64_t maxUnpackedBytes)
    : rootFd_(rootFd), unpackedBytes_(unpackedBytes), maxUnpackedBytes_(maxUnpackedBytes), asRoot_(::geteuid() == 0) {}

Result<void> TreeWriter::extractAll(archive* reader, const ExtractOptions& options) {
  deferred_.clear();
  layerPaths_.clear();
  for (;;) {
    archive_entry* entry = nullptr;
    int status = archive_read_next_header(reader, &entry);
    if (status == ARCHIVE_EOF) break;
    // ARCHIVE_WARN: e.g. an unknown pax keyword; the entry itself is usable.
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return archiveFail(reader, "reading the archive");
    BERTH_TRYV(writeEntry(reader, entry, options));
  }
  return applyDeferred();
}

void TreeWriter::forget(const std::string& shown, bool subtree) {
  blobs_.erase(shown);
  if (!subtree) return;
  std::string prefix = shown.empty() ? "" : shown + "/";
  for (auto it = blobs_.lower_bound(prefix); it != blobs_.end() && it->first.starts_with(prefix);) it = blobs_.erase(it);
}

Result<void> TreeWriter::clearName(int parentFd, const std::string& name, const std::string& shown) {
  forget(shown, true);
  return removeTreeAt(parentFd, name.c_str(), shown);
}

Result<void> TreeWriter::writeEntry(archive* reader, archive_entry* entry, const ExtractOptions& options) {
  const char* rawPath = archive_entry_pathname(entry);
  if (rawPath == nullptr) return fail(Errc::invalid_argument, "an archive entry has no (readable) path");
  BERTH_TRY(std::vector<std::string> parts, splitEntryPath(rawPath));
  const std::string shown = parts.empty() ? "/" : joinParts(parts, parts.size());
  const mode_t type = archive_entry_filetype(entry);
  const char* hardlink = archive_entry_hardlink(entry);
  BERTH_TRYV(checkOwner(entry, shown));

  if (parts.empty()) {  // "./": the root's own metadata
    if (hardlink != nullptr || type != AE_IFDIR)
      return fail(Errc::invalid_argument, "entry '" + std::string(rawPath) + "' names the root but is not a directory");
    DeferredDir dir{{}, safeMode(entry), archive_entry_uid(entry), archive_entry_gid(entry), false, {}};
    dir.hasTime = entryTimes(entry, dir.times);
    deferred_.push_back(std::move(dir));
    return {};
  }
  const std::string& name = parts.back();
  if (options.whiteouts && name.starts_with(kWhiteoutPrefix)) return applyWhiteout(parts, shown);

  BERTH_TRY(UniqueFd parent, openDirBeneath(rootFd_, parts, parts.size() - 1, true, shown));
  if (options.whiteouts)
    for (size_t i = 1; i <= parts.size(); ++i) layerPaths_.insert(joinParts(parts, i));
  struct timespec times[2];
  const bool hasTime = entryTimes(entry, times);
  const uid_t uid = static_cast<uid_t>(archive_entry_uid(entry));
  const gid_t gid = static_cast<gid_t>(archive_entry_gid(entry));

  if (hardlink != nullptr) {
    // Link targets are archive paths too: resolved beneath the root, the same rules.
    BERTH_TRY(std::vector<std::string> target, splitEntryPath(hardlink));
    if (target.empty()) return fail(Errc::invalid_argument, "entry '" + shown + "' hard-links to the root");
    if (target == parts) return {};
    const std::string targetShown = joinParts(target, target.size());
    BERTH_TRYV(clearName(parent.get(), name, shown));
    BERTH_TRY(UniqueFd targetParent, openDirBeneath(rootFd_, target, target.size() - 1, false, targetShown));
    struct stat st {};
    if (!targetParent || ::fstatat(targetParent.get(), target.back().c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (targetParent && errno != ENOENT) return sysFail("stat " + targetShown);
      return fail(Errc::invalid_argument,
                  "entry '" + shown + "' hard-links to '" + targetShown + "', which the archive did not create");
    }
    if (S_ISDIR(st.st_mode))
      return fail(Errc::invalid_argument, "entry '" + shown + "' hard-links to the directory '" + targetShown + "'");
    if (::linkat(targetParent.get(), target.back().c_str(), parent.get(), name.c_str(), 0) != 0)
      return sysFail("link " + shown + " to " + targetShown);
    return {};
  }

  switch (type) {
    case AE_IFREG: return writeFile(reader, entry, parent.get(), name, shown, options.recordBlobs && isBlobPath(parts));
    case AE_IFDIR: {
      struct stat st {};
      bool isDir = ::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      if (!isDir) {
        BERTH_TRYV(clearName(parent.get(), name, shown));
        // Owner-only until the deferred metadata: nobody else looks in while it fills.
        if (::mkdirat(parent.get(), name.c_str(), 0700) != 0) return sysFail("mkdir " + shown);
      }
      UniqueFd dirFd(::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!dirFd) return sysFail("open " + shown);
      BERTH_TRYV(applyXattrs(dirFd.get(), entry, shown));
      DeferredDir dir{parts, safeMode(entry), archive_entry_uid(entry), archive_entry_gid(entry), hasTime, {}};
      if (hasTime) std::memcpy(dir.times, times, sizeof times);
      deferred_.push_back(std::move(dir));
      return {};
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(entry);
      if (target == nullptr || *target == '\0')
        return fail(Errc::invalid_argument, "entry '" + shown + "' is a symlink without a target");
      BERTH_TRYV(clearName(parent.get(), name, shown));
      // Any target is fine as a link: nothing here ever follows one.
      if (::symlinkat(target, parent.get(), name.c_str()) != 0) return sysFail("symlink " + shown);
      if (asRoot_ && ::fchownat(parent.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        return sysFail("chown " + shown);
      if (hasTime && ::utimensat(parent.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return sysFail("utimensat " + shown);
      return {};
    }
    case AE_IFIFO: {
      BERTH_TRYV(clearName(parent.get(), name, shown));
      if (::mknodat(parent.get(), name.c_str(), S_IFIFO | 0600, 0) != 0) return sysFail("mkfifo " + shown);
      // The name is ours alone (the work dir is not shared), so setting its metadata by name is safe.
      if (asRoot_ && ::fchownat(parent.get(), name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
        return sysFail("chown " + shown);
      if (::fchmodat(parent.get(), name.c_str(), safeMode(entry), 0) != 0) return sysFail("chmod " + shown);
      if (hasTime && ::utimensat(parent.get(), name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        return sysFail("utimensat " + shown);
      return {};
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFSOCK:
      // Devices come from the runtime's own /dev, never from an image; a socket is meaningless in a tar.
      return {};
    default: return fail(Errc::invalid_argument, "entry '" + shown + "' has an unknown file type");
  }
}

Result<void> TreeWriter::writeFile(archive* reader, archive_entry* entry, int parentFd, const std::string& name,
                                   const std::string& shown, bool recordBlob) {
  // Whatever was there goes first, so an existing symlink or hard link is replaced, never written through.
  BERTH_TRYV(clearName(parentFd, name, shown));
  UniqueFd fd(::openat(parentFd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return sysFail("create " + shown);
  Sha256 hash;
  bool hashable = recordBlob;
  int64_t end = 0;
  for (;;) {
    const void* block = nullptr;
    size_t size = 0;
    la_int64_t offset = 0;
    int status = archive_read_data_block(reader, &block, &size, &offset);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) return archiveFail(reader, "reading entry '" + shown + "'");
    if (offset < 0) return fail(Errc::invalid_argument, "entry '" + shown + "' has a negative data offset");
    unpackedBytes_ += size;
    if (unpackedBytes_ > maxUnpackedBytes_)
      return fail(Errc::resource_exhausted, "unpacked image too large: more than " +
                                                std::to_string(maxUnpackedBytes_) + " bytes of file data");
    if (hashable) {
      if (offset != end) hashable = false;  // sparse: a blob is never sparse, so it will not verify
      else hash.update(std::string_view(static_cast<const char*>(block), size));
    }
    BERTH_TRYV(writeAllAt(fd.get(), static_cast<const char*>(block), size, offset, shown));
    end = offset + static_cast<int64_t>(size);
  }
  // A sparse file's holes at the end come only as its size.
  int64_t declared = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : 0;
  if (declared > end && ::ftruncate(fd.get(), declared) != 0) return sysFail("truncate " + shown);
  if (asRoot_ &&
      ::fchown(fd.get(), static_cast<uid_t>(archive_entry_uid(entry)), static_cast<gid_t>(archive_entry_gid(entry))) != 0)
    return sysFail("chown " + shown);
  if (::fchmod(fd.get(), safeMode(entry)) != 0) return sysFail("chmod " + shown);
  BERTH_TRYV(applyXattrs(fd.get(), entry, shown));
  struct timespec times[2];
  if (entryTimes(entry, times) && ::futimens(fd.get(), times) != 0) return sysFail("utimensat " + shown);
  if (recordBlob) blobs_[shown] = BlobRecord{hashable ? hash.hexDigest() : std::string(), static_cast<uint64_t>(end)};
  return {};
}

Result<void> TreeWriter::applyWhiteout(const std::vector<std::string>& parts, const std::string& shown) {
  const std::string& name = parts.back();
  BERTH_TRY(UniqueFd parent, openDirBeneath(rootFd_, parts, parts.size() - 1, name == kOpaque, shown));
  if (!parent) return {};  // nothing below to hide
  const std::string dirShown = joinParts(parts, parts.size() - 1);
  if (name == kOpaque) {
    // Opaque: what earlier layers put in the directory goes; what this layer wrote there stays.
    UniqueFd listFd(::openat(parent.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!listFd) return sysFail("open " + dirShown);
    DIR* dir = ::fdopendir(listFd.get());
    if (dir == nullptr) return sysFail("fdopendir " + dirShown);
    listFd.release();
    std::vector<std::string> doomed;
    while (struct dirent* child = ::readdir(dir)) {
      if (std::strcmp(child->d_name, ".") == 0 || std::strcmp(child->d_name, "..") == 0) continue;
      std::string childShown = dirShown.empty() ? child->d_name : dirShown + "/" + child->d_name;
      if (!layerPaths_.contains(childShown)) doomed.push_back(child->d_name);
    }
    ::closedir(dir);
    for (const std::string& child : doomed)
      BERTH_TRYV(clearName(parent.get(), child, dirShown.empty() ? child : dirShown + "/" + child));
    return {};
  }
  if (name.starts_with(kWhiteoutMeta)) return {};  // aufs bookkeeping (.wh..wh.plnk and such): nothing to apply
  std::string hidden = name.substr(kWhiteoutPrefix.size());
  if (hidden == "." || hidden == "..")
    return fail(Errc::invalid_argument, "entry '" + shown + "' is a whiteout of '" + hidden + "'");
  return clearName(parent.get(), hidden, dirShown.empty() ? hidden : dirShown + "/" + hidden);
}

Result<void> TreeWriter::applyDeferred() {
  // Deepest last-written first, so setting a parent's mtime comes after its children changed it.
  for (auto it = deferred_.rbegin(); it != deferred_.rend(); ++it) {
    const std::string shown = it->parts.empty() ? "/" : joinParts(it->parts, it->parts.size());
    auto opened = openDirBeneath(rootFd_, it->parts, it->parts.size(), false, shown);
    // Replaced (by a symlink, a file) or whited out since: nothing to apply.
    if (!opened && opened.error().code == Errc::invalid_argument) continue;
    if (!opened) return tl::unexpected<Error>(std::move(opened.error()));
    UniqueFd dir = std::move(*opened);
    if (!dir) continue;
    if (asRoot_ && ::fchown(dir.get(), static_cast<uid_t>(it->uid), static_cast<gid_t>(it->gid)) != 0)
      return sysFail("chown " + shown);
    if (::fchmod(dir.get(), it->mode) != 0) return sysFail("chmod " + shown);
    if (it->hasTime && ::futimens(dir.get(), it->times) != 0) return sysFail("utimensat " + shown);
  }
  deferred_.clear();
  return {};
}

}  // namespace berth::storage
