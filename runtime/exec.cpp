#include "runtime/exec.hpp"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/files.hpp"
#include "common/unix_socket.hpp"

namespace berth::runtime {

using nlohmann::json;

std::string signalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "SIG" + std::to_string(sig);
}

json execRecordToJson(const ExecRecord& record) {
  return json{{"id", record.id},
              {"command", record.command},
              {"terminal", record.terminal},
              {"running", record.running},
              {"pid", record.pid},
              {"started_at", record.startedAt},
              {"finished_at", record.finishedAt ? json(*record.finishedAt) : json(nullptr)},
              {"exit_code", record.exitCode},
              {"exit_signal", record.exitSignal ? json(*record.exitSignal) : json(nullptr)},
              {"stdout", record.stdoutText},
              {"stderr", record.stderrText},
              {"truncated", record.truncated},
              {"duration_ms", record.durationMs}};
}

Result<ExecRecord> execRecordFromJson(const json& j) {
  try {
    ExecRecord record;
    record.id = j.at("id").get<std::string>();
    record.command = j.at("command").get<std::vector<std::string>>();
    record.terminal = j.at("terminal").get<bool>();
    record.running = j.at("running").get<bool>();
    record.pid = j.at("pid").get<pid_t>();
    record.startedAt = j.at("started_at").get<UnixMillis>();
    if (!j.at("finished_at").is_null()) record.finishedAt = j.at("finished_at").get<UnixMillis>();
    record.exitCode = j.at("exit_code").get<int>();
    if (!j.at("exit_signal").is_null()) record.exitSignal = j.at("exit_signal").get<std::string>();
    record.stdoutText = j.at("stdout").get<std::string>();
    record.stderrText = j.at("stderr").get<std::string>();
    record.truncated = j.at("truncated").get<bool>();
    record.durationMs = j.at("duration_ms").get<int64_t>();
    return record;
  } catch (const json::exception& e) {
    return fail(Errc::internal, std::string("bad exec record: ") + e.what());
  }
}

json execRequestToJson(const std::string& id, const ExecRequest& request) {
  json j{{"id", id},
         {"command", request.command},
         {"env", request.env},
         {"working_dir", request.workingDir ? json(*request.workingDir) : json(nullptr)},
         {"timeout_s", request.timeout.count()},
         {"terminal", nullptr}};
  if (request.terminal) j["terminal"] = {{"cols", request.terminal->cols}, {"rows", request.terminal->rows}};
  return json{{"exec", std::move(j)}};
}

Result<IdentifiedExecRequest> execRequestFromJson(const json& j) {
  try {
    const json& e = j.at("exec");
    IdentifiedExecRequest parsed;
    parsed.id = e.at("id").get<std::string>();
    parsed.request.command = e.at("command").get<std::vector<std::string>>();
    parsed.request.env = e.at("env").get<std::map<std::string, std::string>>();
    if (!e.at("working_dir").is_null()) parsed.request.workingDir = e.at("working_dir").get<std::string>();
    parsed.request.timeout = std::chrono::seconds(e.at("timeout_s").get<int64_t>());
    if (!e.at("terminal").is_null())
      parsed.request.terminal = TerminalSize{e.at("terminal").at("cols").get<uint16_t>(),
                                             e.at("terminal").at("rows").get<uint16_t>()};
    return parsed;
  } catch (const json::exception& e) {
    return fail(Errc::internal, std::string("bad exec request: ") + e.what());
  }
}

Result<std::vector<ExecRecord>> readExecRecords(const std::string& execDir) {
  std::vector<ExecRecord> records;
  DIR* dir = ::opendir(execDir.c_str());
  if (!dir) {
    if (errno == ENOENT) return records;
    return sysFail("opendir " + execDir);
  }
  std::vector<std::string> names;
  while (dirent* entry = ::readdir(dir)) {
    std::string name = entry->d_name;
    if (name.size() == 29 && name.ends_with(".json")) names.push_back(name);
  }
  ::closedir(dir);
  for (const std::string& name : names) {
    auto text = readFile(execDir + "/" + name);
    if (!text) {
      if (text.error().sysErrno == ENOENT) continue;  // pruned meanwhile
      return tl::unexpected(text.error());
    }
    json parsed = json::parse(*text, nullptr, false);
    if (parsed.is_discarded()) continue;  // a write cut short cannot be: records are renamed into place
    BERTH_TRY(ExecRecord record, execRecordFromJson(parsed));
    records.push_back(std::move(record));
  }
  std::sort(records.begin(), records.end(), [](const ExecRecord& a, const ExecRecord& b) {
    return a.startedAt != b.startedAt ? a.startedAt > b.startedAt : a.id > b.id;
  });
  return records;
}

Result<void> sendLine(int socket, const std::string& line, int fd) {
  std::string framed = line + "\n";
  size_t done = 0;
  while (done < framed.size()) {
    // The fd rides with the first bytes.
    ssize_t sent = fd >= 0 && done == 0 ? sendWithFd(socket, framed.data(), framed.size(), fd)
                                        : ::send(socket, framed.data() + done, framed.size() - done, MSG_NOSIGNAL);
    if (sent < 0) {
      if (errno == EINTR) continue;
      return sysFail("send on the control socket");
    }
    done += static_cast<size_t>(sent);
  }
  return {};
}

Result<ReceivedLine> LineReader::next(size_t maxBytes) {
  for (;;) {
    if (size_t end = pending_.find('\n'); end != std::string::npos) {
      ReceivedLine received{pending_.substr(0, end), std::move(pendingFd_)};
      pending_.erase(0, end + 1);
      return received;
    }
    if (pending_.size() > maxBytes) return fail(Errc::internal, "control socket: line over " + std::to_string(maxBytes) + " bytes");
    char buf[4096];
    iovec iov{buf, sizeof buf};
    msghdr message{};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t got = ::recvmsg(socket_, &message, MSG_CMSG_CLOEXEC);
    if (got < 0) {
      if (errno == EINTR) continue;
      return sysFail("receive on the control socket");
    }
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header; header = CMSG_NXTHDR(&message, header)) {
      if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_RIGHTS) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
        pendingFd_.reset(fd);
      }
    }
    if (got == 0) return fail(Errc::host_refused, "the container's monitor closed the control socket");
    pending_.append(buf, static_cast<size_t>(got));
  }
}

namespace {

// The lines the monitor sends are short: ids and errors.
constexpr size_t kMaxReplyBytes = 64 * 1024;

Error errorFromJson(const json& e) {
  Errc code = Errc::internal;
  for (Errc candidate : {Errc::invalid_argument, Errc::container_config, Errc::host_refused, Errc::unavailable,
                         Errc::state_conflict})
    if (errcName(candidate) == e.value("code", std::string())) code = candidate;
  return Error{code, e.value("errno", 0), e.value("message", std::string("exec failed")), Detail::none};
}

class ShimExecHandle final : public ExecHandle {
 public:
  ShimExecHandle(UniqueFd socket, std::string execDir, std::string id)
      : socket_(std::move(socket)), reader_(socket_.get()), execDir_(std::move(execDir)), id_(std::move(id)) {}

  Result<void> awaitStart() {
    BERTH_TRY(ReceivedLine reply, reader_.next(kMaxReplyBytes));
    json parsed = json::parse(reply.line, nullptr, false);
    if (parsed.is_discarded()) return fail(Errc::internal, "bad reply from the container's monitor");
    if (parsed.contains("error")) return tl::unexpected(errorFromJson(parsed.at("error")));
    if (!parsed.contains("started")) return fail(Errc::internal, "unexpected reply from the container's monitor");
    terminal_ = std::move(reply.fd);
    return {};
  }

  const std::string& id() const override { return id_; }
  int finishedFd() const override { return socket_.get(); }
  int terminalFd() const override { return terminal_.get(); }

  Result<ExecRecord> wait() override {
    auto reply = reader_.next(kMaxReplyBytes);
    // A monitor gone without a word (killed with its container): the record says what it knew.
    if (reply) {
      json parsed = json::parse(reply->line, nullptr, false);
      if (parsed.is_discarded()) return fail(Errc::internal, "bad reply from the container's monitor");
      if (parsed.contains("error")) return tl::unexpected(errorFromJson(parsed.at("error")));
    } else if (reply.error().code != Errc::host_refused) {
      return tl::unexpected(reply.error());
    }
    BERTH_TRY(std::string text, readFile(execRecordPath(execDir_, id_)));
    json parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded()) return fail(Errc::internal, "bad exec record " + id_);
    return execRecordFromJson(parsed);
  }

  Result<void> resize(TerminalSize size) override {
    if (!terminal_) return fail(Errc::state_conflict, "the exec has no terminal");
    winsize window{size.rows, size.cols, 0, 0};
    if (::ioctl(terminal_.get(), TIOCSWINSZ, &window) != 0) return sysFail("resize the terminal");
    return {};
  }

 private:
  UniqueFd socket_;
  LineReader reader_;
  std::string execDir_;
  std::string id_;
  UniqueFd terminal_;
};

}  // namespace

Result<std::unique_ptr<ExecHandle>> startShimExec(const std::string& instanceDir, const std::string& execDir,
                                                  const std::string& id, const ExecRequest& request) {
  const std::string path = controlSocketPath(instanceDir);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) return fail(Errc::host_refused, "control socket path too long: " + path);
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd socket(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) return sysFail("socket for the control socket");
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
    return sysFail("connect to the container's monitor");
  BERTH_TRYV(sendLine(socket.get(), execRequestToJson(id, request).dump()));
  auto handle = std::make_unique<ShimExecHandle>(std::move(socket), execDir, id);
  BERTH_TRYV(handle->awaitStart());
  return std::unique_ptr<ExecHandle>(std::move(handle));
}

}  // namespace berth::runtime
