#include "runtime/console_log.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include "common/clock.hpp"
#include "common/files.hpp"

namespace berth::runtime {

namespace {

Result<void> writeAllTo(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("write " + path);
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return {};
}

Result<std::optional<std::string>> readIfPresent(const std::string& path) {
  if (!pathExists(path)) return std::optional<std::string>{};
  BERTH_TRY(std::string text, readFile(path));
  return std::optional<std::string>{std::move(text)};
}

std::string lastLines(std::string_view text, size_t lines) {
  if (lines == 0) return {};
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') --end;  // a final newline ends the last line, it does not start one
  size_t pos = end;
  size_t found = 0;
  while (pos > 0) {
    size_t nl = text.rfind('\n', pos - 1);
    if (nl == std::string_view::npos) return std::string(text);
    if (++found == lines) return std::string(text.substr(nl + 1));
    pos = nl;
  }
  return std::string(text);
}

// The tail of `current`, reaching into the rotated file when it is too short.
Result<std::string> tailWithPrevious(const std::string& logPath, std::string current, std::optional<size_t> tailLines) {
  auto lineCount = static_cast<size_t>(std::count(current.begin(), current.end(), '\n'));
  if (!tailLines || lineCount < *tailLines) {
    BERTH_TRY(auto previous, readIfPresent(previousLogPath(logPath)));
    if (previous) current = *previous + current;
  }
  if (!tailLines) return current;
  return lastLines(current, *tailLines);
}

}  // namespace

Result<ConsoleLogWriter> ConsoleLogWriter::open(std::string path, uint64_t maxBytes) {
  ConsoleLogWriter writer;
  BERTH_TRY(writer.fd_, openFile(path, O_WRONLY | O_CREAT | O_APPEND, 0640));
  struct stat st{};
  if (::fstat(writer.fd_.get(), &st) != 0) return sysFail("fstat " + path);
  writer.size_ = static_cast<uint64_t>(st.st_size);
  writer.path_ = std::move(path);
  writer.maxBytes_ = maxBytes;
  return writer;
}

Result<void> ConsoleLogWriter::append(const char* data, size_t size) {
  if (maxBytes_ == 0) {
    BERTH_TRYV(writeAllTo(fd_.get(), data, size, path_));
    size_ += size;
    return {};
  }
  // A chunk that does not fit starts a new file; one larger than the cap is
  // split at it, so no file ever passes the cap.
  if (size_ > 0 && size_ + size > maxBytes_) BERTH_TRYV(rotate());
  while (size > 0) {
    if (size_ >= maxBytes_) BERTH_TRYV(rotate());
    size_t part = static_cast<size_t>(std::min<uint64_t>(size, maxBytes_ - size_));
    BERTH_TRYV(writeAllTo(fd_.get(), data, part, path_));
    size_ += part;
    data += part;
    size -= part;
  }
  return {};
}

Result<void> ConsoleLogWriter::rotate() {
  std::string previous = previousLogPath(path_);
  if (::rename(path_.c_str(), previous.c_str()) != 0) return sysFail("rename " + path_ + " to " + previous);
  BERTH_TRY(fd_, openFile(path_, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC, 0640));
  size_ = 0;
  return {};
}

Result<void> pumpOutput(int pipeFd, ConsoleLogWriter& log, int initPidfd, std::chrono::milliseconds drainLimit) {
  std::optional<int64_t> drainEnd;
  char buf[65536];
  for (;;) {
    int timeout = -1;
    if (drainEnd) timeout = static_cast<int>(std::max<int64_t>(0, *drainEnd - monotonicMillis()));
    pollfd fds[2] = {{pipeFd, POLLIN, 0}, {initPidfd, POLLIN, 0}};
    int n = ::poll(fds, drainEnd ? 1 : 2, timeout);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("poll container output");
    }
    if (n == 0) return {};  // drain limit reached
    if (!drainEnd && fds[1].revents) drainEnd = monotonicMillis() + drainLimit.count();
    if (fds[0].revents == 0) continue;
    ssize_t got = ::read(pipeFd, buf, sizeof buf);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return sysFail("read container output");
    }
    if (got == 0) return {};  // EOF: every writer is gone
    // A full disk must not stop the container: the output is dropped, the pipe keeps flowing.
    (void)log.append(buf, static_cast<size_t>(got));
  }
}


Result<std::string> readLogTail(const std::string& logPath, std::optional<size_t> tailLines) {
  BERTH_TRY(auto current, readIfPresent(logPath));
  return tailWithPrevious(logPath, current.value_or(""), tailLines);
}

Result<LogFollower> LogFollower::open(const std::string& logPath, std::optional<size_t> tailLines,
                                      std::string& initial) {
  LogFollower follower;
  follower.path_ = logPath;
  int in = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0) return sysFail("inotify_init1");
  follower.inotify_.reset(in);
  // The directory, not the file: a rotation replaces the file.
  std::string dir = logPath.substr(0, logPath.rfind('/'));
  if (::inotify_add_watch(in, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0)
    return sysFail("inotify_add_watch " + dir);
  BERTH_TRY(follower.file_, openFile(logPath, O_RDONLY | O_CREAT, 0640));
  struct stat st{};
  if (::fstat(follower.file_.get(), &st) != 0) return sysFail("fstat " + logPath);
  follower.inode_ = st.st_ino;
  // Everything up to here is the initial tail; the follower goes on from its end.
  std::string current(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < current.size()) {
    ssize_t n = ::read(follower.file_.get(), current.data() + done, current.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysFail("read " + logPath);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  current.resize(done);
  BERTH_TRY(initial, tailWithPrevious(logPath, std::move(current), tailLines));
  return follower;
}

Result<std::string> LogFollower::readNew() {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(file_.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sysFail("read " + path_);
    }
    if (n == 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<void> LogFollower::reopenIfRotated() {
  struct stat st{};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno == ENOENT) return {};
    return sysFail("stat " + path_);
  }
  if (st.st_ino == inode_) return {};
  BERTH_TRY(file_, openFile(path_, O_RDONLY));
  inode_ = st.st_ino;
  return {};
}

Result<std::string> LogFollower::next(std::chrono::milliseconds wait) {
  // What the old file got before a rotation comes first.
  BERTH_TRY(std::string out, readNew());
  BERTH_TRYV(reopenIfRotated());
  if (out.empty()) {
    BERTH_TRY(out, readNew());
  }
  if (!out.empty()) return out;
  pollfd pfd{inotify_.get(), POLLIN, 0};
  int n;
  while ((n = ::poll(&pfd, 1, static_cast<int>(wait.count()))) < 0 && errno == EINTR) {
  }
  if (n < 0) return sysFail("poll inotify");
  char events[4096];
  while (::read(inotify_.get(), events, sizeof events) > 0) {
  }
  BERTH_TRY(out, readNew());
  BERTH_TRYV(reopenIfRotated());
  if (out.empty()) {
    BERTH_TRY(out, readNew());
  }
  return out;
}

}  // namespace berth::runtime
