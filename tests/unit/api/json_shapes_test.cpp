// The wire shapes of API.md §3-§6.
#include <catch2/catch.hpp>

#include "api/json_shapes.hpp"

using namespace berth;
using namespace berth::api;

TEST_CASE("a container has exactly the fields of API.md §6, null for what is absent") {
  store::ContainerRecord record;
  record.id = "507f1f77bcf86cd799439011";
  record.runtimeId = "abcdefabcdef";
  record.name = "web";
  record.projectId = "507f1f77bcf86cd799439033";
  record.ownerId = "507f1f77bcf86cd799439044";
  record.command = {"/bin/sh"};
  record.env = {{"A", "1"}};
  record.status = store::ContainerStatus::stopped;
  record.exitCode = 0;
  record.resources.memoryMb = 64;
  record.createdAt = 1736937000000;
  record.updatedAt = 1736937000004;
  auto json = containerJson(record);
  std::vector<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"id", "runtime_id", "name", "project_id", "owner_id", "image", "command",
                                         "env", "working_dir", "hostname", "status", "exit_code", "exit_signal",
                                         "oom_killed", "pid", "resources", "network", "ports", "user", "umask",
                                         "isolation", "id_map", "autostart", "created_at", "updated_at", "started_at",
                                         "finished_at", "expires_at", "restart_policy", "restart_count",
                                         "next_restart_at"});
  // API.md §14: a record from before `user` runs as root; host-root has no id map.
  CHECK(json["user"] == "0:0");
  CHECK(json["umask"].is_null());
  CHECK(json["isolation"] == "host-root");
  CHECK(json["id_map"].is_null());
  CHECK(json["hostname"] == "web");  // defaults to the name
  CHECK(json["status"] == "stopped");
  CHECK(json["exit_code"] == 0);
  CHECK(json["exit_signal"].is_null());
  CHECK(json["pid"].is_null());
  CHECK(json["resources"]["memory_mb"] == 64);
  CHECK(json["resources"]["cpu_millicores"].is_null());
  CHECK(json["network"] == nlohmann::ordered_json{{"mode", "none"}, {"ip", nullptr}});
  CHECK(json["ports"] == nlohmann::ordered_json::array());

  record.networkMode = "bridge";
  record.networkIp = "10.89.3.7";
  record.ports = {{80, 8081, "tcp", "127.0.0.1"}};
  auto bridged = containerJson(record);
  CHECK(bridged["network"] == nlohmann::ordered_json{{"mode", "bridge"}, {"ip", "10.89.3.7"}, {"gateway", "10.89.3.1"},
                                                     {"mac", "02:b7:0a:59:03:07"}});
  CHECK(bridged["ports"] == nlohmann::ordered_json::parse(
                                R"([{"container_port":80,"host_port":8081,"protocol":"tcp","host_ip":"127.0.0.1"}])"));
  record.user = store::ProcessUser{"app:staff", 1000, 50, {50}};
  record.umask = 022;
  record.isolation = "user-namespace";
  record.idMap = store::IdMap{268435456, 268435456, 65536};
  auto isolated = containerJson(record);
  CHECK(isolated["user"] == "app:staff");
  CHECK(isolated["umask"] == "0022");
  CHECK(isolated["isolation"] == "user-namespace");
  CHECK(isolated["id_map"] == nlohmann::ordered_json{{"host_uid", 268435456}, {"host_gid", 268435456}, {"size", 65536}});
  CHECK(json["created_at"] == "2025-01-15T10:30:00.000Z");
  CHECK(json["updated_at"] == "2025-01-15T10:30:00.004Z");
  CHECK(json["started_at"].is_null());
}

TEST_CASE("a status-log entry carries only the metadata it has") {
  store::StatusLogEntry entry;
  entry.id = "507f1f77bcf86cd799439077";
  entry.containerId = "507f1f77bcf86cd799439011";
  entry.fromStatus = store::ContainerStatus::running;
  entry.toStatus = store::ContainerStatus::stopped;
  entry.transitionTime = 1736937000000;
  entry.createdAt = 1736937000004;
  entry.durationMs = 35;
  entry.triggeredBy = "system";
  entry.metadata.operation = "exit";
  entry.metadata.exitCode = 0;
  auto json = statusLogEntryJson(entry);
  CHECK(json["from_status"] == "running");
  CHECK(json["to_status"] == "stopped");
  CHECK(json["transition_time"] == "2025-01-15T10:30:00.000Z");
  CHECK(json["created_at"] == "2025-01-15T10:30:00.004Z");
  CHECK(json["duration_ms"] == 35);
  CHECK(json["metadata"] == nlohmann::ordered_json{{"operation", "exit"}, {"exit_code", 0}});
}

TEST_CASE("manage response, pagination, users, projects, memberships") {
  store::ContainerRecord record;
  record.id = "c";
  record.projectId = "p";
  record.status = store::ContainerStatus::running;
  auto manage = manageResponseJson("start", record, false, operationSuccessMessage(runtime::Operation::start));
  CHECK(manage == nlohmann::ordered_json{{"error", false},
                                         {"operation", "start"},
                                         {"container_id", "c"},
                                         {"project_id", "p"},
                                         {"message", "Container started successfully"},
                                         {"status", "running"}});
  CHECK(paginationJson({15, 2, 10, 2}) ==
        nlohmann::ordered_json{{"total", 15}, {"page", 2}, {"limit", 10}, {"totalPages", 2}});

  store::UserRecord user;
  user.id = "u";
  user.username = "ann";
  user.role = store::UserRole::guest;
  user.guestExpiresAt = 1736937000000;
  user.passwordHash = "$argon2id$secret";
  auto userJsonValue = userJson(user);
  CHECK(userJsonValue["role"] == "guest");
  CHECK(userJsonValue["guest_expires_at"] == "2025-01-15T10:30:00.000Z");
  CHECK_FALSE(userJsonValue.contains("password_hash"));
  CHECK(userJsonValue.size() == 6);

  CHECK(membershipJson({"p", "u", store::ProjectRole::operator_})["role"] == "operator");
  store::ProjectRecord project{"p", "team", "u", 0};
  CHECK(projectJson(project)["owner_id"] == "u");
}

TEST_CASE("an image has the fields of API.md §12: env as an object, digest null when absent") {
  runtime::ImageInfo image;
  image.name = "app";
  image.source = "oci-layout";
  image.sizeBytes = 42;
  image.createdAt = 1736937000000;
  image.digest = "sha256:abc";
  image.config.command = {"/bin/app"};
  image.config.env = {"PATH=/bin", "FOO=a=b", "FOO=later", "broken"};
  auto json = imageJson(image);
  std::vector<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  CHECK(keys == std::vector<std::string>{"name", "source", "size_bytes", "created_at", "digest", "config"});
  CHECK(json["created_at"] == "2025-01-15T10:30:00.000Z");
  CHECK(json["digest"] == "sha256:abc");
  CHECK(json["config"]["command"] == nlohmann::ordered_json::array({"/bin/app"}));
  CHECK(json["config"]["env"].size() == 2);
  CHECK(json["config"]["env"]["FOO"] == "later");
  CHECK(json["config"]["working_dir"] == "/");  // none given
  image.digest.reset();
  CHECK(imageJson(image)["digest"].is_null());
}
