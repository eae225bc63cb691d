#include "e2e/service_fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <atomic>
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "common/files.hpp"
#include "common/process.hpp"
#include "net/firewall.hpp"
#include "net/netlink.hpp"

namespace berth::e2e {

const std::vector<std::string> kTermInit = {"/bin/sh", "-c", "trap 'exit 0' TERM; echo ready; while true; do sleep 0.1; done"};
const std::vector<std::string> kStubbornInit = {"/bin/sleep", "1000"};

namespace {

constexpr auto kStartDeadline = std::chrono::seconds(30);
constexpr auto kExitDeadline = std::chrono::seconds(60);

std::string readTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string value = text.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

// Reads one line from fd within the deadline ("" on timeout or EOF).
std::string readLine(int fd, std::chrono::milliseconds deadline) {
  std::string line;
  auto end = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < end) {
    pollfd pfd{fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(1, left.count()))) <= 0) continue;
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return {};
    if (c == '\n') return line;
    line.push_back(c);
  }
  return {};
}

std::vector<std::string> subdirectories(const std::string& dir) {
  std::vector<std::string> found;
  DIR* handle = ::opendir(dir.c_str());
  if (!handle) return found;
  while (dirent* entry = ::readdir(handle)) {
    std::string name = entry->d_name;
    if (entry->d_type == DT_DIR && name != "." && name != "..") found.push_back(dir + "/" + name);
  }
  ::closedir(handle);
  return found;
}

void removeCgroupTree(const std::string& dir) {
  for (const auto& child : subdirectories(dir)) removeCgroupTree(child);
  // The kernel frees a group a moment after its last process is reaped.
  for (int i = 0; i < 100 && ::rmdir(dir.c_str()) != 0 && errno == EBUSY; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

// What a teardown that could not delete through the API leaves running: the
// shims this service started (their pids in <run dir>/*/shim.json, checked
// against their command line) and the containers (each in its own group).
void killLeftoverProcesses(const std::string& runDir, const std::vector<std::string>& cgroupRoots) {
  for (const auto& instance : subdirectories(runDir)) {
    auto state = readFile(instance + "/shim.json");
    if (!state) continue;
    auto shimPid = Json::parse(*state, nullptr, false).value("shim_pid", 0);
    auto cmdline = readFile("/proc/" + std::to_string(shimPid) + "/cmdline");
    if (shimPid > 0 && cmdline && cmdline->find(instance) != std::string::npos) ::kill(shimPid, SIGKILL);
  }
  // Only the v2 groups have cgroup.kill; writing elsewhere fails and changes nothing.
  for (const auto& root : cgroupRoots)
    for (const auto& group : subdirectories(root)) (void)writeFile(group + "/cgroup.kill", "1");
}

}  // namespace

std::string containerPath(const std::string& id) { return "/api/v1/containers/" + id; }

Service::Service(ServiceOptions options)
    : options_(std::move(options)), temp_("berth-e2e"), cgroupRoot_(testing::uniqueCgroupRoot("e2e")) {
  dataDir_ = temp_.sub("data");
  runDir_ = temp_.sub("run");
  // Never a real instance's bridges: a prefix of this fixture's own, and a /16 of the tests' 10.200.0.0/13.
  static std::atomic<unsigned> fixtures{0};
  unsigned n = fixtures++;
  char prefix[8];
  std::snprintf(prefix, sizeof prefix, "e%04x", (static_cast<unsigned>(::getpid()) * 8 + n) & 0xffff);
  bridgePrefix_ = prefix;
  bridgeSubnet_ = "10." + std::to_string(200 + n % 8) + ".0.0/16";
  std::string yaml = options_.configYaml;
  if (yaml.find("bridge_prefix") == std::string::npos) yaml += "\nbridge_prefix: " + bridgePrefix_ + "\n";
  if (yaml.find("bridge_subnet") == std::string::npos) yaml += "bridge_subnet: " + bridgeSubnet_ + "\n";
  std::ofstream(temp_.sub("berthd.yaml")) << yaml;
  if (options_.withTls) {
    std::string command = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
                          "-addext subjectAltName=IP:127.0.0.1 -keyout " + temp_.sub("tls.key") + " -out " +
                          tlsCertPath() + " >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
  }
  launch();
  std::string password = adminPassword();
  REQUIRE_FALSE(password.empty());
  adminToken_ = login("admin", password);
  Reply me = get("/api/v1/users/me", adminToken_);
  REQUIRE(me.status == 200);
  adminId_ = me.data()["id"];
}

Service::~Service() {
  // CHECKs only when no assertion is unwinding the test; the cleanup runs anyway.
  bool checking = std::uncaught_exceptions() == 0;
  try {
    if (pid_ > 0) {
      deleteAllContainers();
      bool clean = terminate();
      if (checking) CHECK(clean);
    }
    checkAndRemoveLeftovers();
  } catch (const std::exception& e) {
    if (checking) FAIL_CHECK("e2e teardown: " << e.what());
  }
}

void Service::launch() {
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  std::string binary = std::string(BERTH_BUILD_DIR) + "/cmd/berthd";
  std::vector<std::string> args = {binary,       "--listen",      "127.0.0.1:0", "--data-dir", dataDir_,
                                   "--run-dir",  runDir_,         "--cgroup-root", cgroupRoot_, "--log-level",
                                   "info"};
  args.push_back("--config");
  args.push_back(temp_.sub("berthd.yaml"));
  if (options_.withTls) {
    for (const std::string& arg : {std::string("--tls-cert"), tlsCertPath(), std::string("--tls-key"), temp_.sub("tls.key")})
      args.push_back(arg);
  }
  if (options_.withUnixSocket) {
    args.push_back("--socket");
    args.push_back(socketPath());
  }
  std::string logPath = temp_.sub("berthd.log");
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::dup2(out[1], STDOUT_FILENO);
    int log = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log >= 0) ::dup2(log, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  pid_ = child;
  std::string line = readLine(out[0], kStartDeadline);
  ::close(out[0]);
  INFO("berthd log: " << readTrimmed(logPath));
  const std::string prefix = "listening on 127.0.0.1:";
  REQUIRE(line.rfind(prefix, 0) == 0);
  port_ = std::stoi(line.substr(prefix.size()));
  REQUIRE(port_ > 0);
}

bool Service::terminate() {
  if (pid_ <= 0) return true;
  ::kill(pid_, SIGTERM);
  auto end = std::chrono::steady_clock::now() + kExitDeadline;
  int status = 0;
  for (;;) {
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void Service::restart() {
  REQUIRE(terminate());
  launch();
}

std::string Service::logText() const {
  auto text = readFile(temp_.sub("berthd.log"));
  return text ? *text : "";
}

void Service::crash() {
  REQUIRE(pid_ > 0);
  REQUIRE(::kill(pid_, SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid_, &status, 0) == pid_);
  pid_ = -1;
}

void Service::removeRuntimeInstance(const std::string& runtimeId) {
  REQUIRE(pid_ < 0);
  for (const auto& root : testing::leftoverCgroups(cgroupRoot_)) {
    std::string group = root + "/" + runtimeId;
    if (::rmdir(group.c_str()) != 0) REQUIRE(errno == ENOENT);
  }
  REQUIRE(removeTree(runDir_ + "/" + runtimeId));
}

void Service::simulateHostBoot(const std::vector<Json>& containers) {
  REQUIRE(pid_ < 0);
  for (const auto& container : containers) {
    std::string runtimeId = container["runtime_id"];
    auto state = readFile(runDir_ + "/" + runtimeId + "/shim.json");
    REQUIRE(state);
    pid_t shim = Json::parse(*state).at("shim_pid").get<pid_t>();
    pid_t init = container["pid"].get<pid_t>();
    // Both are ours: started by the berthd this fixture ran.
    auto shimFd = openPidfd(shim);
    REQUIRE(shimFd);
    ::kill(init, SIGKILL);
    ::kill(shim, SIGKILL);
    REQUIRE(waitPidfdReadable(shimFd->get(), std::chrono::seconds(5)).value_or(false));
  }
  for (const auto& root : testing::leftoverCgroups(cgroupRoot_))
    for (const auto& group : subdirectories(root)) removeCgroupTree(group);
  REQUIRE(removeTree(runDir_));
  // Nothing stays mounted across a boot: the storage pool is attached again by the next start.
  REQUIRE(testing::unmountStoragePool(dataDir_));
  // A boot has no links and no rules: this service's bridges (and the veths
  // the killed containers' namespaces take with them) go, as does its table.
  auto netlink = net::Netlink::open();
  REQUIRE(netlink);
  for (const std::string& link : hostLinks()) (void)netlink->deleteLink(link);
  auto firewall = net::Firewall::open(bridgePrefix_, bridgePrefix_);
  REQUIRE(firewall);
  REQUIRE(firewall->remove());
}

std::vector<std::string> Service::hostLinks() const {
  auto netlink = net::Netlink::open();
  if (!netlink) return {"(netlink: " + netlink.error().describe() + ")"};
  auto links = netlink->linkNamesWithPrefix(bridgePrefix_);
  return links ? *links : std::vector<std::string>{"(links: " + links.error().describe() + ")"};
}

void Service::deleteAllContainers() {
  // The fixture's token, unless the test revoked or outlived it (a login may
  // be rate limited after a test of failed logins).
  std::string token = adminToken_;
  if (get("/api/v1/users/me", token).status != 200) token = login("admin", adminPassword());
  for (int round = 0; round < 100; ++round) {
    Reply list = get("/api/v1/containers?limit=100", token);
    if (list.status != 200) {
      WARN("e2e teardown: listing containers answered " << list.status << " " << list.text);
      return;
    }
    const Json& containers = list.data()["containers"];
    if (containers.empty()) return;
    for (const auto& container : containers) {
      std::string id = container["id"];
      Reply removed = del(containerPath(id) + "?force=true", token);
      if (removed.status != 200) WARN("e2e teardown: deleting " << id << " answered " << removed.text);
    }
  }
}

void Service::checkAndRemoveLeftovers() {
  bool checking = std::uncaught_exceptions() == 0;
  // The service keeps its (empty) root groups when it exits, as containers may
  // live on; what must not be left is a container's group inside them.
  auto roots = testing::leftoverCgroups(cgroupRoot_);
  for (const auto& root : roots) {
    auto children = subdirectories(root);
    if (checking) {
      INFO("leftover cgroups under " << root);
      CHECK(children.empty());
    }
  }
  killLeftoverProcesses(runDir_, roots);
  for (const auto& root : roots) removeCgroupTree(root);
  bool poolGone = testing::unmountStoragePool(dataDir_);
  if (checking) CHECK(poolGone);
  auto mounts = testing::mountsContaining(dataDir_);
  if (checking) CHECK(mounts.empty());
  auto loops = testing::loopDevicesBackedBy(dataDir_);
  if (checking) CHECK(loops.empty());
  for (const auto& mountPoint : mounts) ::umount2(mountPoint.c_str(), MNT_DETACH);
  checkAndRemoveNetworkLeftovers(checking);
}

void Service::checkAndRemoveNetworkLeftovers(bool checking) {
  // A veth whose namespace is dying goes a moment after its container; a
  // bridge and the table go with the last container of their project.
  std::vector<std::string> links = hostLinks();
  for (int i = 0; i < 100 && !links.empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    links = hostLinks();
  }
  if (checking) {
    INFO("links left with prefix " << bridgePrefix_);
    CHECK(links.empty());
  }
  if (auto netlink = net::Netlink::open())
    for (const std::string& link : links) (void)netlink->deleteLink(link);
  auto firewall = net::Firewall::open(bridgePrefix_, bridgePrefix_);
  if (!firewall) {
    if (checking) FAIL_CHECK("nftables: " << firewall.error().describe());
    return;
  }
  auto table = firewall->tableExists();
  if (checking) {
    INFO("firewall table " << bridgePrefix_);
    CHECK((table && !*table));
  }
  (void)firewall->remove();
}

Reply Service::call(const std::string& method, const std::string& path, const std::string& token,
                    const std::optional<std::string>& body, const std::map<std::string, std::string>& headers) const {
  // https:// checks the server's certificate against the test's own CA (itself).
  httplib::Client client((options_.withTls ? "https://127.0.0.1:" : "http://127.0.0.1:") + std::to_string(port_));
  if (options_.withTls) {
    client.set_ca_cert_path(tlsCertPath().c_str());
    client.enable_server_certificate_verification(true);
  }
  client.set_read_timeout(std::chrono::seconds(120));
  httplib::Request request;
  request.method = method;
  request.path = path;
  if (!token.empty()) request.set_header("Authorization", "Bearer " + token);
  for (const auto& [name, value] : headers) request.set_header(name, value);
  if (body) {
    request.body = *body;
    if (!request.has_header("Content-Type")) request.set_header("Content-Type", "application/json");
  }
  auto response = client.send(request);
  Reply reply;
  if (!response) {
    FAIL_CHECK(method << " " << path << ": " << httplib::to_string(response.error()));
    return reply;
  }
  reply.status = response->status;
  reply.text = response->body;
  for (const auto& [name, value] : response->headers) reply.headers[name] = value;
  reply.body = Json::parse(reply.text, nullptr, false);
  if (reply.body.is_discarded()) reply.body = nullptr;
  return reply;
}

std::string Service::adminPassword() const { return readTrimmed(dataDir_ + "/admin.password"); }

std::string Service::login(const std::string& username, const std::string& password) const {
  Reply reply = post("/api/v1/auth/login", "", Json{{"username", username}, {"password", password}}.dump());
  INFO(reply.text);
  REQUIRE(reply.status == 200);
  return reply.data()["token"];
}

TestUser Service::createUser(const std::string& username, const std::string& role) const {
  TestUser user;
  user.username = username;
  user.password = "password-of-" + username;
  Reply created = post("/api/v1/users", adminToken_,
                       Json{{"username", username}, {"password", user.password}, {"role", role}}.dump());
  INFO(created.text);
  REQUIRE(created.status == 201);
  user.id = created.data()["id"];
  user.token = login(username, user.password);
  Reply projects = get("/api/v1/projects", user.token);
  REQUIRE(projects.status == 200);
  for (const auto& project : projects.data()["projects"])
    if (project["owner_id"] == user.id) user.personalProjectId = project["id"];
  REQUIRE_FALSE(user.personalProjectId.empty());
  return user;
}

size_t Service::trapsSet(const std::string& id) const {
  Reply reply = get(containerPath(id) + "/logs", adminToken_);
  size_t count = 0;
  for (size_t at = reply.text.find("ready\n"); at != std::string::npos; at = reply.text.find("ready\n", at + 1)) ++count;
  return count;
}

// kTermInit says "ready" once its TERM trap is set. An init ignores a signal
// it has no handler for, so a stop sent sooner (on a busy host) would be lost.
void Service::awaitTrap(const Json& container, size_t before) const {
  if (container.value("status", "") != "running" || container.value("command", Json()) != Json(kTermInit)) return;
  for (int i = 0; i < 100 && trapsSet(container["id"]) <= before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(trapsSet(container["id"]) > before);
}

Json Service::createContainer(const std::string& token, const Json& body, int expectStatus) const {
  Reply reply = post("/api/v1/containers", token, body.dump());
  INFO(reply.text);
  REQUIRE(reply.status == expectStatus);
  if (!reply.body.contains("data")) return Json();
  if (expectStatus == 201) awaitTrap(reply.data(), 0);
  return reply.data();
}

Reply Service::operate(const std::string& token, const std::string& id, const std::string& operation,
                       int expectStatus, const std::string& query) const {
  const bool starts = expectStatus == 200 && (operation == "start" || operation == "restart");
  const size_t before = starts ? trapsSet(id) : 0;
  Reply reply = post(containerPath(id) + "/" + operation + query, token);
  INFO(operation << ": " << reply.text);
  REQUIRE(reply.status == expectStatus);
  if (starts) awaitTrap(getContainer(id, adminToken_), before);
  return reply;
}

std::string Service::logsOf(const std::string& id) const {
  Reply reply = get(containerPath(id) + "/logs", adminToken_);
  REQUIRE(reply.status == 200);
  return reply.text;
}

bool Service::awaitLog(const std::string& id, const std::string& text, std::chrono::milliseconds limit) const {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (logsOf(id).find(text) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

Json Service::getContainer(const std::string& id, const std::string& token) const {
  Reply reply = get(containerPath(id), token);
  INFO(reply.text);
  REQUIRE(reply.status == 200);
  return reply.data();
}

Json Service::waitForStatus(const std::string& id, const std::string& status, std::chrono::milliseconds timeout) const {
  auto end = std::chrono::steady_clock::now() + timeout;
  Json container;
  while (std::chrono::steady_clock::now() < end) {
    container = getContainer(id, adminToken_);
    if (container["status"] == status) return container;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("container " << id << " did not reach " << status << "; last seen: " << container.dump());
  return container;
}

}  // namespace berth::e2e
