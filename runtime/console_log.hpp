#pragma once
// A container's output: the shim copies the container's stdout and stderr
// from a pipe into <container dir>/console.log, bounded in size by rotating
// once to console.log.1. Readers (the API's logs endpoint) get the tail;
// runtime/log_follow.hpp follows new output.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::runtime {

inline std::string previousLogPath(const std::string& logPath) { return logPath + ".1"; }

// The shim side: appends, and rotates when the file would pass maxBytes.
class ConsoleLogWriter {
 public:
  // maxBytes 0: unbounded.
  static Result<ConsoleLogWriter> open(std::string path, uint64_t maxBytes);
  Result<void> append(const char* data, size_t size);

 private:
  ConsoleLogWriter() = default;
  Result<void> rotate();
  std::string path_;
  uint64_t maxBytes_ = 0;
  uint64_t size_ = 0;
  UniqueFd fd_;
};

// The last tailLines lines of the log (previous file included when needed);
// everything when nullopt. Bounded by two rotations' worth of bytes.
Result<std::string> readLogTail(const std::string& logPath, std::optional<size_t> tailLines);
// The same tail of `current` (the log's text as read), reaching into the rotated file when it is too short.
Result<std::string> tailWithPrevious(const std::string& logPath, std::string current, std::optional<size_t> tailLines);

}  // namespace berth::runtime
