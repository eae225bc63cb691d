#pragma once
// Processes run inside a running container (API.md §13): an exec that
// answers with its output, or a terminal. The container's monitor (the shim)
// starts them, so they outlive a restart of berthd, and records each one as
// a file in the container's exec dir; berthd asks over the monitor's control
// socket (a unix socket in the instance's run dir, root only).
//
// The protocol, one JSON line each way:
//   berthd -> shim  {"exec": {request}}
//   shim -> berthd  {"started": id} (a terminal: with the pty's master fd
//                   attached), then {"finished": id} once the record holds
//                   the exit; or {"error": {...}} when it could not start.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "common/clock.hpp"
#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth::runtime {

// What each of an exec's stdout and stderr keeps; the rest is read and dropped.
inline constexpr size_t kExecOutputCap = size_t{1} << 20;
// The most execs one container runs at a time (beyond: unavailable).
inline constexpr size_t kMaxRunningExecs = 32;
// Records kept per container: the oldest finished ones go beyond this.
inline constexpr size_t kKeptExecRecords = 32;

struct TerminalSize {
  uint16_t cols = 80;
  uint16_t rows = 24;
};

struct ExecRequest {
  std::vector<std::string> command;
  std::map<std::string, std::string> env;  // over the container's environment
  std::optional<std::string> workingDir;   // nullopt: the container's
  std::chrono::seconds timeout{60};        // 0: none (a terminal lasts as long as its client)
  std::optional<TerminalSize> terminal;    // set: on a pseudo-terminal
};

struct ExecRecord {
  std::string id;
  std::vector<std::string> command;
  bool terminal = false;
  bool running = true;
  pid_t pid = 0;  // on the host
  UnixMillis startedAt = 0;
  std::optional<UnixMillis> finishedAt;
  int exitCode = 0;                       // 128 + n when a signal n ended it
  std::optional<std::string> exitSignal;  // "SIGKILL"
  std::string stdoutText;
  std::string stderrText;
  bool truncated = false;  // stdout or stderr passed kExecOutputCap
  int64_t durationMs = 0;
};

// "SIGKILL" for 9.
std::string signalName(int sig);

nlohmann::json execRecordToJson(const ExecRecord& record);
Result<ExecRecord> execRecordFromJson(const nlohmann::json& j);
nlohmann::json execRequestToJson(const std::string& id, const ExecRequest& request);
struct IdentifiedExecRequest {
  std::string id;
  ExecRequest request;
};
Result<IdentifiedExecRequest> execRequestFromJson(const nlohmann::json& j);

inline std::string controlSocketPath(const std::string& instanceDir) { return instanceDir + "/control.sock"; }
inline std::string execRecordPath(const std::string& execDir, const std::string& id) {
  return execDir + "/" + id + ".json";
}

// The records in an exec dir, newest first; a missing dir has none.
Result<std::vector<ExecRecord>> readExecRecords(const std::string& execDir);

// A started exec as berthd holds it; independent of the monitor's object, so
// a stop of the container meanwhile only ends the exec (its record says so).
class ExecHandle {
 public:
  virtual ~ExecHandle() = default;
  virtual const std::string& id() const = 0;
  // Readable once the exec has ended (or its monitor is gone).
  virtual int finishedFd() const = 0;
  // Blocks until the exec has ended; its record.
  virtual Result<ExecRecord> wait() = 0;
  // A terminal's master side, -1 for an exec without one.
  virtual int terminalFd() const = 0;
  virtual Result<void> resize(TerminalSize size) = 0;
};

// The real handle: the request sent over the monitor's control socket. For
// a terminal, returns once the process runs.
Result<std::unique_ptr<ExecHandle>> startShimExec(const std::string& instanceDir, const std::string& execDir,
                                                  const std::string& id, const ExecRequest& request);

// The control protocol's framing: JSON lines, a line optionally with one fd
// (SCM_RIGHTS). Shared by both ends.
Result<void> sendLine(int socket, const std::string& line, int fd = -1);

struct ReceivedLine {
  std::string line;
  UniqueFd fd;  // sent with it, if any
};

// Lines from a blocking socket, in order, however they arrive.
class LineReader {
 public:
  explicit LineReader(int socket) : socket_(socket) {}
  // The next line (without its newline), at most maxBytes; EOF before a whole line is host_refused.
  Result<ReceivedLine> next(size_t maxBytes);

 private:
  int socket_;
  std::string pending_;
  UniqueFd pendingFd_;
};

}  // namespace berth::runtime
