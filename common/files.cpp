#include "common/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace berth {

Result<UniqueFd> openFile(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) return sysFail("open " + path);
  return UniqueFd(fd);
}

Result<std::string> readFd(int fd) {
  std::string out;
  char buf[4096];
  off_t offset = 0;
  bool seekable = true;
  for (;;) {
    ssize_t n = seekable ? ::pread(fd, buf, sizeof buf, offset) : ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ESPIPE && seekable) {  // a pipe: read it as a stream
        seekable = false;
        continue;
      }
      return sysFail("read");
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}

Result<std::string> readFile(const std::string& path) {
  BERTH_TRY(UniqueFd fd, openFile(path, O_RDONLY));
  return withContext(readFd(fd.get()), path);
}

Result<void> writeFile(const std::string& path, std::string_view content) {
  BERTH_TRY(UniqueFd fd, openFile(path, O_WRONLY));
  ssize_t n = ::write(fd.get(), content.data(), content.size());
  if (n < 0) return sysFail("write " + path);
  if (static_cast<size_t>(n) != content.size()) return fail(Errc::host_refused, "short write to " + path);
  return {};
}

namespace {

// A regular file may take the content in several write(2) calls.
Result<void> writeAll(int fd, std::string_view content, const std::string& path) {
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("write " + path);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<void> writeFileAtomic(const std::string& path, std::string_view content, mode_t mode, Durability durability,
                             IfExists ifExists) {
  // The pid keeps two processes writing the same file out of each other's temp file.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) return sysFail("unlink " + tmp);  // left by a crash
  {
    // O_EXCL | O_NOFOLLOW: our own new file, never one planted at that name.
    BERTH_TRY(UniqueFd fd, openFile(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode));
    auto discard = [&](Error error) {
      ::unlink(tmp.c_str());
      return tl::unexpected<Error>(std::move(error));
    };
    // The umask may only have taken bits away; make the mode exactly `mode`.
    if (::fchmod(fd.get(), mode) != 0) return discard(sysFail("chmod " + tmp).value());
    if (auto written = writeAll(fd.get(), content, tmp); !written) return discard(std::move(written.error()));
    if (durability == Durability::hostCrash && ::fsync(fd.get()) != 0) return discard(sysFail("fsync " + tmp).value());
  }
  if (ifExists == IfExists::replace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return sysFail("rename " + tmp, err);
    }
  } else {
    // link(2), unlike rename, refuses a name that exists.
    int rc = ::link(tmp.c_str(), path.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc != 0) {
      if (err == EEXIST) return fail(Errc::already_exists, path + " already exists");
      return sysFail("link " + path, err);
    }
  }
  if (durability == Durability::processCrash) return {};
  std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
  if (dir.empty()) dir = ".";
  BERTH_TRY(UniqueFd dirFd, openFile(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(dirFd.get()) != 0) return sysFail("fsync " + dir);
  return {};
}

Result<void> makeDirs(const std::string& path, mode_t mode) {
  if (path.empty()) return fail(Errc::invalid_argument, "makeDirs: empty path");
  for (size_t pos = 1;; ++pos) {
    pos = path.find('/', pos);
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), mode) != 0 && errno != EEXIST) return sysFail("mkdir " + prefix);
    if (pos == std::string::npos) break;
  }
  return {};
}

namespace {
Result<void> removeTreeOnDevice(int parentFd, const char* name, dev_t device, const std::string& shown) {
  struct stat st {};
  if (::fstatat(parentFd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};
    return sysFail("stat " + shown);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parentFd, name, 0) != 0 && errno != ENOENT) return sysFail("unlink " + shown);
    return {};
  }
  if (st.st_dev != device) return fail(Errc::host_refused, "refusing to remove across a mount: " + shown);
  int fd = ::openat(parentFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sysFail("open " + shown);
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return sysFail("fdopendir " + shown, err);
  }
  Result<void> result;
  while (struct dirent* entry = ::readdir(dir)) {
    if (std::strcmp(entry->d_name, ".") == 0 || std::strcmp(entry->d_name, "..") == 0) continue;
    result = removeTreeOnDevice(::dirfd(dir), entry->d_name, device, shown + "/" + entry->d_name);
    if (!result) break;
  }
  ::closedir(dir);
  if (!result) return result;
  if (::unlinkat(parentFd, name, AT_REMOVEDIR) != 0 && errno != ENOENT) return sysFail("rmdir " + shown);
  return {};
}
}  // namespace

Result<void> removeTree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sysFail("stat " + path);
  }
  return removeTreeOnDevice(AT_FDCWD, path.c_str(), st.st_dev, path);
}

Result<void> removeTreeAt(int parentFd, const char* name, const std::string& shown) {
  struct stat parent {};
  if (::fstat(parentFd, &parent) != 0) return sysFail("stat the directory of " + shown);
  return removeTreeOnDevice(parentFd, name, parent.st_dev, shown);
}

bool pathExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

}  // namespace berth

namespace berth {
Result<void> writeFileFast(const std::string& path, std::string_view content, mode_t mode) {
  BERTH_TRY(UniqueFd fd, openFile(path, O_WRONLY | O_CREAT | O_TRUNC, mode));
  return writeAll(fd.get(), content, path);
}
}  // namespace berth
