#pragma once
// berth's memory: one LMDB environment under <data-dir>/db. Every write is one
// transaction; a state change and its status-log entry commit together.
// Only store/ includes lmdb.h.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "store/records.hpp"

namespace berth::store {

struct StoreOptions {
  bool syncOnCommit = true;          // LMDB durability; off only for benchmarks
  size_t initialMapBytes = 64u << 20;  // grown (doubling) on MDB_MAP_FULL, never a crash
};

inline constexpr uint32_t kSchemaVersion = 1;

class Store {
 public:
  // Creates <dir> (and the environment) if needed. An unknown schema version
  // in the meta record is Errc::internal with a clear message.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- containers ---
  // Inserts the record and, in the same transaction, the initial log entry (if given).
  // already_exists when (projectId, name) is taken by a live container.
  Result<std::optional<StatusLogEntry>> createContainer(const ContainerRecord& record,
                                                        std::optional<StatusLogEntry> initialEntry);
  // not_found for an unknown id. Deleted containers are returned (status deleted).
  Result<ContainerRecord> getContainer(const std::string& id) const;
  // The live (not deleted) container of that name in the project.
  Result<std::optional<ContainerRecord>> findContainerByName(const std::string& projectId,
                                                             const std::string& name) const;
  // Id order (= creation order), deleted ones left out.
  Result<ContainerPage> listContainers(const ContainerQuery& query) const;
  // Every container record (including deleted) — for recovery at start.
  Result<std::vector<ContainerRecord>> allContainers() const;
  // Replaces the record (name index follows a rename; already_exists on a taken name).
  Result<void> updateContainer(const ContainerRecord& record);
  // Replaces the record and appends the entry in one transaction. The store
  // assigns entry.id (strictly increasing) and entry.createdAt; returns the written entry.
  Result<StatusLogEntry> commitTransition(const ContainerRecord& record, StatusLogEntry entry);

  // --- status logs ---
  // API.md §5 paging; ties broken by entry id in the same direction. A page
  // past the end is empty with the true total. Works for deleted containers.
  Result<LogPage> statusLogs(const std::string& containerId, const LogQuery& query) const;
  // Entries with id > afterId across all containers, in id order (event replay).
  Result<std::vector<StatusLogEntry>> logEntriesAfter(const std::string& afterId, size_t limit) const;

  // --- users, projects, memberships ---
  Result<void> createUser(const UserRecord& user);            // already_exists on a taken username
  Result<UserRecord> getUser(const std::string& id) const;    // not_found
  Result<std::optional<UserRecord>> findUserByName(const std::string& username) const;
  Result<std::vector<UserRecord>> listUsers() const;
  Result<void> updateUser(const UserRecord& user);
  Result<void> deleteUser(const std::string& id);             // also drops its memberships

  Result<void> createProject(const ProjectRecord& project);
  Result<ProjectRecord> getProject(const std::string& id) const;
  Result<std::vector<ProjectRecord>> listProjects() const;

  Result<void> putMembership(const Membership& membership);  // insert or change role
  Result<void> removeMembership(const std::string& projectId, const std::string& userId);  // not_found
  Result<std::optional<Membership>> getMembership(const std::string& projectId, const std::string& userId) const;
  Result<std::vector<Membership>> membershipsOfUser(const std::string& userId) const;
  Result<std::vector<Membership>> membershipsOfProject(const std::string& projectId) const;

  // --- revoked tokens (jti denylist) ---
  Result<void> revokeToken(const std::string& jti, UnixMillis expiresAt);
  Result<bool> isTokenRevoked(const std::string& jti) const;

  // --- meta ---
  // A small key/value area for the service (JWT secret lives in a file, not here).
  Result<std::optional<std::string>> getMeta(const std::string& key) const;
  Result<void> putMeta(const std::string& key, const std::string& value);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::store
