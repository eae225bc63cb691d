// berth: the command-line client of berthd's /api/v1 (API.md §10, §12).
//   BERTH_URL    http://127.0.0.1:8080 (default) or unix:///run/berth/berthd.sock
//   BERTH_TOKEN  a token from `berth login`
// Prints the response's `data` as JSON; on an error prints the envelope's
// code and message to stderr and exits 1. `containers exec` instead passes
// the command's output through and exits with its exit code.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cmd/terminal_client.hpp"

namespace {

using Json = nlohmann::json;

// BERTH_URL, or the default address.
std::string serviceUrl() {
  const char* url = std::getenv("BERTH_URL");
  return url && *url ? url : "http://127.0.0.1:8080";
}

// BERTH_TOKEN, or empty (no Authorization is sent).
std::string serviceToken() {
  const char* token = std::getenv("BERTH_TOKEN");
  return token ? token : "";
}

class ApiClient {
 public:
  ApiClient() {
    std::string base = serviceUrl();
    const std::string unixScheme = "unix://";
    if (base.rfind(unixScheme, 0) == 0) {
      client_ = std::make_unique<httplib::Client>(base.substr(unixScheme.size()));
      client_->set_address_family(AF_UNIX);
    } else {
      client_ = std::make_unique<httplib::Client>(base);
    }
    client_->set_read_timeout(std::chrono::seconds(3700));  // a stop may wait its whole grace period
    if (std::string token = serviceToken(); !token.empty()) headers_.emplace("Authorization", "Bearer " + token);
  }

  // Sends one request; returns the envelope's data, or exits 1 with the error.
  Json call(const std::string& method, const std::string& path, const std::optional<Json>& body = std::nullopt) {
    httplib::Request request;
    request.method = method;
    request.path = path;
    request.headers = headers_;
    if (body) {
      request.body = body->dump();
      request.set_header("Content-Type", "application/json");
    }
    return finish(method, path, client_->send(request));
  }

  // POSTs the file at `file` as the body, read piece by piece as the socket
  // takes it (never whole in memory); returns the data like call().
  Json upload(const std::string& path, const std::string& file, const std::string& contentType) {
    auto fail = [&](const char* reason) {
      std::fprintf(stderr, "berth: %s: %s\n", file.c_str(), reason);
      std::exit(1);
    };
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(file.c_str(), "rbe"), &std::fclose);
    if (!in) fail(std::strerror(errno));
    struct stat st {};
    if (::fstat(::fileno(in.get()), &st) != 0) fail(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    // httplib asks for the bytes at `offset`, at most `length` of them, each time the socket can take more.
    const char* readError = nullptr;
    auto provider = [&](size_t offset, size_t length, httplib::DataSink& sink) {
      char buffer[64 * 1024];
      if (::fseeko(in.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
        readError = std::strerror(errno);
        return false;
      }
      size_t got = std::fread(buffer, 1, std::min(length, sizeof buffer), in.get());
      if (got == 0) {
        readError = std::ferror(in.get()) ? std::strerror(errno) : "the file shrank while uploading";
        return false;
      }
      return sink.write(buffer, got);
    };
    auto response = client_->Post(path, headers_, static_cast<size_t>(st.st_size), provider, contentType);
    if (readError) fail(readError);
    return finish("POST", path, std::move(response));
  }

  // GETs a stream, handing each piece of the body to `receive`. Returns the
  // HTTP status (0 when the connection failed or broke before an answer).
  int stream(const std::string& path, const httplib::Headers& extra,
             const std::function<bool(const char*, size_t)>& receive) {
    httplib::Headers headers = headers_;
    headers.insert(extra.begin(), extra.end());
    int status = 0;
    std::string errorBody;
    auto response = client_->Get(
        path, headers,
        [&](const httplib::Response& head) {
          status = head.status;
          return true;
        },
        [&](const char* data, size_t size) {
          if (status >= 400) {
            errorBody.append(data, size);
            return true;
          }
          return receive(data, size);
        });
    if (status >= 400) {
      Json envelope = Json::parse(errorBody, nullptr, false);
      std::string code = envelope.is_object() ? envelope.value("code", "") : "";
      std::string message = envelope.is_object() ? envelope.value("message", errorBody) : errorBody;
      std::fprintf(stderr, "berth: %d %s: %s\n", status, code.c_str(), message.c_str());
      std::exit(1);
    }
    return response ? status : 0;
  }

 private:
  // The envelope's data of a finished request, or exits 1 with the error.
  static Json finish(const std::string& method, const std::string& path, httplib::Result response) {
    if (!response) {
      std::fprintf(stderr, "berth: %s %s: %s\n", method.c_str(), path.c_str(), httplib::to_string(response.error()).c_str());
      std::exit(1);
    }
    Json envelope = Json::parse(response->body, nullptr, false);
    if (response->status >= 400) {
      std::string code = envelope.is_object() ? envelope.value("code", "") : "";
      std::string message = envelope.is_object() ? envelope.value("message", response->body) : response->body;
      std::fprintf(stderr, "berth: %d %s: %s\n", response->status, code.c_str(), message.c_str());
      std::exit(1);
    }
    return envelope.is_object() && envelope.contains("data") ? envelope["data"] : envelope;
  }

  std::unique_ptr<httplib::Client> client_;
  httplib::Headers headers_;
};

void print(const Json& value) { std::cout << value.dump(2, ' ', false, Json::error_handler_t::replace) << "\n"; }

std::string withQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& params) {
  char separator = '?';
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    path += separator + key + "=" + httplib::detail::encode_query_param(value);
    separator = '&';
  }
  return path;
}

// "K=V" pairs into a JSON object; exits on a pair without '='.
Json envObject(const std::vector<std::string>& pairs) {
  Json env = Json::object();
  for (const auto& pair : pairs) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "berth: --env wants KEY=VALUE, got %s\n", pair.c_str());
      std::exit(1);
    }
    env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return env;
}

// The exit code `containers exec` leaves with: the command's own; for one a
// signal ended without an exit code (a timeout's SIGKILL), 128+N as a shell
// reports it.
int execExitCode(const Json& data) {
  auto exitCode = data.find("exit_code");
  if (exitCode != data.end() && exitCode->is_number_integer() && *exitCode >= 0 && *exitCode <= 255)
    return exitCode->get<int>();
  auto exitSignal = data.find("exit_signal");
  if (exitSignal != data.end() && exitSignal->is_string()) {
    std::string name = exitSignal->get<std::string>();
    std::string_view bare = std::string_view(name).substr(name.rfind("SIG", 0) == 0 ? 3 : 0);
    for (int signal = 1; signal < NSIG; ++signal) {
      const char* abbreviation = ::sigabbrev_np(signal);
      if (abbreviation && bare == abbreviation) return 128 + signal;
    }
  }
  std::fprintf(stderr, "berth: the service's answer carries no exit code\n");
  return 1;
}

struct ResourceFlags {
  std::optional<uint64_t> memoryMb, cpuMillicores, pidsMax, diskMb;

  void add(CLI::App* command) {
    command->add_option("--memory-mb", memoryMb, "memory limit (MiB)");
    command->add_option("--cpu-millicores", cpuMillicores, "CPU limit (1000 = one CPU)");
    command->add_option("--pids-max", pidsMax, "process limit");
    command->add_option("--disk-mb", diskMb, "writable layer limit (MiB)");
  }
  std::optional<Json> json() const {
    Json resources = Json::object();
    if (memoryMb) resources["memory_mb"] = *memoryMb;
    if (cpuMillicores) resources["cpu_millicores"] = *cpuMillicores;
    if (pidsMax) resources["pids_max"] = *pidsMax;
    if (diskMb) resources["disk_mb"] = *diskMb;
    if (resources.empty()) return std::nullopt;
    return resources;
  }
};

}  // namespace

int main(int argc, char* argv[]) {
  CLI::App app{"berth: client of the berthd API (BERTH_URL, BERTH_TOKEN)"};
  app.require_subcommand(1);
  ApiClient api;
  int exitCode = 0;  // what main returns once the command ran

  // berth login USERNAME  (password on stdin): prints the token to export as BERTH_TOKEN
  auto* login = app.add_subcommand("login", "log in; reads the password from stdin, prints the token");
  std::string username;
  login->add_option("username", username, "user name")->required();
  login->callback([&] {
    std::string password;
    std::getline(std::cin, password);
    Json data = api.call("POST", "/api/v1/auth/login", Json{{"username", username}, {"password", password}});
    std::cout << data["token"].get<std::string>() << "\n";
  });

  auto* containers = app.add_subcommand("containers", "list, inspect, create, change, operate, snapshot and copy containers");
  containers->require_subcommand(1);

  auto* list = containers->add_subcommand("list", "list the containers you may see");
  std::string page, limit, status, project;
  list->add_option("--page", page);
  list->add_option("--limit", limit);
  list->add_option("--status", status);
  list->add_option("--project", project, "only this project's containers");
  list->callback([&] {
    print(api.call("GET", withQuery("/api/v1/containers",
                                    {{"page", page}, {"limit", limit}, {"status", status}, {"project_id", project}})));
  });

  std::string id;
  auto* get = containers->add_subcommand("get", "show one container");
  bool runtime = false;
  get->add_option("id", id)->required();
  get->add_flag("--runtime", runtime, "add processes and resource usage");
  get->callback([&] { print(api.call("GET", "/api/v1/containers/" + id + (runtime ? "?runtime=true" : ""))); });

  auto* create = containers->add_subcommand("create", "create (and by default start) a container");
  std::string name, image, workingDir, hostname, expiresAt;
  std::vector<std::string> env, command;
  bool noAutostart = false;
  ResourceFlags createResources;
  create->add_option("name", name)->required();
  create->add_option("--image", image, "default busybox");
  create->add_option("--project", project, "default: your personal project");
  create->add_option("--env", env, "KEY=VALUE (repeatable)")->allow_extra_args(false);
  create->add_option("--workdir", workingDir);
  create->add_option("--hostname", hostname);
  create->add_option("--expires-at", expiresAt, "ISO-8601 UTC time");
  create->add_flag("--no-autostart", noAutostart, "create it stopped");
  createResources.add(create);
  create->add_option("command", command, "the init command, after --");
  create->callback([&] {
    Json body{{"name", name}, {"autostart", !noAutostart}};
    if (!image.empty()) body["image"] = image;
    if (!project.empty()) body["project_id"] = project;
    if (!env.empty()) body["env"] = envObject(env);
    if (!workingDir.empty()) body["working_dir"] = workingDir;
    if (!hostname.empty()) body["hostname"] = hostname;
    if (!expiresAt.empty()) body["expires_at"] = expiresAt;
    if (!command.empty()) body["command"] = command;
    if (auto resources = createResources.json()) body["resources"] = *resources;
    print(api.call("POST", "/api/v1/containers", body));
  });

  auto* update = containers->add_subcommand("update", "change a container (env, command and workdir only when stopped)");
  std::string newName;
  std::optional<bool> autostart;
  ResourceFlags updateResources;
  update->add_option("id", id)->required();
  update->add_option("--name", newName);
  update->add_option("--autostart", autostart, "true or false");
  update->add_option("--env", env, "KEY=VALUE (repeatable; replaces the whole env)")->allow_extra_args(false);
  update->add_option("--workdir", workingDir);
  updateResources.add(update);
  update->add_option("command", command, "a new init command, after --");
  update->callback([&] {
    Json body = Json::object();
    if (!newName.empty()) body["name"] = newName;
    if (autostart) body["autostart"] = *autostart;
    if (!env.empty()) body["env"] = envObject(env);
    if (!workingDir.empty()) body["working_dir"] = workingDir;
    if (!command.empty()) body["command"] = command;
    if (auto resources = updateResources.json()) body["resources"] = *resources;
    print(api.call("PATCH", "/api/v1/containers/" + id, body));
  });

  auto* remove = containers->add_subcommand("delete", "delete a container (its status log stays)");
  bool force = false, keepVolume = false;
  remove->add_option("id", id)->required();
  remove->add_flag("--force", force, "stop a running or paused container first");
  remove->add_flag("--keep-volume", keepVolume, "keep the writable layer on disk");
  remove->callback([&] {
    print(api.call("DELETE", withQuery("/api/v1/containers/" + id,
                                       {{"force", force ? "true" : ""}, {"keep_volume", keepVolume ? "true" : ""}})));
  });

  auto* manage = containers->add_subcommand("manage", "start, stop, force-stop, restart, pause or resume");
  std::string operation, timeout;
  manage->add_option("id", id)->required();
  manage->add_option("operation", operation)->required();
  manage->add_option("--timeout", timeout, "grace period of stop and restart (seconds)");
  manage->callback([&] {
    print(api.call("POST", withQuery("/api/v1/containers/" + id + "/" + operation, {{"timeout", timeout}})));
  });

  auto* logs = containers->add_subcommand("status-logs", "the container's status changes, newest first");
  std::string sortBy, sortOrder;
  logs->add_option("id", id)->required();
  logs->add_option("--page", page);
  logs->add_option("--limit", limit);
  logs->add_option("--sort-by", sortBy, "transition_time, created_at, to_status or from_status");
  logs->add_option("--sort-order", sortOrder, "asc or desc");
  logs->callback([&] {
    print(api.call("GET", withQuery("/api/v1/containers/" + id + "/status-logs",
                                    {{"page", page}, {"limit", limit}, {"sort_by", sortBy}, {"sort_order", sortOrder}})));
  });

  // Snapshots and copies of a container's writable layer (API.md §12).
  std::string snapshotId, alias;
  auto* snapshot = containers->add_subcommand("snapshot", "snapshot a stopped container's writable layer");
  snapshot->add_option("id", id)->required();
  snapshot->add_option("alias", alias, "1-64 of [A-Za-z0-9-], unique per container")->required();
  snapshot->callback([&] { print(api.call("POST", "/api/v1/containers/" + id + "/snapshots", Json{{"alias", alias}})); });

  auto* snapshots = containers->add_subcommand("snapshots", "list a container's snapshots, newest first");
  snapshots->add_option("id", id)->required();
  snapshots->callback([&] { print(api.call("GET", "/api/v1/containers/" + id + "/snapshots")); });

  auto* restore = containers->add_subcommand("restore", "put a snapshot back as a stopped container's writable layer");
  restore->add_option("id", id)->required();
  restore->add_option("snapshot_id", snapshotId)->required();
  restore->callback([&] {
    print(api.call("POST", "/api/v1/containers/" + id + "/snapshots/" + snapshotId + "/restore"));
  });

  auto* deleteSnapshot = containers->add_subcommand("delete-snapshot", "delete one of a container's snapshots");
  deleteSnapshot->add_option("id", id)->required();
  deleteSnapshot->add_option("snapshot_id", snapshotId)->required();
  deleteSnapshot->callback([&] {
    print(api.call("DELETE", "/api/v1/containers/" + id + "/snapshots/" + snapshotId));
  });

  auto* copy = containers->add_subcommand("copy", "copy a stopped container (and its writable layer) to a new one");
  std::string copyName, copyProject;
  copy->add_option("id", id)->required();
  copy->add_option("name", copyName, "the new container's name")->required();
  copy->add_option("--project", copyProject, "default: the source's project");
  copy->callback([&] {
    Json body{{"name", copyName}};
    if (!copyProject.empty()) body["project_id"] = copyProject;
    print(api.call("POST", "/api/v1/containers/" + id + "/copy", body));
  });

  // berth containers exec ID [-i] [-t] [-e KEY=VALUE]... [-w DIR] [--timeout SECONDS] -- CMD [ARGS...]
  // Without -i and -t: one request, answered when the command has exited
  // with its whole output. With either: the terminal WebSocket
  // (cmd/terminal_client.cpp), whose query takes only the command.
  auto* exec = containers->add_subcommand("exec", "run a command in a running container, like docker exec");
  exec->footer("Exits with the command's exit code (128+N for a signal N); 1 when berth or the service fails.\n"
               "Example: berth containers exec ID -it -- /bin/sh");
  bool interactive = false, tty = false;
  std::optional<uint32_t> execTimeout;
  std::vector<std::string> execCommand;
  exec->add_option("id", id)->required();
  auto* interactiveFlag = exec->add_flag("-i,--interactive", interactive, "send stdin to the command (via a terminal)");
  auto* ttyFlag = exec->add_flag("-t,--tty", tty, "make the local terminal raw while the command runs, pass its size");
  // The terminal's query takes only the command: these need the plain exec.
  exec->add_option("-e,--env", env, "KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->excludes(interactiveFlag, ttyFlag);
  exec->add_option("-w,--workdir", workingDir, "working directory in the container")
      ->excludes(interactiveFlag, ttyFlag);
  exec->add_option("--timeout", execTimeout, "kill the command after this many seconds (default 60, at most 3600)")
      ->excludes(interactiveFlag, ttyFlag);
  exec->add_option("command", execCommand, "the command and its arguments, after --")->required();
  exec->callback([&] {
    if (interactive || tty) {
      berth::Result<int> result = berth::cli::runTerminal(
          {.serviceUrl = serviceUrl(), .token = serviceToken(), .containerId = id, .command = execCommand,
           .forwardStdin = interactive, .rawTerminal = tty});
      if (!result) std::fprintf(stderr, "berth: %s\n", result.error().describe().c_str());
      exitCode = result ? *result : 1;
      return;
    }
    Json body{{"command", execCommand}};
    if (!env.empty()) body["env"] = envObject(env);
    if (!workingDir.empty()) body["working_dir"] = workingDir;
    if (execTimeout) body["timeout_s"] = *execTimeout;
    Json data = api.call("POST", "/api/v1/containers/" + id + "/exec", body);
    std::string out = data.value("stdout", ""), err = data.value("stderr", "");
    std::cout.write(out.data(), static_cast<std::streamsize>(out.size())).flush();
    std::cerr.write(err.data(), static_cast<std::streamsize>(err.size()));
    if (data.value("truncated", false))
      std::cerr << "berth: the output was cut (at most 1 MiB each of stdout and stderr)\n";
    if (auto signal = data.find("exit_signal"); signal != data.end() && signal->is_string())
      std::cerr << "berth: the command was ended by " << signal->get<std::string>() << "\n";
    exitCode = execExitCode(data);
  });

  auto* images = app.add_subcommand("images", "list, import and delete images");
  images->require_subcommand(1);

  auto* imageList = images->add_subcommand("list", "list the images");
  imageList->callback([&] { print(api.call("GET", "/api/v1/images")); });

  // The file goes up as it is read (images may be several GiB): a rootfs
  // tarball or an OCI image layout, plain or gzip.
  auto* imageImport = images->add_subcommand("import", "import a rootfs tarball or an OCI image layout (admin)");
  std::string imageName, imageFile, imageRef;
  imageImport->add_option("name", imageName)->required();
  imageImport->add_option("file", imageFile, "a .tar or .tar.gz")->required();
  imageImport->add_option("--ref", imageRef, "the manifest of an OCI layout (org.opencontainers.image.ref.name)");
  imageImport->callback([&] {
    print(api.upload(withQuery("/api/v1/images", {{"name", imageName}, {"ref", imageRef}}), imageFile, "application/x-tar"));
  });

  auto* imageDelete = images->add_subcommand("delete", "delete an image no container uses (admin)");
  imageDelete->add_option("name", imageName)->required();
  imageDelete->callback([&] {
    print(api.call("DELETE", "/api/v1/images/" + httplib::detail::encode_query_param(imageName)));
  });

  // berth events: follows GET /api/v1/events; on a broken connection it
  // reconnects with the last id it got, so it misses nothing.
  auto* events = app.add_subcommand("events", "follow container events (reconnects by itself)");
  std::string since, eventContainer, types;
  bool asJson = false;
  events->add_option("--since", since, "replay after this event id");
  events->add_option("--container", eventContainer, "only this container's events");
  events->add_option("--type", types, "only these types (comma list)");
  events->add_flag("--json", asJson, "one JSON object per line, with its id");
  events->callback([&] {
    std::string lastId = since;
    std::string buffer;
    // One SSE event: "id:", "event:" and "data:" lines, then a blank line.
    std::string eventId, eventType, eventData;
    auto onLine = [&](const std::string& line) {
      if (line.empty()) {
        if (!eventData.empty()) {
          Json event = Json::parse(eventData, nullptr, false);
          if (!eventId.empty()) lastId = eventId;
          if (asJson) {
            if (event.is_object() && !eventId.empty()) event["id"] = eventId;
            std::cout << event.dump() << std::endl;
          } else if (event.is_object()) {
            const Json& data = event["data"];
            std::cout << event.value("time", "") << "  " << eventType << "  " << data.value("name", "") << "  "
                      << data.value("status", "") << "  " << data.value("id", "") << std::endl;
          }
        }
        eventId.clear();
        eventType.clear();
        eventData.clear();
        return;
      }
      auto field = [&](std::string_view prefix) -> std::optional<std::string> {
        if (line.rfind(prefix, 0) != 0) return std::nullopt;
        std::string value = line.substr(prefix.size());
        if (!value.empty() && value.front() == ' ') value.erase(0, 1);
        return value;
      };
      if (auto value = field("id:")) eventId = *value;
      else if (auto type = field("event:")) eventType = *type;
      else if (auto data = field("data:")) eventData += *data;
    };
    for (;;) {
      httplib::Headers extra;
      if (!lastId.empty()) extra.emplace("Last-Event-ID", lastId);
      api.stream(withQuery("/api/v1/events", {{"container_id", eventContainer}, {"type", types}}), extra,
                 [&](const char* data, size_t size) {
                   buffer.append(data, size);
                   for (size_t end; (end = buffer.find('\n')) != std::string::npos; buffer.erase(0, end + 1))
                     onLine(buffer.substr(0, end));
                   return true;
                 });
      buffer.clear();
      std::fprintf(stderr, "berth: event stream ended; reconnecting%s\n",
                   lastId.empty() ? "" : (" after " + lastId).c_str());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });

  CLI11_PARSE(app, argc, argv);
  return exitCode;
}
