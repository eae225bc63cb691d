// HTTP benchmark of berthd (run as root, not a test):
//   build/bench/bench_api_latency [iterations=100] [get-seconds=5] [phases=memory,latency,get,events,network,parked,isolation,durability]
// Starts the berthd next to this build (../cmd/berthd) on a free loopback
// port with a scratch data dir, run dir and cgroup root, then reports
//   - median and p99 latency over one keep-alive connection of create,
//     start, pause, resume, stop (an init that exits on SIGTERM), force-stop,
//     restart, delete, get and a status-logs page;
//   - GET throughput with 64 concurrent keep-alive connections;
//   - berthd's RSS idle and with 100 running containers;
//   - the event streams: a change's event at 1, 100 and 1,000 subscribers,
//     events per second to 100 subscribers, berthd's memory per idle
//     subscriber, and start/pause/resume with and without 100 subscribers;
//   - networking: start and stop of a `none` and a `bridge` container taking
//     turns, and the connection rate to a container's HTTP server through its
//     published port (the shim's proxy) and straight to its address;
//   - slow clients: GET latency (a keep-alive connection and a fresh one each
//     time) with 0, 500 and 2,000 connections parked on berthd (a third
//     silent, a third trickling a header a byte a second, a third kept alive
//     after a request), from 127.0.1.x addresses (200 each, under the
//     per-client cap), and berthd's memory per parked connection.
//   - isolation: start of a host-root and a user-namespace container taking
//     turns (what the user namespace and its idmapped root add).
//   - the durability modes (host, then a second berthd with `process`): pause
//     and resume of a settled container, and 100 containers paused at once.
// Everything it made is deleted at the end. Its bridges use the prefix
// `bbench` and 10.203.0.0/16, so a real instance's are never touched.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

// Exits on SIGTERM at once: `wait` returns as soon as the trapped signal arrives.
const Json kTermInit = {"/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000 & wait"};
constexpr int kThroughputConnections = 64;
constexpr int kRssContainers = 100;

std::string selfDir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n < 0) throw std::runtime_error("readlink /proc/self/exe");
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.find_last_of('/'));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

long rssKib(pid_t pid) {
  std::istringstream status(readFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

class Daemon {
 public:
  // extraYaml: more config keys (durability: process).
  explicit Daemon(std::string extraYaml = "") : extraYaml_(std::move(extraYaml)) {
    char pattern[] = "/tmp/berth-bench-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp");
    dir_ = pattern;
    cgroupRoot_ = "berth-bench-" + std::to_string(::getpid());
    try {
      start();
    } catch (...) {
      shutdown();  // the destructor does not run for a constructor that throws
      throw;
    }
  }

  ~Daemon() {
    deleteAll();
    shutdown();
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  httplib::Headers auth() const { return {{"Authorization", "Bearer " + token_}}; }

  std::unique_ptr<httplib::Client> client() const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port_);
    client->set_keep_alive(true);
    // A request with a body goes out in two writes: without this, Nagle holds
    // the body until the server's delayed ACK (40 ms), which times the client.
    client->set_tcp_nodelay(true);
    client->set_read_timeout(std::chrono::seconds(120));
    return client;
  }

  void deleteAll() const {
    auto http = client();
    for (;;) {
      auto list = http->Get("/api/v1/containers?limit=100", auth());
      if (!list || list->status != 200) return;
      auto containers = Json::parse(list->body)["data"]["containers"];
      if (containers.empty()) return;
      for (const auto& container : containers)
        http->Delete(("/api/v1/containers/" + container["id"].get<std::string>() + "?force=true").c_str(), auth());
    }
  }

 private:
  // Starts berthd, reads its port from stdout and logs in as admin.
  void start() {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    std::string binary = selfDir() + "/../cmd/berthd";
    std::ofstream(dir_ + "/berthd.yaml") << "bridge_prefix: bbench\nbridge_subnet: 10.203.0.0/16\n" << extraYaml_;
    std::vector<std::string> args = {binary,          "--listen",   "127.0.0.1:0", "--data-dir",  dir_ + "/data",
                                     "--run-dir",     dir_ + "/run", "--cgroup-root", cgroupRoot_, "--log-level",
                                     "warn",          "--config",   dir_ + "/berthd.yaml"};
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    pollfd pfd{out[0], POLLIN, 0};
    while (::poll(&pfd, 1, 30000) > 0 && ::read(out[0], &c, 1) == 1 && c != '\n') line.push_back(c);
    ::close(out[0]);
    const std::string prefix = "listening on 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0) throw std::runtime_error("berthd did not start: " + line);
    port_ = std::stoi(line.substr(prefix.size()));
    std::string password = readFile(dir_ + "/data/admin.password");
    while (!password.empty() && password.back() == '\n') password.pop_back();
    httplib::Client client("127.0.0.1", port_);
    auto login = client.Post("/api/v1/auth/login", Json{{"username", "admin"}, {"password", password}}.dump(),
                             "application/json");
    if (!login || login->status != 200) throw std::runtime_error("login failed");
    token_ = Json::parse(login->body)["data"]["token"];
  }

  // Stops berthd (containers are already gone) and removes its directories and root groups.
  void shutdown() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
    // The service leaves its empty root groups behind; remove them.
    if (DIR* hierarchies = ::opendir("/sys/fs/cgroup")) {
      while (dirent* entry = ::readdir(hierarchies))
        ::rmdir(("/sys/fs/cgroup/" + std::string(entry->d_name) + "/" + cgroupRoot_).c_str());
      ::closedir(hierarchies);
    }
    ::rmdir(("/sys/fs/cgroup/" + cgroupRoot_).c_str());
    // The storage pool stays mounted when berthd exits (containers may live on); the bench's goes with it.
    for (int i = 0; i < 100 && ::umount2((dir_ + "/data/storage/pool").c_str(), 0) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::system(("rm -rf --one-file-system '" + dir_ + "'").c_str());
  }

  std::string extraYaml_;
  std::string dir_;
  std::string cgroupRoot_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string token_;
};

class Timings {
 public:
  template <typename F>
  auto measure(const std::string& name, F&& call) {
    auto t0 = Clock::now();
    auto result = call();
    samples_[name].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (!result || result->status >= 300)
      throw std::runtime_error(name + " failed: " + (result ? result->body : httplib::to_string(result.error())));
    return result;
  }

  void print(const std::vector<std::string>& order) {
    std::printf("%-12s %8s %10s %10s\n", "operation", "samples", "median ms", "p99 ms");
    for (const auto& name : order) {
      auto& values = samples_[name];
      std::sort(values.begin(), values.end());
      auto at = [&](double q) { return values[std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())))]; };
      std::printf("%-12s %8zu %10.2f %10.2f\n", name.c_str(), values.size(), at(0.5), at(0.99));
    }
  }

 private:
  std::map<std::string, std::vector<double>> samples_;
};

std::string idOf(const httplib::Result& result) { return Json::parse(result->body)["data"]["id"]; }

void latency(const Daemon& daemon, int iterations) {
  auto http = daemon.client();
  auto headers = daemon.auth();
  Timings timings;
  for (int i = 0; i < iterations; ++i) {
    std::string body = Json{{"name", "lat" + std::to_string(i)}, {"command", kTermInit}, {"autostart", false}}.dump();
    auto created = timings.measure("create", [&] { return http->Post("/api/v1/containers", headers, body, "application/json"); });
    std::string path = "/api/v1/containers/" + idOf(created);
    auto operate = [&](const std::string& operation) {
      timings.measure(operation, [&] { return http->Post((path + "/" + operation).c_str(), headers, "", "application/json"); });
    };
    operate("start");
    // As in bench_runtime_core: a freeze right after start waits for the shell
    // to finish exec'ing; pause is timed, as it is used, on a settled container.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    operate("pause");
    operate("resume");
    operate("stop");
    operate("start");
    operate("force-stop");
    operate("restart");  // from stopped: a start
    // A shell that has not set its trap yet ignores SIGTERM (it is pid 1), and
    // the stop would wait out the whole grace period.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    operate("restart");  // from running: graceful stop, then start
    for (int j = 0; j < 10; ++j) {
      timings.measure("get", [&] { return http->Get(path.c_str(), headers); });
      timings.measure("status-logs", [&] { return http->Get((path + "/status-logs?limit=10").c_str(), headers); });
    }
    operate("force-stop");
    timings.measure("delete", [&] { return http->Delete(path.c_str(), headers); });
  }
  timings.print({"create", "start", "pause", "resume", "stop", "force-stop", "restart", "delete", "get", "status-logs"});
}

// A wrk-like load generator: one thread drives every keep-alive connection
// through epoll, one request in flight on each, so the host's CPU goes to
// berthd rather than to the client.
class GetLoad {
 public:
  GetLoad(int port, std::string request, int connections) : port_(port), request_(std::move(request)) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::runtime_error("epoll_create1");
    connections_.resize(static_cast<size_t>(connections));
    for (size_t i = 0; i < connections_.size(); ++i) open(i);
  }
  ~GetLoad() {
    for (auto& connection : connections_) ::close(connection.fd);
    ::close(epoll_);
  }

  void run(std::chrono::seconds duration) {
    for (size_t i = 0; i < connections_.size(); ++i) send(i);
    auto end = Clock::now() + duration;
    epoll_event events[64];
    while (Clock::now() < end) {
      int n = ::epoll_wait(epoll_, events, 64, 10);
      for (int e = 0; e < n; ++e) receive(events[e].data.u64);
    }
  }

  uint64_t ok() const { return ok_; }
  uint64_t failed() const { return failed_; }

 private:
  struct Connection {
    int fd = -1;
    std::string buffer;
  };

  void open(size_t index) {
    Connection& connection = connections_[index];
    connection.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(connection.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
      throw std::runtime_error("connect");
    int one = 1;
    ::setsockopt(connection.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = index;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, connection.fd, &event);
    connection.buffer.clear();
  }

  void send(size_t index) {
    if (::write(connections_[index].fd, request_.data(), request_.size()) != static_cast<ssize_t>(request_.size()))
      throw std::runtime_error("short write of a request");
  }

  void receive(size_t index) {
    Connection& connection = connections_[index];
    char chunk[16384];
    ssize_t n = ::read(connection.fd, chunk, sizeof chunk);
    if (n <= 0) {  // the server ended the keep-alive: reconnect
      ::close(connection.fd);
      open(index);
      send(index);
      return;
    }
    connection.buffer.append(chunk, static_cast<size_t>(n));
    size_t headerEnd = connection.buffer.find("\r\n\r\n");
    if (headerEnd == std::string::npos) return;
    size_t length = 0;
    size_t field = connection.buffer.find("Content-Length: ");
    if (field != std::string::npos && field < headerEnd) length = std::stoul(connection.buffer.substr(field + 16));
    if (connection.buffer.size() < headerEnd + 4 + length) return;
    (connection.buffer.compare(9, 3, "200") == 0 ? ok_ : failed_)++;
    connection.buffer.erase(0, headerEnd + 4 + length);
    send(index);
  }

  int port_;
  std::string request_;
  int epoll_ = -1;
  std::vector<Connection> connections_;
  uint64_t ok_ = 0;
  uint64_t failed_ = 0;
};

void throughput(const Daemon& daemon, int seconds) {
  auto http = daemon.client();
  auto created = http->Post("/api/v1/containers", daemon.auth(),
                            Json{{"name", "target"}, {"command", kTermInit}}.dump(), "application/json");
  if (!created || created->status != 201) throw std::runtime_error("create for the GET benchmark failed");
  std::string path = "/api/v1/containers/" + idOf(created);
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                        daemon.auth().begin()->second + "\r\n\r\n";
  GetLoad load(daemon.port(), request, kThroughputConnections);
  auto t0 = Clock::now();
  load.run(std::chrono::seconds(seconds));
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("GET %s with %d connections: %.0f req/s (%llu ok, %llu failed, %.1f s)\n", "/api/v1/containers/{id}",
              kThroughputConnections, static_cast<double>(load.ok()) / elapsed,
              static_cast<unsigned long long>(load.ok()), static_cast<unsigned long long>(load.failed()), elapsed);
}

void memory(const Daemon& daemon) {
  std::printf("berthd RSS idle: %.1f MiB\n", static_cast<double>(rssKib(daemon.pid())) / 1024.0);
  auto http = daemon.client();
  for (int i = 0; i < kRssContainers; ++i) {
    auto created = http->Post("/api/v1/containers", daemon.auth(),
                              Json{{"name", "rss" + std::to_string(i)}, {"command", kTermInit}}.dump(), "application/json");
    if (!created || created->status != 201) throw std::runtime_error("create for the RSS measurement failed");
  }
  std::printf("berthd RSS with %d running containers: %.1f MiB\n", kRssContainers,
              static_cast<double>(rssKib(daemon.pid())) / 1024.0);
}

// Subscribers of GET /api/v1/events on raw sockets, drained through one epoll.
class Subscribers {
 public:
  Subscribers(const Daemon& daemon, size_t count) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) throw std::runtime_error("epoll_create1");
    std::string request = "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " +
                          daemon.auth().begin()->second + "\r\n\r\n";
    streams_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      Stream& stream = streams_[i];
      stream.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_port = htons(static_cast<uint16_t>(daemon.port()));
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(stream.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        throw std::runtime_error("connect a subscriber");
      if (::write(stream.fd, request.data(), request.size()) != static_cast<ssize_t>(request.size()))
        throw std::runtime_error("short write of a subscription");
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = i;
      ::epoll_ctl(epoll_, EPOLL_CTL_ADD, stream.fd, &event);
    }
    // Every one has its head (and retry) before anything is timed.
    while (std::any_of(streams_.begin(), streams_.end(), [](const Stream& s) { return s.tail.find("retry:") == std::string::npos && s.events == 0; }))
      drain(std::chrono::milliseconds(100));
  }
  ~Subscribers() {
    for (auto& stream : streams_) ::close(stream.fd);
    ::close(epoll_);
  }

  // Reads what has come; counts the events each stream has received.
  void drain(std::chrono::milliseconds wait) {
    epoll_event events[256];
    int n = ::epoll_wait(epoll_, events, 256, static_cast<int>(wait.count()));
    for (int e = 0; e < n; ++e) {
      Stream& stream = streams_[events[e].data.u64];
      char chunk[65536];
      ssize_t got = ::read(stream.fd, chunk, sizeof chunk);
      if (got <= 0) throw std::runtime_error("an event stream ended");
      stream.tail.append(chunk, static_cast<size_t>(got));
      for (size_t at; (at = stream.tail.find("\nevent: ")) != std::string::npos; stream.tail.erase(0, at + 8)) ++stream.events;
      if (stream.tail.size() > 16) stream.tail.erase(0, stream.tail.size() - 16);
    }
  }
  // Waits until every stream has received `count` events in all.
  void awaitAll(uint64_t count) {
    auto deadline = Clock::now() + std::chrono::seconds(30);
    while (std::any_of(streams_.begin(), streams_.end(), [count](const Stream& s) { return s.events < count; })) {
      if (Clock::now() > deadline) throw std::runtime_error("subscribers did not get every event");
      drain(std::chrono::milliseconds(10));
    }
  }
  uint64_t received() const { return streams_.empty() ? 0 : streams_.front().events; }

 private:
  struct Stream {
    int fd = -1;
    std::string tail;
    uint64_t events = 0;
  };
  int epoll_ = -1;
  std::vector<Stream> streams_;
};

double percentile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  return values[std::min(values.size() - 1, static_cast<size_t>(q * static_cast<double>(values.size())))];
}

void events(const Daemon& daemon, int iterations) {
  auto http = daemon.client();
  auto created = http->Post("/api/v1/containers", daemon.auth(),
                            Json{{"name", "evented"}, {"command", kTermInit}}.dump(), "application/json");
  if (!created || created->status != 201) throw std::runtime_error("create for the events benchmark failed");
  std::string path = "/api/v1/containers/" + idOf(created);
  // A change (PATCH autostart) commits one event; the time runs from the
  // request to the event at the last subscriber, and for the request alone.
  for (size_t count : {size_t{1}, size_t{100}, size_t{1000}}) {
    Subscribers subscribers(daemon, count);
    std::vector<double> toEvent, request;
    for (int i = 0; i < iterations; ++i) {
      auto t0 = Clock::now();
      auto patched = http->Patch(path.c_str(), daemon.auth(), Json{{"autostart", i % 2 == 0}}.dump(), "application/json");
      request.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      if (!patched || patched->status != 200) throw std::runtime_error("PATCH failed");
      subscribers.awaitAll(static_cast<uint64_t>(i) + 1);
      toEvent.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::printf("event at %4zu subscribers: request to last subscriber median %.2f ms p99 %.2f ms (request alone %.2f ms)\n",
                count, percentile(toEvent, 0.5), percentile(toEvent, 0.99), percentile(request, 0.5));
  }
  {
    Subscribers subscribers(daemon, 100);
    constexpr int kChanges = 2000;
    auto t0 = Clock::now();
    for (int i = 0; i < kChanges; ++i) {
      auto patched = http->Patch(path.c_str(), daemon.auth(), Json{{"autostart", i % 2 == 0}}.dump(), "application/json");
      if (!patched || patched->status != 200) throw std::runtime_error("PATCH failed");
      subscribers.drain(std::chrono::milliseconds(0));
    }
    subscribers.awaitAll(kChanges);
    double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("%d events to 100 subscribers in %.2f s: %.0f events/s delivered to each\n", kChanges, seconds,
                kChanges / seconds);
  }
  long before = rssKib(daemon.pid());
  {
    Subscribers idle(daemon, 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::printf("berthd memory per idle subscriber (1000 open): %.1f KiB\n",
                static_cast<double>(rssKib(daemon.pid()) - before) / 1000.0);
  }
  // Each round: start (after an untimed stop), then a pause on a settled
  // container (a pause right after a start or resume waits for the shell to
  // settle, which would hide what an event costs), then resume: four events.
  auto operations = [&](const char* label) {
    std::vector<double> start, pause, resume;
    auto post = [&](const std::string& operation) {
      auto t0 = Clock::now();
      if (auto r = http->Post((path + "/" + operation).c_str(), daemon.auth(), "", "application/json"); !r || r->status != 200)
        throw std::runtime_error(operation + " failed");
      return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };
    for (int i = 0; i < iterations; ++i) {
      post("stop");
      start.push_back(post("start"));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      pause.push_back(post("pause"));
      resume.push_back(post("resume"));
    }
    std::printf("start / pause / resume %s: median %.2f / %.2f / %.2f ms\n", label, percentile(start, 0.5),
                percentile(pause, 0.5), percentile(resume, 0.5));
  };
  operations("without subscribers");
  {
    Subscribers hundred(daemon, 100);
    std::thread reading([&] {
      // The subscribers stand for clients elsewhere: on these 2 cores they
      // must not be what slows the operations being timed.
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
      try {
        hundred.awaitAll(static_cast<uint64_t>(iterations) * 4);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_api_latency: %s\n", e.what());
      }
    });
    operations("with 100 subscribers");
    reading.join();
  }
}

// One HTTP/1.0 GET on a fresh connection; the time from connect to the end of the answer.
double fetchMs(const std::string& ip, int port) {
  auto t0 = Clock::now();
  int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw std::runtime_error("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip.c_str(), &address.sin_addr);
  bool ok = ::connect(sock, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  const char request[] = "GET / HTTP/1.0\r\n\r\n";
  ok = ok && ::send(sock, request, sizeof request - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof request - 1);
  char buf[4096];
  size_t got = 0;
  for (ssize_t n; ok && (n = ::recv(sock, buf, sizeof buf, 0)) > 0;) got += static_cast<size_t>(n);
  ::close(sock);
  if (!ok || got == 0) throw std::runtime_error("fetch from " + ip + ":" + std::to_string(port) + " failed");
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// A loopback socket to berthd from `source` (each client address has its own connection cap).
int connectFrom(int port, const std::string& source) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in from{};
  from.sin_family = AF_INET;
  ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    throw std::runtime_error("connect from " + source + ": " + std::strerror(errno));
  }
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  return fd;
}

// Connections as an attacker holds them: silent, trickling a header, or kept
// alive after one request. None completes a request while it is open.
class ParkedConnections {
 public:
  ParkedConnections(int port, size_t count) {
    const std::string request = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    for (size_t i = 0; i < count; ++i) {
      int fd = connectFrom(port, "127.0.1." + std::to_string(1 + i / 200));
      fds_.push_back(fd);
      if (i % 3 == 1) {
        std::string head = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
        (void)::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
        trickling_.push_back(fd);
      } else if (i % 3 == 2) {
        (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
        kept_.push_back(fd);
      }
    }
    // Their answers (a service that gives each connection a worker may never give them one).
    std::vector<int> waiting = kept_;
    for (auto until = Clock::now() + std::chrono::seconds(3); !waiting.empty() && Clock::now() < until;) {
      std::erase_if(waiting, [](int fd) {
        char answer[512];
        return ::recv(fd, answer, sizeof answer, MSG_DONTWAIT) > 0;
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    unansweredKept_ = waiting.size();
  }
  size_t unansweredKept() const { return unansweredKept_; }
  ~ParkedConnections() {
    for (int fd : fds_) ::close(fd);
  }
  void trickle() {
    for (int fd : trickling_) (void)::send(fd, "a", 1, MSG_NOSIGNAL);
  }

 private:
  std::vector<int> fds_;
  std::vector<int> trickling_;
  std::vector<int> kept_;
  size_t unansweredKept_ = 0;
};

void parked(const Daemon& daemon, int seconds) {
  auto http = daemon.client();
  auto created = http->Post("/api/v1/containers", daemon.auth(),
                            Json{{"name", "parked"}, {"autostart", false}}.dump(), "application/json");
  if (!created || created->status != 201) throw std::runtime_error("create for the parked benchmark failed");
  std::string path = "/api/v1/containers/" + idOf(created);
  // First, on a fresh heap: what a connection that never reaches a worker costs.
  long beforeKib = rssKib(daemon.pid());
  {
    std::vector<int> silent;
    for (size_t i = 0; i < 2000; ++i) silent.push_back(connectFrom(daemon.port(), "127.0.2." + std::to_string(1 + i / 200)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    std::printf("berthd memory per silent connection (2000 open): %.2f KiB\n",
                static_cast<double>(rssKib(daemon.pid()) - beforeKib) / 2000.0);
    for (int fd : silent) ::close(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // The rounds below reuse what the silent ones freed: their deltas are marginal.
  long idleKib = rssKib(daemon.pid());
  long previousKib = idleKib;
  size_t previousCount = 0;
  for (size_t count : {size_t{0}, size_t{500}, size_t{2000}}) {
    ParkedConnections connections(daemon.port(), count);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    long withKib = rssKib(daemon.pid());
    std::vector<double> kept, fresh;
    size_t unanswered = 0;
    // Within the header timeout (10 s) of the trickling ones.
    auto until = Clock::now() + std::chrono::seconds(std::min(seconds, 6));
    auto nextTrickle = Clock::now();
    auto keptClient = daemon.client();
    keptClient->set_read_timeout(std::chrono::seconds(5));
    while (Clock::now() < until) {
      if (Clock::now() >= nextTrickle) {
        connections.trickle();
        nextTrickle += std::chrono::seconds(1);
      }
      auto t0 = Clock::now();
      auto got = keptClient->Get(path.c_str(), daemon.auth());
      if (got && got->status == 200) kept.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      else ++unanswered;
      httplib::Client client("127.0.0.1", daemon.port());
      client.set_connection_timeout(std::chrono::seconds(5));
      client.set_read_timeout(std::chrono::seconds(5));
      t0 = Clock::now();
      got = client.Get(path.c_str(), daemon.auth());
      if (got && got->status == 200) fresh.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      else ++unanswered;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::printf("GET with %4zu parked connections:", count);
    auto worst = [](const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); };
    if (!kept.empty())
      std::printf(" keep-alive median %.2f p99 %.2f max %.2f ms;", percentile(kept, 0.5), percentile(kept, 0.99), worst(kept));
    if (!fresh.empty())
      std::printf(" new connection median %.2f p99 %.2f max %.2f ms;", percentile(fresh, 0.5), percentile(fresh, 0.99),
                  worst(fresh));
    std::printf(" %zu GETs unanswered within 5 s", unanswered);
    if (count > 0) {
      // The first ones also pay one-time costs (worker stacks first touched by the kept-alive requests).
      std::printf("; %zu kept-alive requests unanswered; berthd memory per parked connection %.2f KiB (%.2f KiB each past %zu)",
                  connections.unansweredKept(), static_cast<double>(withKib - idleKib) / static_cast<double>(count),
                  static_cast<double>(withKib - previousKib) / static_cast<double>(count - previousCount), previousCount);
    }
    std::printf("\n");
    previousKib = withKib;
    previousCount = count;
  }
}

// A container made over `http` (201 or an exception); its data object.
Json createOver(httplib::Client& http, const Daemon& daemon, const Json& body) {
  auto created = http.Post("/api/v1/containers", daemon.auth(), body.dump(), "application/json");
  if (!created || created->status != 201) throw std::runtime_error("create failed: " + (created ? created->body : ""));
  return Json::parse(created->body)["data"];
}

// POST <path>/<operation> over `http` (200 or an exception); its latency in ms.
double timedOperation(httplib::Client& http, const Daemon& daemon, const std::string& path, const std::string& operation) {
  auto t0 = Clock::now();
  auto r = http.Post((path + "/" + operation).c_str(), daemon.auth(), "", "application/json");
  if (!r || r->status != 200) throw std::runtime_error(operation + " failed: " + (r ? r->body : ""));
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void network(const Daemon& daemon, int iterations) {
  auto http = daemon.client();
  auto create = [&](const Json& body) { return createOver(*http, daemon, body); };
  auto post = [&](const std::string& id, const std::string& operation) {
    return timedOperation(*http, daemon, "/api/v1/containers/" + id, operation);
  };
  // Taking turns, so the host's drift falls on both alike.
  std::string none = create({{"name", "net-none"}, {"command", kTermInit}, {"autostart", false}})["id"];
  std::string bridge = create({{"name", "net-bridge"}, {"command", kTermInit}, {"autostart", false}, {"network", "bridge"}})["id"];
  std::vector<double> startNone, startBridge, stopNone, stopBridge;
  // Each start alone (what one before it leaves the kernel doing, a namespace
  // torn down or an RCU grace period, is over), in turns of which goes first.
  auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(150)); };
  for (int i = 0; i < iterations; ++i) {
    bool noneFirst = i % 2 == 0;
    (noneFirst ? startNone : startBridge).push_back(post(noneFirst ? none : bridge, "start"));
    settle();
    (noneFirst ? startBridge : startNone).push_back(post(noneFirst ? bridge : none, "start"));
    settle();
    stopNone.push_back(post(none, "stop"));
    settle();
    stopBridge.push_back(post(bridge, "stop"));
    settle();
  }
  std::printf("start none / bridge: median %.2f / %.2f ms (p99 %.2f / %.2f)\n", percentile(startNone, 0.5),
              percentile(startBridge, 0.5), percentile(startNone, 0.99), percentile(startBridge, 0.99));
  std::printf("stop  none / bridge: median %.2f / %.2f ms\n", percentile(stopNone, 0.5), percentile(stopBridge, 0.5));

  // busybox httpd forks a child per connection, inside the container's limits.
  int hostPort = 18000 + static_cast<int>(::getpid() % 1000);
  Json web = create({{"name", "net-web"},
                     {"network", "bridge"},
                     {"command", {"/bin/sh", "-c", "mkdir -p /www && echo pong > /www/index.html && exec httpd -f -p 80 -h /www"}},
                     {"ports", {{{"container_port", 80}, {"host_port", hostPort}}}}});
  std::string ip = web["network"]["ip"];
  for (int i = 0; i < 50; ++i) {
    try {
      fetchMs(ip, 80);
      break;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  std::vector<double> direct, proxied;
  for (int i = 0; i < iterations * 10; ++i) {
    direct.push_back(fetchMs(ip, 80));
    proxied.push_back(fetchMs("127.0.0.1", hostPort));
  }
  auto rate = [](const std::vector<double>& samples) {
    double total = 0;
    for (double ms : samples) total += ms;
    return 1000.0 * static_cast<double>(samples.size()) / total;
  };
  std::printf("HTTP GET, one connection each: to the container %.0f conn/s (median %.3f ms), through its published port %.0f conn/s (median %.3f ms)\n",
              rate(direct), percentile(direct, 0.5), rate(proxied), percentile(proxied, 0.5));
}

// What a user namespace with an idmapped root adds to a start (issue 21):
// host-root and user-namespace containers started in turns, each alone.
void isolation(const Daemon& daemon, int iterations) {
  auto http = daemon.client();
  auto create = [&](const Json& body) { return createOver(*http, daemon, body); };
  auto post = [&](const std::string& id, const std::string& operation) {
    return timedOperation(*http, daemon, "/api/v1/containers/" + id, operation);
  };
  std::string hostRoot = create({{"name", "iso-host"}, {"command", kTermInit}, {"autostart", false}})["id"];
  std::string userns =
      create({{"name", "iso-userns"}, {"command", kTermInit}, {"autostart", false}, {"isolation", "user-namespace"}})["id"];
  std::vector<double> startHost, startUserns, delta;
  auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(150)); };
  for (int i = 0; i < iterations; ++i) {
    bool hostFirst = i % 2 == 0;
    double first = post(hostFirst ? hostRoot : userns, "start");
    settle();
    double second = post(hostFirst ? userns : hostRoot, "start");
    settle();
    startHost.push_back(hostFirst ? first : second);
    startUserns.push_back(hostFirst ? second : first);
    delta.push_back(startUserns.back() - startHost.back());
    post(hostRoot, "force-stop");
    post(userns, "force-stop");
    settle();
  }
  std::printf("start host-root / user-namespace: median %.2f / %.2f ms (p99 %.2f / %.2f); added per pair: median %.2f ms\n",
              percentile(startHost, 0.5), percentile(startUserns, 0.5), percentile(startHost, 0.99),
              percentile(startUserns, 0.99), percentile(delta, 0.5));
}

// The durability modes: pause and resume of one settled container over one
// keep-alive connection, then 100 running containers paused at once (and
// resumed at once), each by its own connection.
void durability(const Daemon& daemon, const char* mode, int iterations) {
  auto http = daemon.client();
  auto create = [&](const std::string& name) {
    Json made = createOver(*http, daemon, {{"name", name}, {"command", kTermInit}, {"autostart", true}});
    return "/api/v1/containers/" + made["id"].get<std::string>();
  };
  auto post = [&](httplib::Client& client, const std::string& path, const std::string& operation) {
    return timedOperation(client, daemon, path, operation);
  };
  std::string one = create("dur-one");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::vector<double> pause, resume;
  for (int i = 0; i < iterations; ++i) {
    pause.push_back(post(*http, one, "pause"));
    resume.push_back(post(*http, one, "resume"));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // settled again, as a pause is used
  }
  std::vector<std::string> many;
  for (int i = 0; i < kRssContainers; ++i) many.push_back(create("dur-" + std::to_string(i)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::vector<std::unique_ptr<httplib::Client>> clients;
  for (size_t i = 0; i < many.size(); ++i) clients.push_back(daemon.client());
  for (auto& client : clients) client->Get("/healthz");  // connected before the clock starts
  auto atOnce = [&](const std::string& operation) {
    std::vector<std::thread> threads;
    std::atomic<int> failed{0};
    std::atomic<int> ready{0};
    std::atomic<bool> go{false};
    for (size_t i = 0; i < many.size(); ++i) {
      threads.emplace_back([&, i] {
        ++ready;
        while (!go) std::this_thread::yield();
        try {
          post(*clients[i], many[i], operation);
        } catch (const std::exception&) {
          ++failed;
        }
      });
    }
    while (ready < static_cast<int>(many.size())) std::this_thread::yield();
    auto t0 = Clock::now();
    go = true;
    for (auto& t : threads) t.join();
    if (failed != 0) throw std::runtime_error(operation + " of " + std::to_string(failed.load()) + " containers at once failed");
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  std::vector<double> pausedAll, resumedAll;
  for (int round = 0; round < 5; ++round) {
    pausedAll.push_back(atOnce("pause"));
    resumedAll.push_back(atOnce("resume"));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::printf("durability %-7s: pause / resume median %.2f / %.2f ms (p99 %.2f / %.2f); %zu containers paused at once %.1f ms, resumed at once %.1f ms (medians of 5)\n",
              mode, percentile(pause, 0.5), percentile(resume, 0.5), percentile(pause, 0.99), percentile(resume, 0.99),
              many.size(), percentile(pausedAll, 0.5), percentile(resumedAll, 0.5));
}

}  // namespace

int main(int argc, char* argv[]) {
  if (::geteuid() != 0) {
    std::fprintf(stderr, "bench_api_latency needs root (it runs containers)\n");
    return 1;
  }
  int iterations = argc > 1 ? std::atoi(argv[1]) : 100;
  int getSeconds = argc > 2 ? std::atoi(argv[2]) : 5;
  // A thousand subscribers: more than the usual 1024 descriptors here.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  try {
    std::string phases = argc > 3 ? argv[3] : "memory,latency,get,events,network,parked,isolation,durability";
    auto runs = [&](const std::string& phase) { return ("," + phases + ",").find("," + phase + ",") != std::string::npos; };
    Daemon daemon;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // let startup allocations settle
    if (runs("memory")) memory(daemon);
    daemon.deleteAll();
    if (runs("latency")) latency(daemon, iterations);
    if (runs("get")) throughput(daemon, getSeconds);
    daemon.deleteAll();
    if (runs("events")) events(daemon, iterations);
    daemon.deleteAll();
    if (runs("network")) network(daemon, iterations);
    daemon.deleteAll();
    if (runs("parked")) parked(daemon, getSeconds);
    if (runs("isolation")) isolation(daemon, iterations);
    if (runs("durability")) {
      durability(daemon, "host", iterations);
      Daemon processMode("durability: process\n");
      durability(processMode, "process", iterations);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_api_latency: %s\n", e.what());
    return 1;
  }
  return 0;
}
