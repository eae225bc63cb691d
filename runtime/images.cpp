#include "runtime/images.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "common/files.hpp"
#include "common/ids.hpp"
#include "common/unique_fd.hpp"
#include "storage/image_import.hpp"

namespace berth::runtime {

namespace {

// `busybox --list-full`: one applet path per line, e.g. "usr/bin/awk".
Result<std::string> listApplets(const std::string& busybox) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sysFail("pipe2");
  UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), 1);
  std::vector<char*> argv{const_cast<char*>(busybox.c_str()), const_cast<char*>("--list-full"), nullptr};
  pid_t pid = -1;
  int err = ::posix_spawn(&pid, busybox.c_str(), &actions, nullptr, argv.data(), nullptr);
  ::posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return sysFail(Errc::host_refused, "run " + busybox + " (install busybox-static)", err);
  writeEnd.reset();
  auto out = readFd(readEnd.get());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!out) return out;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail(Errc::host_refused, busybox + " --list-full failed");
  return out;
}

Result<void> copyFile(const std::string& from, const std::string& to, mode_t mode) {
  BERTH_TRY(std::string content, readFile(from));
  return writeFileFast(to, content, mode);
}

// Bytes of the regular files under `root`, each inode once (as storage counts an import).
uint64_t treeBytes(const std::string& root) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::set<std::pair<dev_t, ino_t>> seen;
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end; !ec && it != end;
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (seen.emplace(st.st_dev, st.st_ino).second) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

UnixMillis mtimeMillis(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<UnixMillis>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

ImageInfo fromImported(const std::string& name, const storage::ImportedImage& imported, UnixMillis createdAt) {
  ImageInfo info;
  info.name = name;
  info.source = imported.source;
  info.sizeBytes = imported.sizeBytes;
  info.createdAt = createdAt;
  info.digest = imported.digest.empty() ? std::nullopt : std::optional<std::string>(imported.digest);
  info.config.command = imported.config.command;
  info.config.env = imported.config.env;
  info.config.workingDir = imported.config.workingDir;
  return info;
}

}  // namespace

std::string imageRootfs(const std::string& imagesDir, const std::string& name) {
  return imagesDir + "/" + name + "/rootfs";
}

bool imageExists(const std::string& imagesDir, const std::string& name) {
  // An imported rootfs need not have /bin (one static binary); it appears only whole (renamed into place).
  return isValidName(name) && pathExists(imageRootfs(imagesDir, name));
}

Result<ImageInfo> readImage(const std::string& imagesDir, const std::string& name) {
  if (!imageExists(imagesDir, name)) return fail(Errc::not_found, Detail::image_not_found, "image " + name + " not found");
  std::string dir = imagesDir + "/" + name;
  if (name == kDefaultImage) {
    // Built by berth itself: no archive, so no digest, and no defaults (the runtime's /bin/sh).
    ImageInfo info;
    info.name = name;
    info.source = kSourceBuiltin;
    info.sizeBytes = treeBytes(dir + "/rootfs");
    info.createdAt = mtimeMillis(dir);
    return info;
  }
  BERTH_TRY(auto imported, withContext(storage::readImportedImage(dir), "image " + name));
  return fromImported(name, imported, mtimeMillis(dir + "/image.json"));
}

Result<ImageDefaults> readImageDefaults(const std::string& imagesDir, const std::string& name) {
  if (!imageExists(imagesDir, name)) return fail(Errc::not_found, Detail::image_not_found, "image " + name + " not found");
  if (name == kDefaultImage) return ImageDefaults{};
  BERTH_TRY(auto imported, withContext(storage::readImportedImage(imagesDir + "/" + name), "image " + name));
  return ImageDefaults{imported.config.command, imported.config.env, imported.config.workingDir, imported.config.user};
}

Result<std::vector<ImageInfo>> listImagesIn(const std::string& imagesDir) {
  std::error_code ec;
  std::vector<std::string> names;
  for (std::filesystem::directory_iterator it(imagesDir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    // Work in progress (<name>.importing, .busybox.building) has a '.', which no image name has.
    if (isValidName(name) && imageExists(imagesDir, name)) names.push_back(std::move(name));
  }
  if (ec) return fail(Errc::host_refused, "list " + imagesDir + ": " + ec.message());
  std::sort(names.begin(), names.end());
  std::vector<ImageInfo> images;
  for (const auto& name : names) {
    auto image = readImage(imagesDir, name);
    // Deleted meanwhile: not listed.
    if (!image && image.error().code == Errc::not_found) continue;
    if (!image) return tl::unexpected(image.error());
    images.push_back(std::move(*image));
  }
  return images;
}

Result<ImageInfo> importImageInto(const std::string& imagesDir, const std::string& name, const std::string& ref,
                                  const BodyReader& read, uint64_t maxArchiveBytes) {
  if (!isValidName(name)) return fail(Errc::invalid_argument, "name must be 1-64 characters of [A-Za-z0-9-]");
  std::string dir = imagesDir + "/" + name;
  if (pathExists(dir)) return fail(Errc::already_exists, "image " + name + " already exists");
  storage::ImportLimits limits;
  limits.maxArchiveBytes = maxArchiveBytes;
  auto imported = storage::importImage(read, dir, ref, limits);
  if (!imported) {
    Error error = std::move(imported.error());
    if (error.code == Errc::resource_exhausted &&
        (std::string_view(error.message).starts_with(storage::kArchiveTooLarge) ||
         std::string_view(error.message).starts_with(storage::kUnpackedTooLarge)))
      error.detail = Detail::payload_too_large;
    if (error.code == Errc::already_exists) error.message = "image " + name + " already exists (or is being imported)";
    return tl::unexpected(std::move(error));
  }
  return fromImported(name, *imported, mtimeMillis(dir + "/image.json"));
}

Result<void> removeImageLeftovers(const std::string& imagesDir) {
  std::error_code ec;
  std::vector<std::string> leftovers;
  for (std::filesystem::directory_iterator it(imagesDir, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.ends_with(".importing") || (name.starts_with(".") && name.ends_with(".deleting")))
      leftovers.push_back(it->path().string());
  }
  if (ec) return fail(Errc::host_refused, "list " + imagesDir + ": " + ec.message());
  for (const auto& path : leftovers) BERTH_TRYV(removeTree(path));
  return {};
}

Result<void> removeImageDir(const std::string& imagesDir, const std::string& name) {
  std::string dir = imagesDir + "/" + name;
  std::string deleting = imagesDir + "/." + name + ".deleting";
  BERTH_TRYV(removeTree(deleting));
  // Renamed first: the name is free at once, and a crash in the removal leaves a leftover, not half an image.
  if (::rename(dir.c_str(), deleting.c_str()) != 0) return sysFail("rename " + dir);
  return removeTree(deleting);
}

Result<void> ensureBusyboxImage(const std::string& imagesDir, const std::string& busyboxBinary) {
  if (pathExists(imageRootfs(imagesDir, kDefaultImage) + "/bin")) return {};
  std::string imageDir = imagesDir + "/" + kDefaultImage;
  std::string building = imagesDir + "/." + kDefaultImage + ".building";
  BERTH_TRYV(removeTree(building));
  std::string rootfs = building + "/rootfs";
  for (const char* dir : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run"})
    BERTH_TRYV(makeDirs(rootfs + "/" + dir));
  if (::chmod((rootfs + "/tmp").c_str(), 01777) != 0) return sysFail("chmod " + rootfs + "/tmp");
  BERTH_TRYV(copyFile(busyboxBinary, rootfs + "/bin/busybox", 0755));
  BERTH_TRY(std::string applets, listApplets(busyboxBinary));
  std::istringstream lines(applets);
  std::string applet;
  while (std::getline(lines, applet)) {
    if (applet.empty() || applet == "bin/busybox") continue;
    std::string link = rootfs + "/" + applet;
    if (::symlink("/bin/busybox", link.c_str()) != 0 && errno != EEXIST) return sysFail("symlink " + link);
  }
  BERTH_TRYV(writeFileFast(rootfs + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"));
  BERTH_TRYV(writeFileFast(rootfs + "/etc/group", "root:x:0:\nnogroup:x:65534:\n"));
  BERTH_TRYV(writeFileFast(rootfs + "/etc/hostname", "busybox\n"));
  if (::rename(building.c_str(), imageDir.c_str()) != 0) return sysFail("rename " + building);
  return {};
}

}  // namespace berth::runtime
