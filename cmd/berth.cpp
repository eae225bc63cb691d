// berth: the command-line client of berthd's /api/v1 (API.md §10, §12, §13).
// Where the service is and the token: --url, BERTH_URL and BERTH_TOKEN, else
// the config file `berth login` writes (cmd/cli_client.hpp).
//
// Lists are tables by default (-o wide adds columns); a single object is the
// response's data as JSON. -o json|yaml print the data as the API answered
// it, -o name the names, --quiet only the ids. A container may be named by
// its id, its runtime id or its name everywhere. Every failure is one line
// on stderr, "berth: STATUS CODE: message" for the API's errors, and exit 1;
// exec and run exit with the command's own code.
#include <pthread.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd/cli_client.hpp"
#include "cmd/cli_completion.hpp"
#include "cmd/cli_output.hpp"
#include "cmd/terminal_client.hpp"
#include "common/clock.hpp"
#include "common/ids.hpp"

namespace {

using namespace berth::cli;
using Json = nlohmann::ordered_json;

struct Globals {
  std::optional<std::string> url;
  std::string output = "table";
  bool quiet = false;
};

Globals globals;

ApiClient& api() {
  static ApiClient client(resolveSettings(globals.url));
  return client;
}

// ^C, SIGTERM or SIGHUP while a `run --rm` follows its container: the
// container is deleted (forced) before berth exits 128+N, as asked. The
// signals are taken by a thread of their own, so no request is cut in half.
void deleteOnInterrupt(const std::string& id) {
  sigset_t signals;
  ::sigemptyset(&signals);
  for (int signal : {SIGINT, SIGTERM, SIGHUP}) ::sigaddset(&signals, signal);
  if (int err = ::pthread_sigmask(SIG_BLOCK, &signals, nullptr); err != 0) {
    std::cerr << "berth: cannot catch ^C (" << std::strerror(err) << "); it would leave the container\n";
    return;
  }
  std::thread([signals, id, settings = api().settings()] {
    int received = 0;
    if (::sigwait(&signals, &received) != 0) return;
    std::cerr << "berth: interrupted; deleting the container\n";
    ApiClient client(settings);
    Reply deleted = client.tryCall("DELETE", "/api/v1/containers/" + id + "?force=true");
    if (deleted.status != 200) std::cerr << "berth: " << deleted.describe() << "\n";
    std::_Exit(128 + received);
  }).detach();
}

Format outputFormat() { return parseFormat(globals.output).value_or(Format::table); }

std::string text(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

std::string field(const Json& object, const char* key) {
  return object.is_object() && object.contains(key) ? text(object[key]) : "-";
}

void printJson(const Json& value) { std::cout << value.dump(2, ' ', false, Json::error_handler_t::replace) << "\n"; }

// One object: its id with --quiet, else as -o says (a table shows it as JSON).
void showObject(const Json& data, const char* idField = "id") {
  if (globals.quiet) {
    std::cout << field(data, idField) << "\n";
    return;
  }
  switch (outputFormat()) {
    case Format::yaml: std::cout << toYaml(data); break;
    case Format::name: std::cout << field(data, data.contains("name") ? "name" : idField) << "\n"; break;
    default: printJson(data);
  }
}

// The items of data[key]: ids with --quiet, a table, or the data as the API answered.
void showList(const Json& data, const char* key, const std::vector<Column>& columns, const char* idField = "id") {
  static const Json kEmpty = Json::array();
  const Json& items = data.is_object() && data.contains(key) && data[key].is_array() ? data[key] : kEmpty;
  if (globals.quiet) {
    for (const Json& item : items) std::cout << field(item, idField) << "\n";
    return;
  }
  switch (outputFormat()) {
    case Format::json: printJson(data); break;
    case Format::yaml: std::cout << toYaml(data); break;
    case Format::name:
      for (const Json& item : items) std::cout << field(item, item.contains("name") ? "name" : idField) << "\n";
      break;
    case Format::table:
    case Format::wide: {
      std::vector<Json> rows(items.begin(), items.end());
      std::cout << renderTable(columns, rows, outputFormat() == Format::wide, outputWidth());
    }
  }
}

Column ago(const char* header, const char* key) {
  return {header, [key](const Json& row) { return relativeTime(row.value(key, Json()), berth::nowMillis()); }};
}

Column plain(const char* header, const char* key, bool wideOnly = false, bool shrinkable = false) {
  return {header, [key](const Json& row) { return field(row, key); }, wideOnly, shrinkable};
}

Column bytes(const char* header, const char* key) {
  return {header, [key](const Json& row) {
            const Json& value = row.value(key, Json());
            return value.is_number_unsigned() || value.is_number_integer() ? humanBytes(value.get<uint64_t>()) : "-";
          }};
}

std::string joined(const Json& list, const char* separator = " ") {
  std::string out;
  if (!list.is_array()) return "-";
  for (const Json& item : list) out += (out.empty() ? "" : separator) + text(item);
  return out.empty() ? "-" : out;
}

std::string containerStatus(const Json& c) {
  std::string status = field(c, "status");
  if (status != "stopped" && status != "failed") return status;
  if (c.value("oom_killed", false)) return status + " (oom)";
  if (c.contains("exit_signal") && c["exit_signal"].is_string()) return status + " (" + c["exit_signal"].get<std::string>() + ")";
  if (c.contains("exit_code") && c["exit_code"].is_number()) return status + " (exit " + c["exit_code"].dump() + ")";
  return status;
}

std::string portsText(const Json& c) {
  std::string out;
  for (const Json& port : c.value("ports", Json::array()))
    out += (out.empty() ? "" : ",") + field(port, "host_ip") + ":" + field(port, "host_port") + "->" +
           field(port, "container_port") + "/" + field(port, "protocol");
  return out.empty() ? "-" : out;
}

const std::vector<Column>& containerColumns() {
  static const std::vector<Column> columns = {
      plain("ID", "id"),
      plain("NAME", "name", false, true),
      {"STATUS", containerStatus},
      plain("IMAGE", "image", false, true),
      {"IP", [](const Json& c) { return c.contains("network") ? field(c["network"], "ip") : "-"; }},
      ago("CREATED", "created_at"),
      {"PORTS", portsText, true},
      {"COMMAND", [](const Json& c) { return joined(c.value("command", Json::array())); }, true, true},
      plain("PROJECT", "project_id", true),
      plain("RUNTIME ID", "runtime_id", true),
  };
  return columns;
}

// Every container the caller sees (all pages), optionally of one project or status.
Json allContainers(const std::string& project = {}, const std::string& status = {}) {
  Json all = Json::array();
  for (int page = 1;; ++page) {
    Json data = api().call("GET", withQuery("/api/v1/containers", {{"page", std::to_string(page)},
                                                                    {"limit", "100"},
                                                                    {"project_id", project},
                                                                    {"status", status}}));
    for (const Json& c : data.value("containers", Json::array())) all.push_back(c);
    if (page >= data["pagination"].value("totalPages", 0)) return all;
  }
}

// A container's id from its id, runtime id or name (API.md §1), through the list.
std::string containerId(const std::string& reference) {
  if (berth::isObjectId(reference)) return reference;
  static std::optional<Json> listed;
  if (!listed) listed = allContainers();
  std::vector<std::string> matches;
  for (const Json& c : *listed)
    if (c.value("name", "") == reference || c.value("runtime_id", "") == reference) matches.push_back(c["id"]);
  if (matches.empty()) die("404 CONTAINER_NOT_FOUND: no container with the name or runtime id " + reference);
  if (matches.size() > 1)
    die("409 NAME_CONFLICT: " + std::to_string(matches.size()) + " containers of different projects are named " +
        reference + "; give the id");
  return matches.front();
}

std::string containerPath(const std::string& reference) { return "/api/v1/containers/" + containerId(reference); }

// An item's id from its id or its `nameField`, among the list at `path` (data[key]).
std::string idAmong(const std::string& path, const char* key, const char* nameField, const std::string& reference,
                    const char* code) {
  if (berth::isObjectId(reference)) return reference;
  Json data = api().call("GET", path);
  for (const Json& item : data.value(key, Json::array()))
    if (item.value(nameField, "") == reference) return item["id"];
  die(std::string("404 ") + code + ": nothing named " + reference);
}

std::string projectId(const std::string& reference) {
  return idAmong("/api/v1/projects", "projects", "name", reference, "PROJECT_NOT_FOUND");
}

std::string userId(const std::string& reference) {
  return idAmong("/api/v1/users", "users", "username", reference, "USER_NOT_FOUND");
}

std::string snapshotId(const std::string& container, const std::string& reference) {
  return idAmong(containerPath(container) + "/snapshots", "snapshots", "alias", reference, "SNAPSHOT_NOT_FOUND");
}

// "K=V" pairs into a JSON object.
Json envObject(const std::vector<std::string>& pairs) {
  Json env = Json::object();
  for (const auto& pair : pairs) {
    size_t eq = pair.find('=');
    if (eq == std::string::npos || eq == 0) die("--env wants KEY=VALUE, got " + pair);
    env[pair.substr(0, eq)] = pair.substr(eq + 1);
  }
  return env;
}

// "[HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL]" as a ports entry of API.md §11.
Json portEntry(const std::string& spec) {
  std::string rest = spec, protocol = "tcp";
  if (size_t slash = rest.find('/'); slash != std::string::npos) {
    protocol = rest.substr(slash + 1);
    rest.resize(slash);
  }
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    size_t colon = rest.find(':', start);
    parts.push_back(rest.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  auto number = [&](const std::string& part) {
    char* end = nullptr;
    unsigned long value = std::strtoul(part.c_str(), &end, 10);
    if (part.empty() || *end != '\0' || value == 0 || value > 65535) die("--publish wants [HOST_IP:]HOST_PORT:PORT, got " + spec);
    return static_cast<int>(value);
  };
  if (parts.size() != 2 && parts.size() != 3) die("--publish wants [HOST_IP:]HOST_PORT:PORT, got " + spec);
  Json port{{"host_port", number(parts[parts.size() - 2])}, {"container_port", number(parts.back())}, {"protocol", protocol}};
  if (parts.size() == 3) port["host_ip"] = parts[0];
  return port;
}

// The exit code of an exec or of a container's init: its own; for one a
// signal ended, 128+N as a shell reports it.
int exitCodeOf(const Json& data) {
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

// What `containers create` and `run` send (API.md §6).
struct CreateFlags {
  std::string name, image, project, workingDir, hostname, expiresAt, network;
  std::vector<std::string> env, publish, command;
  ResourceFlags resources;

  void add(CLI::App* cmd) {
    cmd->add_option("name", name, "the container's name: 1-64 of [A-Za-z0-9-]")->required();
    cmd->add_option("--image", image, "default busybox");
    cmd->add_option("--project", project, "its project, by id or name (default: your personal project)");
    cmd->add_option("-e,--env", env, "KEY=VALUE (repeatable)")->allow_extra_args(false);
    cmd->add_option("-w,--workdir", workingDir);
    cmd->add_option("--hostname", hostname);
    cmd->add_option("--network", network, "none (default) or bridge");
    cmd->add_option("-p,--publish", publish, "[HOST_IP:]HOST_PORT:PORT (repeatable; implies --network bridge)")
        ->allow_extra_args(false);
    cmd->add_option("--expires-at", expiresAt, "ISO-8601 UTC time");
    resources.add(cmd);
    cmd->add_option("command", command, "the init command, after --");
  }
  Json body(bool autostart) const {
    Json body{{"name", name}, {"autostart", autostart}};
    if (!image.empty()) body["image"] = image;
    if (!project.empty()) body["project_id"] = projectId(project);
    if (!env.empty()) body["env"] = envObject(env);
    if (!workingDir.empty()) body["working_dir"] = workingDir;
    if (!hostname.empty()) body["hostname"] = hostname;
    if (!expiresAt.empty()) body["expires_at"] = expiresAt;
    if (!network.empty()) body["network"] = network;
    if (!publish.empty()) {
      if (network.empty()) body["network"] = "bridge";
      Json ports = Json::array();
      for (const auto& spec : publish) ports.push_back(portEntry(spec));
      body["ports"] = ports;
    }
    if (!command.empty()) body["command"] = command;
    if (auto limits = resources.json()) body["resources"] = *limits;
    return body;
  }
};

const char* progressVerb(const std::string& operation) {
  static const std::map<std::string, const char*> verbs = {
      {"start", "starting"}, {"stop", "stopping"},  {"force-stop", "force-stopping"},
      {"restart", "restarting"}, {"pause", "pausing"}, {"resume", "resuming"}};
  auto it = verbs.find(operation);
  return it == verbs.end() ? "waiting for" : it->second;
}

Json operate(const std::string& reference, const std::string& operation, const std::string& timeout) {
  std::string path = withQuery(containerPath(reference) + "/" + operation, {{"timeout", timeout}});
  Progress progress(std::string(progressVerb(operation)) + " " + reference);
  return api().call("POST", path);
}

// Follows GET .../logs?follow=true to stdout until the container is no
// longer running (the service ends the stream then).
void followLogs(const std::string& id, const std::string& tail, bool follow) {
  std::string path = withQuery("/api/v1/containers/" + id + "/logs", {{"tail", tail}, {"follow", follow ? "true" : ""}});
  bool whole = api().stream(path, {}, [](const char* data, size_t size) {
    std::cout.write(data, static_cast<std::streamsize>(size)).flush();
    return true;
  });
  if (!whole) die("the log stream of " + id + " broke off");
}

// A password from stdin: typed without echo on a terminal, else its first line.
std::string readPassword(const std::string& prompt) {
  std::string password;
  if (::isatty(STDIN_FILENO)) {
    std::fprintf(stderr, "%s", prompt.c_str());
    termios saved{};
    bool restore = ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (restore) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    std::getline(std::cin, password);
    if (restore) ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fprintf(stderr, "\n");
  } else {
    std::getline(std::cin, password);
  }
  return password;
}

}  // namespace

int main(int argc, char* argv[]) {
  CLI::App app{"berth: the client of berthd (a container service).\n"
               "Service and token: --url, BERTH_URL, BERTH_TOKEN, else " + configFilePath() +
               " (written by `berth login`)."};
  app.require_subcommand(1);
  // Global flags are accepted after the subcommand too (`berth ps -o json`).
  app.fallthrough();
  app.add_option("--url", globals.url, "the service: http://HOST:PORT, https://... or unix:///run/berth/berthd.sock");
  app.add_option("-o,--output", globals.output, "table (default), wide, json, yaml or name")
      ->check(CLI::IsMember({"table", "wide", "json", "yaml", "name"}));
  app.add_flag("-q,--quiet", globals.quiet, "print only ids");
  int exitCode = 0;  // what main returns once the command ran

  // Shared by the commands: one command runs per invocation.
  std::string reference, page, limit, status, project, timeout, snapshot, username;
  std::vector<std::string> references;
  bool force = false, keepVolume = false, runtime = false, all = false;

  // berth login [USERNAME]: password from stdin (typed, on a terminal);
  // saves url and token in the config file and prints the token.
  auto* login = app.add_subcommand("login", "log in: saves the token in the config file and prints it");
  login->add_option("username", username, "user name (default admin)");
  login->callback([&] {
    if (username.empty()) username = "admin";
    std::string password = readPassword("password for " + username + ": ");
    Json data = api().call("POST", "/api/v1/auth/login", Json{{"username", username}, {"password", password}});
    std::string token = data["token"].get<std::string>();
    saveSettings(api().settings().url, token, username);
    std::fprintf(stderr, "berth: logged in to %s as %s; token saved in %s\n", api().settings().url.c_str(),
                 username.c_str(), configFilePath().c_str());
    std::cout << token << "\n";
  });
  auto* logout = app.add_subcommand("logout", "revoke the saved token and forget it");
  logout->callback([&] {
    api().call("POST", "/api/v1/auth/logout");
    saveSettings(api().settings().url, "", "");
  });

  // ---- containers: the API-shaped commands (single objects print as JSON).
  auto* containers = app.add_subcommand("containers", "list, inspect, create, change, operate, snapshot and copy containers");
  containers->require_subcommand(1);

  auto* list = containers->add_subcommand("list", "list the containers you may see (every page unless --page/--limit)");
  list->add_option("--page", page);
  list->add_option("--limit", limit);
  list->add_option("--status", status);
  list->add_option("--project", project, "only this project's containers (id or name)");
  list->callback([&] {
    std::string projectFilter = project.empty() ? "" : projectId(project);
    if (!page.empty() || !limit.empty()) {
      showList(api().call("GET", withQuery("/api/v1/containers", {{"page", page}, {"limit", limit}, {"status", status},
                                                                  {"project_id", projectFilter}})),
               "containers", containerColumns());
      return;
    }
    showList(Json{{"containers", allContainers(projectFilter, status)}}, "containers", containerColumns());
  });

  auto getCommand = [&](CLI::App* parent, const char* name, const char* description) {
    auto* get = parent->add_subcommand(name, description);
    get->add_option("container", reference, "id, runtime id or name")->required();
    get->add_flag("--runtime", runtime, "add processes and resource usage");
    get->callback([&] { showObject(api().call("GET", containerPath(reference) + (runtime ? "?runtime=true" : ""))); });
  };
  getCommand(containers, "get", "show one container");

  CreateFlags createFlags;
  bool noAutostart = false;
  auto* create = containers->add_subcommand("create", "create (and by default start) a container");
  createFlags.add(create);
  create->add_flag("--no-autostart", noAutostart, "create it stopped");
  create->callback([&] {
    Progress progress("creating " + createFlags.name);
    Json data = api().call("POST", "/api/v1/containers", createFlags.body(!noAutostart));
    showObject(data);
  });

  auto* update = containers->add_subcommand("update", "change a container (env, command and workdir only when stopped)");
  std::string newName, workingDir;
  std::vector<std::string> env, command;
  std::optional<bool> autostart;
  ResourceFlags updateResources;
  update->add_option("container", reference, "id, runtime id or name")->required();
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
    showObject(api().call("PATCH", containerPath(reference), body));
  });

  auto* remove = containers->add_subcommand("delete", "delete a container (its status log stays)");
  remove->add_option("container", reference, "id, runtime id or name")->required();
  remove->add_flag("-f,--force", force, "stop a running or paused container first");
  remove->add_flag("--keep-volume", keepVolume, "keep the writable layer on disk");
  remove->callback([&] {
    std::string path = withQuery(containerPath(reference), {{"force", force ? "true" : ""}, {"keep_volume", keepVolume ? "true" : ""}});
    Progress progress("deleting " + reference);
    showObject(api().call("DELETE", path));
  });

  std::string operation;
  auto* manage = containers->add_subcommand("manage", "start, stop, force-stop, restart, pause or resume");
  manage->add_option("container", reference, "id, runtime id or name")->required();
  manage->add_option("operation", operation)->required();
  manage->add_option("--timeout", timeout, "grace period of stop and restart (seconds)");
  manage->callback([&] { showObject(operate(reference, operation, timeout), "container_id"); });

  auto statusColumns = std::vector<Column>{
      plain("ID", "id", true),        plain("FROM", "from_status"), plain("TO", "to_status"),
      ago("WHEN", "transition_time"), {"TOOK", [](const Json& e) { return field(e, "duration_ms") + " ms"; }},
      plain("BY", "triggered_by"),    {"OPERATION", [](const Json& e) { return e.contains("metadata") ? field(e["metadata"], "operation") : "-"; }},
      {"DETAIL", [](const Json& e) {
         if (!e.contains("metadata")) return std::string("-");
         Json rest = e["metadata"];
         rest.erase("operation");
         return rest.empty() ? std::string("-") : rest.dump();
       }, false, true}};
  auto* statusLogs = containers->add_subcommand("status-logs", "the container's status changes, newest first");
  std::string sortBy, sortOrder;
  statusLogs->add_option("container", reference, "id, runtime id or name")->required();
  statusLogs->add_option("--page", page);
  statusLogs->add_option("--limit", limit);
  statusLogs->add_option("--sort-by", sortBy, "transition_time, created_at, to_status or from_status");
  statusLogs->add_option("--sort-order", sortOrder, "asc or desc");
  statusLogs->callback([&] {
    showList(api().call("GET", withQuery(containerPath(reference) + "/status-logs",
                                         {{"page", page}, {"limit", limit}, {"sort_by", sortBy}, {"sort_order", sortOrder}})),
             "logs", statusColumns);
  });

  std::string tail;
  bool follow = false;
  auto logsCommand = [&](CLI::App* parent) {
    auto* logs = parent->add_subcommand("logs", "the container's output (stdout and stderr)");
    logs->add_option("container", reference, "id, runtime id or name")->required();
    logs->add_flag("-f,--follow", follow, "go on printing while it runs");
    logs->add_option("-n,--tail", tail, "only the last N lines");
    logs->callback([&] { followLogs(containerId(reference), tail, follow); });
  };
  logsCommand(containers);

  // Snapshots and copies of a container's writable layer (API.md §12).
  std::string alias;
  auto snapshotColumns = std::vector<Column>{plain("ID", "id"), plain("ALIAS", "alias", false, true),
                                             bytes("SIZE", "size_bytes"), ago("CREATED", "created_at")};
  auto* snapshotCmd = containers->add_subcommand("snapshot", "snapshot a stopped container's writable layer");
  snapshotCmd->add_option("container", reference, "id, runtime id or name")->required();
  snapshotCmd->add_option("alias", alias, "1-64 of [A-Za-z0-9-], unique per container")->required();
  snapshotCmd->callback([&] { showObject(api().call("POST", containerPath(reference) + "/snapshots", Json{{"alias", alias}})); });

  auto* snapshotsCmd = containers->add_subcommand("snapshots", "list a container's snapshots, newest first");
  snapshotsCmd->add_option("container", reference, "id, runtime id or name")->required();
  snapshotsCmd->callback([&] { showList(api().call("GET", containerPath(reference) + "/snapshots"), "snapshots", snapshotColumns); });

  auto* restore = containers->add_subcommand("restore", "put a snapshot back as a stopped container's writable layer");
  restore->add_option("container", reference, "id, runtime id or name")->required();
  restore->add_option("snapshot", snapshot, "the snapshot's id or alias")->required();
  restore->callback([&] {
    showObject(api().call("POST", containerPath(reference) + "/snapshots/" + snapshotId(reference, snapshot) + "/restore"));
  });

  auto* deleteSnapshot = containers->add_subcommand("delete-snapshot", "delete one of a container's snapshots");
  deleteSnapshot->add_option("container", reference, "id, runtime id or name")->required();
  deleteSnapshot->add_option("snapshot", snapshot, "the snapshot's id or alias")->required();
  deleteSnapshot->callback([&] {
    showObject(api().call("DELETE", containerPath(reference) + "/snapshots/" + snapshotId(reference, snapshot)));
  });

  auto* copy = containers->add_subcommand("copy", "copy a stopped container (and its writable layer) to a new one");
  std::string copyName, copyProject;
  copy->add_option("container", reference, "id, runtime id or name")->required();
  copy->add_option("name", copyName, "the new container's name")->required();
  copy->add_option("--project", copyProject, "default: the source's project (id or name)");
  copy->callback([&] {
    Json body{{"name", copyName}};
    if (!copyProject.empty()) body["project_id"] = projectId(copyProject);
    Progress progress("copying " + reference);
    showObject(api().call("POST", containerPath(reference) + "/copy", body));
  });

  // exec CONTAINER [-i] [-t] [-e KEY=VALUE]... [-w DIR] [--timeout SECONDS] -- CMD [ARGS...]
  // Without -i and -t: one request, answered when the command has exited
  // with its whole output. With either: the terminal WebSocket
  // (cmd/terminal_client.cpp), whose query takes only the command.
  bool interactive = false, tty = false;
  std::optional<uint32_t> execTimeout;
  std::vector<std::string> execCommand;
  auto execCommandOf = [&](CLI::App* parent) {
    auto* exec = parent->add_subcommand("exec", "run a command in a running container");
    exec->footer("Exits with the command's exit code (128+N for a signal N); 1 when berth or the service fails.\n"
                 "Example: berth exec -it web -- /bin/sh");
    exec->add_option("container", reference, "id, runtime id or name")->required();
    auto* interactiveFlag = exec->add_flag("-i,--interactive", interactive, "send stdin to the command (via a terminal)");
    auto* ttyFlag = exec->add_flag("-t,--tty", tty, "make the local terminal raw while the command runs, pass its size");
    // The terminal's query takes only the command: these need the plain exec.
    exec->add_option("-e,--env", env, "KEY=VALUE (repeatable)")->allow_extra_args(false)->excludes(interactiveFlag, ttyFlag);
    exec->add_option("-w,--workdir", workingDir, "working directory in the container")->excludes(interactiveFlag, ttyFlag);
    exec->add_option("--timeout", execTimeout, "kill the command after this many seconds (default 60, at most 3600)")
        ->excludes(interactiveFlag, ttyFlag);
    exec->add_option("command", execCommand, "the command and its arguments, after --")->required();
    exec->callback([&] {
      std::string id = containerId(reference);
      if (interactive || tty) {
        berth::Result<int> result = runTerminal({.serviceUrl = api().settings().url, .token = api().settings().token,
                                                 .containerId = id, .command = execCommand,
                                                 .forwardStdin = interactive, .rawTerminal = tty});
        if (!result) die(result.error().describe());
        exitCode = *result;
        return;
      }
      Json body{{"command", execCommand}};
      if (!env.empty()) body["env"] = envObject(env);
      if (!workingDir.empty()) body["working_dir"] = workingDir;
      if (execTimeout) body["timeout_s"] = *execTimeout;
      Json data = api().call("POST", "/api/v1/containers/" + id + "/exec", body);
      std::string out = data.value("stdout", ""), err = data.value("stderr", "");
      std::cout.write(out.data(), static_cast<std::streamsize>(out.size())).flush();
      std::cerr.write(err.data(), static_cast<std::streamsize>(err.size()));
      if (data.value("truncated", false)) std::cerr << "berth: the output was cut (at most 1 MiB each of stdout and stderr)\n";
      if (auto signal = data.find("exit_signal"); signal != data.end() && signal->is_string())
        std::cerr << "berth: the command was ended by " << signal->get<std::string>() << "\n";
      exitCode = exitCodeOf(data);
    });
  };
  execCommandOf(containers);

  // ---- the short forms.
  auto* ps = app.add_subcommand("ps", "list running and paused containers (-a: all)");
  ps->add_flag("-a,--all", all, "every status");
  ps->add_option("--project", project, "only this project's containers (id or name)");
  ps->callback([&] {
    Json shown = Json::array();
    for (const Json& c : allContainers(project.empty() ? "" : projectId(project)))
      if (all || c.value("status", "") == "running" || c.value("status", "") == "paused") shown.push_back(c);
    showList(Json{{"containers", shown}}, "containers", containerColumns());
  });

  // run NAME [flags] -- CMD: create and start, then follow its output until
  // it exits and exit with its code; -d prints the id and leaves it running.
  CreateFlags runFlags;
  bool detach = false, removeAfter = false;
  auto* run = app.add_subcommand("run", "create and start a container and follow its output (-d: leave it running)");
  runFlags.add(run);
  run->add_flag("-d,--detach", detach, "print the id and leave it running");
  run->add_flag("--rm", removeAfter, "delete it once it has exited");
  run->footer("Exits with the init's exit code (128+N for a signal N). ^C leaves the container running,\n"
              "or with --rm deletes it (and exits 130).\n"
              "Example: berth run hello --rm -- echo hello");
  run->callback([&] {
    Reply created;
    {
      Progress progress("starting " + runFlags.name);
      created = api().tryCall("POST", "/api/v1/containers", runFlags.body(true));
    }
    if (created.status == 0 || created.status >= 400) {
      // A start that failed leaves a failed container (its id in the error's data).
      const Json& data = created.data();
      if (removeAfter && data.is_object() && data.contains("container_id"))
        api().tryCall("DELETE", "/api/v1/containers/" + data["container_id"].get<std::string>() + "?force=true");
      die(created.describe());
    }
    std::string id = created.data()["id"];
    if (detach) {
      std::cout << id << "\n";
      return;
    }
    if (removeAfter) deleteOnInterrupt(id);
    followLogs(id, "", true);
    Json finished = api().call("GET", "/api/v1/containers/" + id);
    for (int wait = 0; wait < 100 && (finished["status"] == "running" || finished["status"] == "paused"); ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      finished = api().call("GET", "/api/v1/containers/" + id);
    }
    exitCode = finished["status"] == "failed" && !finished["exit_code"].is_number() ? 1 : exitCodeOf(finished);
    if (removeAfter) api().call("DELETE", "/api/v1/containers/" + id + "?force=true");
  });

  for (const char* op : {"start", "stop", "restart", "pause", "resume", "force-stop"}) {
    std::string what = std::string(op) + " containers";
    auto* shortForm = app.add_subcommand(op, what);
    shortForm->add_option("container", references, "ids, runtime ids or names")->required();
    if (std::string(op) == "stop" || std::string(op) == "restart")
      shortForm->add_option("-t,--timeout", timeout, "grace period before the kill (seconds)");
    shortForm->callback([&, op] {
      for (const auto& ref : references) {
        Json data = operate(ref, op, timeout);
        if (globals.quiet) std::cout << field(data, "container_id") << "\n";
        else if (outputFormat() == Format::json || outputFormat() == Format::yaml) showObject(data, "container_id");
        else std::cout << ref << "\n";
      }
    });
  }

  auto* rm = app.add_subcommand("rm", "delete containers");
  rm->add_option("container", references, "ids, runtime ids or names")->required();
  rm->add_flag("-f,--force", force, "stop running or paused ones first");
  rm->add_flag("--keep-volume", keepVolume, "keep the writable layer on disk");
  rm->callback([&] {
    for (const auto& ref : references) {
      std::string path = withQuery(containerPath(ref), {{"force", force ? "true" : ""}, {"keep_volume", keepVolume ? "true" : ""}});
      Progress progress("deleting " + ref);
      Json data = api().call("DELETE", path);
      if (globals.quiet) std::cout << field(data, "id") << "\n";
      else if (outputFormat() == Format::json || outputFormat() == Format::yaml) showObject(data);
      else std::cout << ref << "\n";
    }
  });

  getCommand(&app, "inspect", "show one container (JSON; -o yaml)");
  logsCommand(&app);
  execCommandOf(&app);

  // ---- images, snapshots, users, projects: the bare command lists.
  auto imageColumns = std::vector<Column>{
      plain("NAME", "name", false, true), plain("SOURCE", "source"), bytes("SIZE", "size_bytes"), ago("CREATED", "created_at"),
      plain("DIGEST", "digest", true),
      {"COMMAND", [](const Json& i) { return i.contains("config") ? joined(i["config"].value("command", Json::array())) : "-"; }, true, true}};
  auto listImages = [&] { showList(api().call("GET", "/api/v1/images"), "images", imageColumns, "name"); };
  auto* images = app.add_subcommand("images", "list (the default), import and delete images");
  images->require_subcommand(0, 1);
  images->callback([&, images] {
    if (images->get_subcommands().empty()) listImages();
  });
  images->add_subcommand("list", "list the images")->callback(listImages);

  // The file goes up as it is read (images may be several GiB): a rootfs
  // tarball or an OCI image layout, plain or gzip.
  auto* imageImport = images->add_subcommand("import", "import a rootfs tarball or an OCI image layout (admin)");
  std::string imageName, imageFile, imageRef;
  imageImport->add_option("name", imageName)->required();
  imageImport->add_option("file", imageFile, "a .tar or .tar.gz")->required();
  imageImport->add_option("--ref", imageRef, "the manifest of an OCI layout (org.opencontainers.image.ref.name)");
  imageImport->callback([&] {
    std::atomic<uint64_t> sentBytes{0}, totalBytes{0};
    Progress progress("importing " + imageName, [&] {
      return humanBytes(sentBytes.load()) + " of " + humanBytes(totalBytes.load());
    });
    Json data = api().upload(withQuery("/api/v1/images", {{"name", imageName}, {"ref", imageRef}}), imageFile,
                             "application/x-tar", [&](uint64_t sent, uint64_t total) {
                               sentBytes = sent;
                               totalBytes = total;
                             });
    showObject(data, "name");
  });

  auto* imageDelete = images->add_subcommand("delete", "delete an image no container uses (admin)");
  imageDelete->add_option("name", imageName)->required();
  imageDelete->callback([&] { showObject(api().call("DELETE", "/api/v1/images/" + encodeSegment(imageName)), "name"); });

  auto* snapshots = app.add_subcommand("snapshots", "a container's snapshots: list (the default), create, restore, delete");
  snapshots->require_subcommand(0, 1);
  std::string snapshotsOf;
  snapshots->add_option("container", snapshotsOf, "whose snapshots to list");
  snapshots->callback([&, snapshots] {
    if (!snapshots->get_subcommands().empty()) return;
    if (snapshotsOf.empty()) die("snapshots: name the container (berth snapshots CONTAINER)");
    showList(api().call("GET", containerPath(snapshotsOf) + "/snapshots"), "snapshots", snapshotColumns);
  });
  auto* snapshotCreate = snapshots->add_subcommand("create", "snapshot a stopped container");
  snapshotCreate->add_option("container", reference, "id, runtime id or name")->required();
  snapshotCreate->add_option("alias", alias, "1-64 of [A-Za-z0-9-], unique per container")->required();
  snapshotCreate->callback([&] { showObject(api().call("POST", containerPath(reference) + "/snapshots", Json{{"alias", alias}})); });
  auto* snapshotRestore = snapshots->add_subcommand("restore", "put a snapshot back (the container stopped)");
  snapshotRestore->add_option("container", reference, "id, runtime id or name")->required();
  snapshotRestore->add_option("snapshot", snapshot, "the snapshot's id or alias")->required();
  snapshotRestore->callback([&] {
    Json data = api().call("POST", containerPath(reference) + "/snapshots/" + snapshotId(reference, snapshot) + "/restore");
    if (globals.quiet) showObject(data);
    else std::cout << "restored " << snapshot << " into " << reference << "\n";
  });
  auto* snapshotDelete = snapshots->add_subcommand("delete", "delete a snapshot");
  snapshotDelete->add_option("container", reference, "id, runtime id or name")->required();
  snapshotDelete->add_option("snapshot", snapshot, "the snapshot's id or alias")->required();
  snapshotDelete->callback([&] {
    showObject(api().call("DELETE", containerPath(reference) + "/snapshots/" + snapshotId(reference, snapshot)));
  });

  auto userColumns = std::vector<Column>{plain("ID", "id"), plain("USERNAME", "username", false, true), plain("ROLE", "role"),
                                         plain("BANNED", "banned"), ago("CREATED", "created_at"),
                                         plain("GUEST EXPIRES", "guest_expires_at", true)};
  auto listUsers = [&] { showList(api().call("GET", "/api/v1/users"), "users", userColumns); };
  auto* users = app.add_subcommand("users", "users (admin): list (the default), create, ban, unban, delete");
  users->require_subcommand(0, 1);
  users->callback([&, users] {
    if (users->get_subcommands().empty()) listUsers();
  });
  users->add_subcommand("list", "list the users")->callback(listUsers);
  std::string role = "user", guestExpiresAt;
  auto* userCreate = users->add_subcommand("create", "create a user; the password is read from stdin");
  userCreate->add_option("username", username)->required();
  userCreate->add_option("--role", role, "admin, user (default) or guest");
  userCreate->add_option("--guest-expires-at", guestExpiresAt, "ISO-8601 UTC time (guests)");
  userCreate->callback([&] {
    Json body{{"username", username}, {"password", readPassword("password for " + username + ": ")}, {"role", role}};
    if (!guestExpiresAt.empty()) body["guest_expires_at"] = guestExpiresAt;
    showObject(api().call("POST", "/api/v1/users", body));
  });
  for (bool banned : {true, false}) {
    auto* ban = users->add_subcommand(banned ? "ban" : "unban",
                                      banned ? "ban a user (every call of theirs is refused)" : "lift a ban");
    ban->add_option("user", username, "id or username")->required();
    ban->callback([&, banned] { showObject(api().call("PATCH", "/api/v1/users/" + userId(username), Json{{"banned", banned}})); });
  }
  auto* userDelete = users->add_subcommand("delete", "delete a user");
  userDelete->add_option("user", username, "id or username")->required();
  userDelete->callback([&] { showObject(api().call("DELETE", "/api/v1/users/" + userId(username))); });

  auto projectColumns = std::vector<Column>{plain("ID", "id"), plain("NAME", "name", false, true), plain("OWNER", "owner_id"),
                                            ago("CREATED", "created_at")};
  auto listProjects = [&] { showList(api().call("GET", "/api/v1/projects"), "projects", projectColumns); };
  auto* projects = app.add_subcommand("projects", "projects: list (the default), create, add-member, remove-member");
  projects->require_subcommand(0, 1);
  projects->callback([&, projects] {
    if (projects->get_subcommands().empty()) listProjects();
  });
  projects->add_subcommand("list", "list the projects you belong to")->callback(listProjects);
  std::string projectName;
  auto* projectCreate = projects->add_subcommand("create", "create a project (you become its owner)");
  projectCreate->add_option("name", projectName)->required();
  projectCreate->callback([&] { showObject(api().call("POST", "/api/v1/projects", Json{{"name", projectName}})); });
  std::string memberRole = "viewer";
  auto* addMember = projects->add_subcommand("add-member", "give a user a role in a project");
  addMember->add_option("project", project, "id or name")->required();
  addMember->add_option("user", username, "id or username")->required();
  addMember->add_option("--role", memberRole, "owner, operator or viewer (default)");
  addMember->callback([&] {
    showObject(api().call("POST", "/api/v1/projects/" + projectId(project) + "/members",
                          Json{{"user_id", userId(username)}, {"role", memberRole}}),
               "user_id");
  });
  auto* removeMember = projects->add_subcommand("remove-member", "take a user out of a project");
  removeMember->add_option("project", project, "id or name")->required();
  removeMember->add_option("user", username, "id or username")->required();
  removeMember->callback([&] {
    showObject(api().call("DELETE", "/api/v1/projects/" + projectId(project) + "/members/" + userId(username)), "user_id");
  });

  // events: follows GET /api/v1/events; on a broken connection it
  // reconnects with the last id it got, so it misses nothing.
  auto* events = app.add_subcommand("events", "follow container events (reconnects by itself)");
  std::string since, eventContainer, types;
  bool asJson = false;
  events->add_option("--since", since, "replay after this event id");
  events->add_option("--container", eventContainer, "only this container's events (id, runtime id or name)");
  events->add_option("--type", types, "only these types (comma list)");
  events->add_flag("--json", asJson, "one JSON object per line, with its id (as -o json)");
  events->callback([&] {
    bool jsonLines = asJson || outputFormat() == Format::json;
    std::string containerFilter = eventContainer.empty() ? "" : containerId(eventContainer);
    std::string lastId = since;
    std::string buffer;
    // One SSE event: "id:", "event:" and "data:" lines, then a blank line.
    std::string eventId, eventType, eventData;
    auto onLine = [&](const std::string& line) {
      if (line.empty()) {
        if (!eventData.empty()) {
          Json event = Json::parse(eventData, nullptr, false);
          if (!eventId.empty()) lastId = eventId;
          if (jsonLines) {
            if (event.is_object() && !eventId.empty()) event["id"] = eventId;
            std::cout << event.dump() << std::endl;
          } else if (globals.quiet) {
            std::cout << eventId << std::endl;
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
      auto value = [&](std::string_view prefix) -> std::optional<std::string> {
        if (line.rfind(prefix, 0) != 0) return std::nullopt;
        std::string rest = line.substr(prefix.size());
        if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
        return rest;
      };
      if (auto id = value("id:")) eventId = *id;
      else if (auto type = value("event:")) eventType = *type;
      else if (auto data = value("data:")) eventData += *data;
    };
    for (;;) {
      httplib::Headers extra;
      if (!lastId.empty()) extra.emplace("Last-Event-ID", lastId);
      api().stream(withQuery("/api/v1/events", {{"container_id", containerFilter}, {"type", types}}), extra,
                   [&](const char* data, size_t size) {
                     buffer.append(data, size);
                     for (size_t end; (end = buffer.find('\n')) != std::string::npos; buffer.erase(0, end + 1))
                       onLine(buffer.substr(0, end));
                     return true;
                   });
      buffer.clear();
      std::fprintf(stderr, "berth: event stream ended; reconnecting%s\n", lastId.empty() ? "" : (" after " + lastId).c_str());
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  });

  // Completion scripts from this very table.
  auto* completion = app.add_subcommand("completion", "print a shell completion script: bash or zsh");
  std::string shell;
  completion->add_option("shell", shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  completion->callback([&] {
    OptionValues values{{"-o", "table wide json yaml name"}, {"--output", "table wide json yaml name"},
                        {"--network", "none bridge"}, {"--role", "admin user guest owner operator viewer"}};
    std::cout << (shell == "bash" ? bashCompletion(app, values) : zshCompletion(app, values));
  });

  CLI11_PARSE(app, argc, argv);
  return exitCode;
}
