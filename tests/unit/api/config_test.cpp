#include <catch2/catch.hpp>
#include <fstream>

#include "api/config.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::api;

TEST_CASE("config: an empty document keeps every default") {
  auto config = parseConfigYaml("");
  REQUIRE(config);
  CHECK(config->listen == "127.0.0.1:8080");
  CHECK_FALSE(config->socketPath);
  CHECK(config->runtime.dataDir == "/var/lib/berth");
  CHECK(config->runtime.defaultStopTimeout == std::chrono::seconds(10));
  CHECK(config->logLevel == "info");
}

TEST_CASE("config: every key is read") {
  auto config = parseConfigYaml(R"(
listen: "0.0.0.0:9090"
socket: /run/berth/api.sock
data_dir: /srv/berth
run_dir: /run/b2
cgroup_root: b2
default_stop_timeout_s: 3
tier_limits:
  memory_mb: 1024
  cpu_millicores: 2000
  pids_max: 100
  disk_mb: 512
token_lifetime_s: 3600
log_level: debug
)");
  REQUIRE(config);
  CHECK(config->listen == "0.0.0.0:9090");
  CHECK(config->socketPath == "/run/berth/api.sock");
  CHECK(config->runtime.dataDir == "/srv/berth");
  CHECK(config->runtime.runDir == "/run/b2");
  CHECK(config->runtime.cgroupRoot == "b2");
  CHECK(config->runtime.defaultStopTimeout == std::chrono::seconds(3));
  CHECK(config->runtime.tierLimits.maxMemoryMb == 1024);
  CHECK(config->runtime.tierLimits.maxCpuMillicores == 2000);
  CHECK(config->runtime.tierLimits.maxPidsMax == 100);
  CHECK(config->runtime.tierLimits.maxDiskMb == 512);
  CHECK(config->accounts.tokenLifetimeSeconds == 3600);
  CHECK(config->logLevel == "debug");
  auto final = finalize(*config);
  REQUIRE(final);
  CHECK(final->accounts.dataDir == "/srv/berth");
}

TEST_CASE("config: bad documents are refused naming the key") {
  struct Row {
    const char* yaml;
    const char* messagePart;
  };
  const Row rows[] = {
      {"listen: [1, 2]", "config key listen"},
      {"listen: localhost", "config key listen"},
      {"listen: \"127.0.0.1:99999\"", "config key listen"},
      {"lisen: \"127.0.0.1:80\"", "unknown config key lisen"},
      {"default_stop_timeout_s: ten", "config key default_stop_timeout_s"},
      {"default_stop_timeout_s: -1", "config key default_stop_timeout_s"},
      {"default_stop_timeout_s: 3601", "config key default_stop_timeout_s"},
      {"tier_limits: 5", "config key tier_limits"},
      {"tier_limits: {memory: 5}", "unknown config key tier_limits.memory"},
      {"tier_limits: {memory_mb: 0}", "config key tier_limits.memory_mb"},
      {"tier_limits: {cpu_millicores: 4294967296}", "config key tier_limits.cpu_millicores"},
      {"token_lifetime_s: 1.5", "config key token_lifetime_s"},
      {"log_level: loud", "config key log_level"},
      {"data_dir: {a: b}", "config key data_dir"},
      {"data_dir: \"\"", "config key data_dir"},
      {"- a\n- b", "must be a map"},
      {"listen: [unclosed", "config:"},  // yaml-cpp's own syntax error
  };
  for (const auto& row : rows) {
    INFO(row.yaml);
    auto config = parseConfigYaml(row.yaml);
    REQUIRE_FALSE(config);
    CHECK(config.error().code == Errc::invalid_argument);
    CHECK_THAT(config.error().message, Catch::Contains(row.messagePart));
  }
}

TEST_CASE("config: the unix socket defaults to the run dir, an empty value turns it off") {
  auto defaulted = finalize(ServiceConfig{});
  REQUIRE(defaulted);
  CHECK(defaulted->socketPath == "/run/berth/berthd.sock");
  auto moved = parseConfigYaml("run_dir: /run/b2\n");
  REQUIRE(moved);
  CHECK(finalize(*moved)->socketPath == "/run/b2/berthd.sock");
  auto off = parseConfigYaml("socket: \"\"\n");
  REQUIRE(off);
  CHECK(finalize(*off)->socketPath == "");
  auto relative = parseConfigYaml("socket: api.sock\n");
  REQUIRE(relative);
  CHECK_FALSE(finalize(*relative));
  ServiceConfig tooLong;
  tooLong.socketPath = "/" + std::string(120, 's');
  CHECK_FALSE(finalize(tooLong));
}

TEST_CASE("config: finalize checks what flags may have set") {
  ServiceConfig config;
  config.runtime.dataDir = "relative";
  CHECK_FALSE(finalize(config));
  config = {};
  config.runtime.cgroupRoot = "../escape";
  CHECK_FALSE(finalize(config));
  config = {};
  config.logLevel = "verbose";
  CHECK_FALSE(finalize(config));
  config = {};
  config.listen = "nohost";
  CHECK_FALSE(finalize(config));
  CHECK(finalize(ServiceConfig{}));
}

TEST_CASE("config: listen addresses") {
  auto v4 = parseListenAddress("127.0.0.1:0");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 0);
  auto v6 = parseListenAddress("[::1]:8080");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->port == 8080);
  for (const char* bad : {"", ":80", "127.0.0.1:", "127.0.0.1:http", "::1:80", "[::1:80", "h:-1", "h:65536"}) {
    INFO(bad);
    CHECK_FALSE(parseListenAddress(bad));
  }
}

TEST_CASE("config: a file is read, a missing one is an error naming it") {
  berth::testing::TempDir dir("berth-config");
  std::string path = dir.sub("berthd.yaml");
  std::ofstream(path) << "listen: \"127.0.0.1:7000\"\n";
  auto config = loadConfigFile(path);
  REQUIRE(config);
  CHECK(config->listen == "127.0.0.1:7000");
  auto missing = loadConfigFile(dir.sub("absent.yaml"));
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().describe(), Catch::Contains("absent.yaml"));
}

TEST_CASE("config: examples/berthd.yaml parses and spells out the defaults") {
  auto example = loadConfigFile(BERTH_SOURCE_DIR "/examples/berthd.yaml");
  REQUIRE(example);
  ServiceConfig defaults;
  CHECK(example->listen == defaults.listen);
  CHECK(example->runtime.dataDir == defaults.runtime.dataDir);
  CHECK(example->runtime.runDir == defaults.runtime.runDir);
  CHECK(example->runtime.cgroupRoot == defaults.runtime.cgroupRoot);
  CHECK(example->runtime.defaultStopTimeout == defaults.runtime.defaultStopTimeout);
  CHECK(example->runtime.tierLimits.maxMemoryMb == defaults.runtime.tierLimits.maxMemoryMb);
  CHECK(example->runtime.tierLimits.maxCpuMillicores == defaults.runtime.tierLimits.maxCpuMillicores);
  CHECK(example->runtime.tierLimits.maxPidsMax == defaults.runtime.tierLimits.maxPidsMax);
  CHECK(example->runtime.tierLimits.maxDiskMb == defaults.runtime.tierLimits.maxDiskMb);
  CHECK(example->runtime.logMaxBytes == defaults.runtime.logMaxBytes);
  CHECK(example->runtime.logFollowersMax == defaults.runtime.logFollowersMax);
  CHECK(example->runtime.imageMaxBytes == defaults.runtime.imageMaxBytes);
  CHECK(example->httpWorkers == defaults.httpWorkers);
  CHECK(example->accounts.tokenLifetimeSeconds == defaults.accounts.tokenLifetimeSeconds);
  CHECK(example->logLevel == defaults.logLevel);
  CHECK(example->runtime.network.bridgePrefix == defaults.runtime.network.bridgePrefix);
  CHECK(example->runtime.network.bridgeSubnet == defaults.runtime.network.bridgeSubnet);
  CHECK(example->runtime.network.masquerade == defaults.runtime.network.masquerade);
  CHECK(example->runtime.storagePoolBytes == defaults.runtime.storagePoolBytes);
  CHECK(example->runtime.defaultIsolation == defaults.runtime.defaultIsolation);
  CHECK(example->runtime.durability == defaults.runtime.durability);
}

TEST_CASE("durability is host by default, process on request; anything else names the key") {
  auto defaults = parseConfigYaml("");
  REQUIRE(defaults);
  CHECK(defaults->runtime.durability == runtime::Durability::host);
  auto host = parseConfigYaml("durability: host");
  REQUIRE(host);
  CHECK(host->runtime.durability == runtime::Durability::host);
  auto process = parseConfigYaml("durability: process");
  REQUIRE(process);
  CHECK(process->runtime.durability == runtime::Durability::process);
  for (const char* bad : {"durability: none", "durability: Process", "durability: \"\"", "durability: [host]"}) {
    auto refused = parseConfigYaml(bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == Errc::invalid_argument);
    CHECK(refused.error().message.find("durability") != std::string::npos);
  }
}

TEST_CASE("bridge_prefix, bridge_subnet and bridge_masquerade set the bridge network; bad ones name the key") {
  auto set = berth::api::parseConfigYaml("bridge_prefix: bt1\nbridge_subnet: 10.201.0.0/16\nbridge_masquerade: true\n");
  REQUIRE(set);
  CHECK(set->runtime.network.bridgePrefix == "bt1");
  CHECK(set->runtime.network.bridgeSubnet == "10.201.0.0/16");
  CHECK(set->runtime.network.masquerade);
  for (const auto& [yaml, key] : std::vector<std::pair<std::string, std::string>>{
           {"bridge_prefix: Berth-1\n", "bridge_prefix"},
           {"bridge_subnet: 10.89.0.1/16\n", "bridge_subnet"},
           {"bridge_subnet: 10.0.0.0/8\n", "bridge_subnet"},
           {"bridge_masquerade: yes\n", "bridge_masquerade"}}) {
    auto parsed = berth::api::parseConfigYaml(yaml);
    auto refused = parsed ? berth::api::finalize(*parsed) : parsed;
    INFO(yaml);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find(key) != std::string::npos);
  }
}

TEST_CASE("container_log_max_bytes sets the console log cap") {
  auto set = berth::api::parseConfigYaml("container_log_max_bytes: 65536\n");
  REQUIRE(set);
  CHECK(set->runtime.logMaxBytes == 65536);
  auto tooSmall = berth::api::parseConfigYaml("container_log_max_bytes: 100\n");
  REQUIRE_FALSE(tooSmall);
  CHECK(tooSmall.error().message.find("container_log_max_bytes") != std::string::npos);
}

TEST_CASE("log_followers_max and http_workers are bounded counts") {
  auto set = berth::api::parseConfigYaml("log_followers_max: 8\nhttp_workers: 4\n");
  REQUIRE(set);
  CHECK(set->runtime.logFollowersMax == 8);
  CHECK(set->httpWorkers == 4);
  for (const char* bad : {"log_followers_max: 0\n", "log_followers_max: 65537\n", "log_followers_max: many\n",
                          "http_workers: 1\n", "http_workers: 4097\n", "http_workers: -3\n"}) {
    auto refused = berth::api::parseConfigYaml(bad);
    REQUIRE_FALSE(refused);
    std::string key = std::string(bad).substr(0, std::string(bad).find(':'));
    CHECK_THAT(refused.error().message, Catch::Contains(key));
  }
}

TEST_CASE("the connection limits: a per-client cap (0: none) and header, body and keep-alive timeouts") {
  ServiceConfig defaults;
  CHECK(defaults.maxConnectionsPerClient == 256);
  CHECK(defaults.headerTimeout == std::chrono::seconds(10));
  CHECK(defaults.bodyTimeout == std::chrono::seconds(10));
  CHECK(defaults.keepAliveTimeout == std::chrono::seconds(5));
  auto set = berth::api::parseConfigYaml(
      "max_connections_per_client: 0\nheader_timeout_s: 3\nbody_timeout_s: 60\nkeep_alive_timeout_s: 3600\n");
  REQUIRE(set);
  CHECK(set->maxConnectionsPerClient == 0);
  CHECK(set->headerTimeout == std::chrono::seconds(3));
  CHECK(set->bodyTimeout == std::chrono::seconds(60));
  CHECK(set->keepAliveTimeout == std::chrono::seconds(3600));
  for (const char* bad : {"max_connections_per_client: -1\n", "max_connections_per_client: 1048577\n",
                          "header_timeout_s: 0\n", "header_timeout_s: 3601\n", "body_timeout_s: soon\n",
                          "keep_alive_timeout_s: 0\n"}) {
    auto refused = berth::api::parseConfigYaml(bad);
    REQUIRE_FALSE(refused);
    std::string key = std::string(bad).substr(0, std::string(bad).find(':'));
    CHECK_THAT(refused.error().message, Catch::Contains(key));
  }
}

TEST_CASE("image_max_mb is 1..1048576 MiB, 2048 by default") {
  CHECK(ServiceConfig{}.runtime.imageMaxBytes == 2048ull << 20);
  auto set = berth::api::parseConfigYaml("image_max_mb: 1\n");
  REQUIRE(set);
  CHECK(set->runtime.imageMaxBytes == 1ull << 20);
  auto largest = berth::api::parseConfigYaml("image_max_mb: 1048576\n");
  REQUIRE(largest);
  CHECK(largest->runtime.imageMaxBytes == 1ull << 40);
  for (const char* bad : {"image_max_mb: 0\n", "image_max_mb: 1048577\n", "image_max_mb: big\n", "image_max_mb: -1\n"}) {
    auto refused = berth::api::parseConfigYaml(bad);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message, Catch::Contains("image_max_mb"));
  }
}

TEST_CASE("tls_cert and tls_key come together") {
  auto both = berth::api::parseConfigYaml("tls_cert: /etc/berth/tls.crt\ntls_key: /etc/berth/tls.key\n");
  REQUIRE(both);
  CHECK(both->tlsCert == "/etc/berth/tls.crt");
  CHECK(berth::api::finalize(*both));
  auto alone = berth::api::parseConfigYaml("tls_cert: /etc/berth/tls.crt\n");
  REQUIRE(alone);
  auto refused = berth::api::finalize(*alone);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "tls_cert and tls_key must be given together");
}

TEST_CASE("default_isolation sets the isolation of a create that does not say") {
  CHECK(berth::api::parseConfigYaml("")->runtime.defaultIsolation == "host-root");
  auto set = berth::api::parseConfigYaml("default_isolation: user-namespace\n");
  REQUIRE(set);
  CHECK(set->runtime.defaultIsolation == "user-namespace");
  auto bad = berth::api::parseConfigYaml("default_isolation: vm\n");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("default_isolation") != std::string::npos);
}
