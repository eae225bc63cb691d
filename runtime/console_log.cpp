#include "runtime/console_log.hpp"

#include <fcntl.h>
#include <poll.h>
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

Result<std::string> readLogTail(const std::string& logPath, std::optional<size_t> tailLines) {
  BERTH_TRY(auto current, readIfPresent(logPath));
  return tailWithPrevious(logPath, current.value_or(""), tailLines);
}

Result<std::string> tailWithPrevious(const std::string& logPath, std::string current, std::optional<size_t> tailLines) {
  auto lineCount = static_cast<size_t>(std::count(current.begin(), current.end(), '\n'));
  if (!tailLines || lineCount < *tailLines) {
    BERTH_TRY(auto previous, readIfPresent(previousLogPath(logPath)));
    if (previous) current = *previous + current;
  }
  if (!tailLines) return current;
  return lastLines(current, *tailLines);
}

}  // namespace berth::runtime
