#pragma once
// berth's memory: one LMDB environment under <data-dir>/db. Every write is one
// transaction; a state change and its status-log entry commit together.
// Only store/ includes lmdb.h.
#include <chrono>
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
  // A deferred write is flushed to the disk at most this long after its
  // commit (plus the flush itself).
  std::chrono::milliseconds deferredSyncDelay{20};
};

// When a write is durable. now: on the disk before the call returns (every
// write but a deferred commitTransition). deferred: in the kernel's page
// cache before the call returns, so a crash or kill -9 of the process loses
// nothing, and on the disk within deferredSyncDelay: a crash of the host
// before then loses it (the store then holds what it held before, or, where
// the disk reorders writes, may not open at all; LMDB's MDB_NOSYNC).
enum class Sync { now, deferred };

// What the writes cost so far (group commit and the deferred flushes).
struct WriteStats {
  uint64_t writes = 0;                // committed write calls
  uint64_t transactions = 0;          // LMDB transactions that committed them
  uint64_t deferredTransactions = 0;  // of those, committed without a sync (Sync::deferred)
  uint64_t flushes = 0;               // background flushes of deferred transactions
};

// 2: the status log in log_entries and log_index (schema 1, with seven
// trees, is upgraded on open).
inline constexpr uint32_t kSchemaVersion = 2;

class Store {
 public:
  // Creates <dir> (and the environment) if needed. A store of schema 1 is
  // upgraded in one transaction (all or nothing); an unknown schema version
  // in the meta record is Errc::internal with a clear message.
  static Result<std::unique_ptr<Store>> open(const std::string& dir, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // --- containers ---
  // The writes below that take `events` append them to the event log in the
  // same transaction as the change they report: a failed call writes neither.
  // The store assigns every event's id (one set already is invalid_argument)
  // from the sequence of status-log entry ids: the first event of a call that
  // writes an entry takes the entry's id, every other event a fresh id, in
  // the order given. An event's empty containerId and projectId become the
  // record's (another container id is invalid_argument), a time of 0 the time
  // of the write; its type must not be empty. When the call succeeds and
  // `written` is given, it receives the events as written (ids assigned);
  // on failure it is left alone.

  // Inserts the record and, in the same transaction, the initial log entry (if given).
  // already_exists when (projectId, name) is taken by a live container.
  Result<std::optional<StatusLogEntry>> createContainer(const ContainerRecord& record,
                                                        std::optional<StatusLogEntry> initialEntry,
                                                        std::vector<EventRecord> events = {},
                                                        std::vector<EventRecord>* written = nullptr);
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
  Result<void> updateContainer(const ContainerRecord& record, std::vector<EventRecord> events = {},
                               std::vector<EventRecord>* written = nullptr);
  // Replaces the record and appends the entry in one transaction. The store
  // assigns entry.id (strictly increasing) and entry.createdAt; returns the written entry.
  Result<StatusLogEntry> commitTransition(const ContainerRecord& record, StatusLogEntry entry,
                                          std::vector<EventRecord> events = {},
                                          std::vector<EventRecord>* written = nullptr, Sync sync = Sync::now);

  // --- network claims (API.md §11) ---
  // A live container's address and published ports are claimed with every
  // write of its record and released when it is deleted: a write that would
  // give one to a second live container is already_exists (ports:
  // Detail::port_conflict; a port on 0.0.0.0 conflicts with the same port on
  // any address).
  // The first candidate no live container holds; nullopt when all are held.
  Result<std::optional<std::string>> firstUnclaimedAddress(const std::vector<std::string>& candidates) const;
  // The same for user namespaces' id ranges (ContainerRecord::idMap), by their first host uid.
  Result<std::optional<uint32_t>> firstUnclaimedIdRange(const std::vector<uint32_t>& hostUids) const;
  // The live container holding that published port (protocol, port, host ip), if any.
  Result<std::optional<std::string>> portHolder(const PublishedPort& port) const;
  // The project's bridge subnet: the one it was given before, else the first
  // candidate no project holds (kept from then on); nullopt when all are held.
  Result<std::optional<std::string>> assignProjectSubnet(const std::string& projectId,
                                                         const std::vector<std::string>& candidates);
  Result<std::optional<std::string>> projectSubnet(const std::string& projectId) const;

  // --- snapshots (API.md §12) ---
  // already_exists when the container has a snapshot of that alias.
  Result<void> createSnapshot(const SnapshotRecord& snapshot);
  // Newest first (by created_at).
  Result<std::vector<SnapshotRecord>> listSnapshots(const std::string& containerId) const;
  // not_found for an unknown id or one of another container.
  Result<SnapshotRecord> getSnapshot(const std::string& containerId, const std::string& snapshotId) const;
  Result<void> deleteSnapshot(const std::string& containerId, const std::string& snapshotId);  // not_found
  Result<void> deleteSnapshotsOf(const std::string& containerId);

  // --- status logs ---
  // API.md §5 paging; ties broken by entry id in the same direction. A page
  // past the end is empty with the true total. Works for deleted containers.
  Result<LogPage> statusLogs(const std::string& containerId, const LogQuery& query) const;
  // Entries with id > afterId across all containers, in id order (event replay).
  Result<std::vector<StatusLogEntry>> logEntriesAfter(const std::string& afterId, size_t limit) const;

  // --- event log (API.md §8) ---
  // Events with id > afterId in id order, at most `limit`; afterId empty: from
  // the oldest kept. reset is set when events after afterId were pruned
  // already (afterId is older than the newest pruned event); the page then
  // starts at the oldest kept. An afterId newer than every event gives an
  // empty page; one that is not 24 lowercase hex is invalid_argument.
  Result<EventPage> eventsAfter(const std::string& afterId, size_t limit) const;
  // The id of the newest event ever written (even when pruned since); nullopt
  // while no event was written.
  Result<std::optional<std::string>> lastEventId() const;
  // Removes, oldest (lowest id) first, at most `batch` events beyond
  // retention: while more than maxEvents are kept and the oldest is older
  // than now - maxAgeMs (its time field); the larger of the two sets stays. Returns how many it removed;
  // fewer than `batch` means nothing is left beyond retention. One short
  // write transaction per call, so writers are never stalled long.
  Result<size_t> pruneEvents(const EventRetention& retention, UnixMillis now, size_t batch);

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
  Result<void> updateProject(const ProjectRecord& project);   // not_found

  Result<void> putMembership(const Membership& membership);  // insert or change role
  Result<void> removeMembership(const std::string& projectId, const std::string& userId);  // not_found
  Result<std::optional<Membership>> getMembership(const std::string& projectId, const std::string& userId) const;
  Result<std::vector<Membership>> membershipsOfUser(const std::string& userId) const;
  Result<std::vector<Membership>> membershipsOfProject(const std::string& projectId) const;

  // --- revoked tokens (jti denylist) ---
  Result<void> revokeToken(const std::string& jti, UnixMillis expiresAt);
  Result<bool> isTokenRevoked(const std::string& jti) const;

  WriteStats writeStats() const;

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
