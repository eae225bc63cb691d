// berthd: the berth service. Reads the config file and flags, opens the
// store, the runtime core and the accounts, then serves the HTTP API until
// SIGTERM or SIGINT. Containers keep running when it exits; the next start
// adopts them again.
//
// Once the API socket is bound it prints exactly one line to stdout,
// "listening on HOST:PORT" (tests and scripts read the port from it when
// started with --listen 127.0.0.1:0); everything else goes to stderr, one
// line per message (journald stamps them). Under systemd (Type=notify) it
// sends READY=1 once that socket accepts, STOPPING=1 when it stops.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include "api/config.hpp"
#include "api/http_server.hpp"
#include "api/metrics.hpp"
#include "api/openapi.hpp"
#include "api/service.hpp"
#include "common/files.hpp"
#include "common/unique_fd.hpp"
#include "iam/accounts.hpp"
#include "iam/authorizer.hpp"
#include "runtime/manager.hpp"
#include "store/store.hpp"

namespace {

using berth::Result;
using berth::api::ServiceConfig;

struct Flags {
  std::optional<std::string> config;
  std::optional<std::string> listen;
  std::optional<std::string> socket;
  std::optional<std::string> tlsCert;
  std::optional<std::string> tlsKey;
  std::optional<std::string> dataDir;
  std::optional<std::string> runDir;
  std::optional<std::string> cgroupRoot;
  std::optional<std::string> logLevel;
  bool printOpenapi = false;
};

// The write end of a pipe the signal handler pokes; a thread turns the poke
// into HttpServer::stop(), which is not async-signal-safe.
int gStopPipeWrite = -1;

void onStopSignal(int) {
  char byte = 1;
  ssize_t written = ::write(gStopPipeWrite, &byte, 1);
  (void)written;  // a full pipe already holds a stop request
}

Result<berth::UniqueFd> installStopSignals() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return berth::sysFail("pipe2");
  berth::UniqueFd readEnd(fds[0]);
  gStopPipeWrite = fds[1];  // lives as long as the process
  struct sigaction action {};
  action.sa_handler = onStopSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGTERM, &action, nullptr);
  ::sigaction(SIGINT, &action, nullptr);
  // A client that hangs up mid-response must not kill the service.
  ::signal(SIGPIPE, SIG_IGN);
  return readEnd;
}

// The file (given, or the default one if present), then the flags on top.
Result<ServiceConfig> loadConfig(const Flags& flags) {
  ServiceConfig config;
  if (flags.config) {
    BERTH_TRY(config, berth::api::loadConfigFile(*flags.config));
  } else if (berth::pathExists(berth::api::kDefaultConfigFile)) {
    BERTH_TRY(config, berth::api::loadConfigFile(berth::api::kDefaultConfigFile));
  }
  if (flags.listen) config.listen = *flags.listen;
  if (flags.socket) config.socketPath = *flags.socket;
  if (flags.tlsCert) config.tlsCert = *flags.tlsCert;
  if (flags.tlsKey) config.tlsKey = *flags.tlsKey;
  if (flags.dataDir) config.runtime.dataDir = *flags.dataDir;
  if (flags.runDir) config.runtime.runDir = *flags.runDir;
  if (flags.cgroupRoot) config.runtime.cgroupRoot = *flags.cgroupRoot;
  if (flags.logLevel) config.logLevel = *flags.logLevel;
  return berth::api::finalize(std::move(config));
}

Result<void> serve(const ServiceConfig& config, int stopPipeRead) {
  BERTH_TRYV(berth::makeDirs(config.runtime.dataDir, 0700));
  BERTH_TRY(auto store, withContext(berth::store::Store::open(config.runtime.dataDir + "/db"), "opening the store"));
  BERTH_TRY(auto containers, withContext(berth::runtime::ContainerManager::open(config.runtime, *store), "runtime"));
  berth::iam::Authorizer authorizer(*store);
  BERTH_TRY(auto accounts, withContext(berth::iam::Accounts::open(config.accounts, *store, authorizer), "accounts"));
  if (auto passwordFile = accounts->bootstrapPasswordFile())
    spdlog::warn("created user admin; its password is in {} (readable by root only)", *passwordFile);

  berth::api::Metrics metrics;
  BERTH_TRY(std::shared_ptr<berth::api::EventHub> events, withContext(berth::api::EventHub::start(
      [&containers](const std::string& afterId, size_t limit) { return containers->eventsAfter(afterId, limit); },
      [&containers] { return containers->lastEventId(); }), "event streams"));
  // Commits may come until the manager is gone; the hub goes first.
  containers->onChange([weak = std::weak_ptr<berth::api::EventHub>(events)](const berth::runtime::CommittedChange&) {
    if (auto hub = weak.lock()) hub->notify();
  });
  berth::api::Api api(*containers, *accounts, authorizer, metrics, *events);
  BERTH_TRY(auto address, berth::api::parseListenAddress(config.listen));
  berth::api::ServerOptions options;
  options.host = address.host;
  options.port = address.port;
  if (!config.socketPath->empty()) options.socketPath = config.socketPath;
  options.tlsCert = config.tlsCert;
  options.tlsKey = config.tlsKey;
  options.workerThreads = config.httpWorkers;
  options.maxConnectionsPerClient = config.maxConnectionsPerClient;
  options.headerTimeout = config.headerTimeout;
  options.bodyTimeout = config.bodyTimeout;
  options.keepAliveTimeout = config.keepAliveTimeout;
  options.streamedBodyMaxBytes = config.runtime.imageMaxBytes;
  BERTH_TRY(auto server, berth::api::HttpServer::bind(api, options));

  bool ipv6 = address.host.find(':') != std::string::npos;
  std::string shownHost = ipv6 ? "[" + address.host + "]" : address.host;
  std::printf("listening on %s:%d\n", shownHost.c_str(), server->port());
  std::fflush(stdout);
  spdlog::info("serving the API on {}:{}{}", shownHost, server->port(),
               options.socketPath ? " and " + *options.socketPath : std::string());
  // The sockets are listening: a /healthz from now on is answered (queued
  // until run() accepts it). Without $NOTIFY_SOCKET this does nothing.
  if (int notified = sd_notifyf(0, "READY=1\nSTATUS=serving on %s:%d", shownHost.c_str(), server->port()); notified < 0)
    spdlog::warn("telling systemd we are ready: {}", std::strerror(-notified));

  std::thread stopper([&server, stopPipeRead] {
    char byte;
    while (::read(stopPipeRead, &byte, 1) < 0 && errno == EINTR) {
    }
    server->stop();
  });
  auto served = server->run();
  sd_notify(0, "STOPPING=1");
  onStopSignal(0);  // wakes the stopper if the server ended by itself
  stopper.join();
  spdlog::info("stopped serving; containers keep running");
  return served;
}

}  // namespace

int main(int argc, char* argv[]) {
  CLI::App app{"berthd: the berth container service"};
  Flags flags;
  app.add_option("--config", flags.config, std::string("YAML config file (default ") + berth::api::kDefaultConfigFile + " if it exists)");
  app.add_option("--listen", flags.listen, "HOST:PORT of the HTTP API (port 0: any free port)");
  app.add_option("--tls-cert", flags.tlsCert, "PEM certificate: serve HTTPS on --listen (with --tls-key)");
  app.add_option("--tls-key", flags.tlsKey, "PEM private key of --tls-cert");
  app.add_option("--socket", flags.socket, "unix socket of the API, mode 0600 (default <run-dir>/berthd.sock; \"\" for none)");
  app.add_option("--data-dir", flags.dataDir, "store, images and container layers");
  app.add_option("--run-dir", flags.runDir, "runtime state of running containers (tmpfs)");
  app.add_option("--cgroup-root", flags.cgroupRoot, "name of the service's cgroup subtree");
  app.add_option("--log-level", flags.logLevel, "trace, debug, info, warn, error, critical or off");
  app.add_flag("--openapi", flags.printOpenapi, "print the OpenAPI 3.1 document of the HTTP API and exit");
  CLI11_PARSE(app, argc, argv);
  if (flags.printOpenapi) {
    std::printf("%s\n", berth::api::openapiDocument().dump(2).c_str());
    return 0;
  }

  spdlog::set_default_logger(spdlog::stderr_color_mt("berthd"));
  // Every connection, event stream and container monitor holds a descriptor:
  // the soft limit (often 1024) goes up to what the host allows.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) {
    spdlog::warn("reading the open-files limit: {}", std::strerror(errno));
  } else if (files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &files) != 0) spdlog::warn("raising the open-files limit: {}", std::strerror(errno));
  }
  auto stopPipe = installStopSignals();
  if (!stopPipe) {
    std::fprintf(stderr, "berthd: %s\n", stopPipe.error().describe().c_str());
    return 1;
  }
  auto config = loadConfig(flags);
  if (!config) {
    std::fprintf(stderr, "berthd: %s\n", config.error().describe().c_str());
    return 1;
  }
  spdlog::set_level(spdlog::level::from_str(config->logLevel));
  auto served = serve(*config, stopPipe->get());
  if (!served) {
    std::fprintf(stderr, "berthd: %s\n", served.error().describe().c_str());
    return 1;
  }
  return 0;
}
