#pragma once
// Store::Impl: the environment, its named databases, and the transaction
// runners every Store method goes through.
//
// Map growth: LMDB may change the map size only while this process has no
// transaction open. Every transaction therefore runs under resizeMutex held
// shared; a write that meets MDB_MAP_FULL aborts, takes the mutex exclusive,
// doubles the map (unless another thread already grew it) and runs again.
// glibc's rwlock prefers readers, so a steady stream of overlapping reads
// could starve the resize (and with it every writer): both kinds of
// acquisition pass through resizeGate, which a waiting resize holds, so new
// transactions queue behind it while the open ones drain.
//
// Group commit: LMDB has one writer at a time and a synced commit costs two
// device flushes (the pages, then the meta page) whatever it holds. Writers
// therefore queue their bodies; whoever finds no commit running takes every
// queued body into one transaction, each in a nested transaction of its own
// (a failing body is undone alone), commits once and answers them all, so N
// writers arriving together share one sync. A lone writer runs its body in
// the transaction itself, as before.
//
// Deferred writes (Sync::deferred) are committed with MDB_NOSYNC when a batch
// holds nothing else: LMDB writes the pages and the meta page into the page
// cache (a crash of the process loses nothing) and the syncer thread flushes
// them within StoreOptions::deferredSyncDelay; a synced commit meanwhile
// flushes them too.
#include <lmdb.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/error.hpp"
#include "store/lmdb_txn.hpp"
#include "store/records.hpp"
#include "store/store.hpp"

namespace berth::store {

struct Dbs {
  Db containers{0, "containers"};
  Db live{0, "containers_live"};
  Db names{0, "names"};
  Db logEntries{0, "log_entries"};
  Db logIndex{0, "log_index"};
  Db users{0, "users"};
  Db usernames{0, "usernames"};
  Db projects{0, "projects"};
  Db memberships{0, "memberships"};
  Db membershipsByUser{0, "memberships_by_user"};
  Db revoked{0, "revoked_tokens"};
  Db revokedByExpiry{0, "revoked_by_expiry"};
  Db meta{0, "meta"};
  Db events{0, "events"};
  Db netClaims{0, "net_claims"};
  Db snapshots{0, "snapshots"};

  template <typename F>
  void forEach(F&& f) {
    for (Db* db : {&containers, &live, &names, &logEntries, &logIndex, &users, &usernames, &projects, &memberships, &membershipsByUser, &revoked, &revokedByExpiry,
                   &meta, &events, &netClaims, &snapshots})
      f(*db);
  }
};

// The status log of schema 1 (migrate.cpp turns it into log_entries and log_index).
struct SchemaOneLogDbs {
  Db logs{0, "logs"};  // cid(12) eid(12) -> entry JSON
  Db logsById{0, "logs_by_id"};
  Db logsByTime{0, "logs_by_time"};
  Db logsByTo{0, "logs_by_to"};
  Db logsByFrom{0, "logs_by_from"};
  Db logCounts{0, "log_counts"};
  Db logIds{0, "log_ids"};
};

// One queued write: its body and where its answer goes.
struct WriteJob {
  std::function<bool(Txn&)> run;     // runs the body, keeps its result; true when it succeeded
  std::function<void(Error)> fail;   // the transaction did not commit: this is the answer
  bool deferred = false;             // Sync::deferred
  bool done = false;                 // under Impl::queueMutex
};

// Meta keys the store keeps for itself (putMeta refuses the "store." prefix).
inline constexpr std::string_view kMetaSchemaVersion = "schema_version";
// The last id of the store's one sequence (status-log entries and events).
inline constexpr std::string_view kMetaLastLogId = "store.last_log_id";
// The id(12) of the newest event pruneEvents removed: a replay from before it is a reset.
inline constexpr std::string_view kMetaEventsPrunedThrough = "store.events_pruned_through";

// Doublings one transaction may ask for before giving up (1 MiB * 2^36 = 64 TiB).
inline constexpr unsigned kMaxGrowths = 36;

struct Store::Impl {
  std::string dir;
  StoreOptions options;
  MDB_env* env = nullptr;
  Dbs db;
  mutable std::mutex resizeGate;
  mutable std::shared_mutex resizeMutex;

  // The write queue (group commit).
  std::mutex queueMutex;
  std::condition_variable queueDone;
  std::vector<WriteJob*> queued;
  bool committing = false;
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> transactions{0};
  std::atomic<uint64_t> deferredTransactions{0};
  std::atomic<uint64_t> flushes{0};

  // The syncer of deferred commits.
  std::mutex syncMutex;
  std::condition_variable syncWake;
  bool unsynced = false;          // a deferred commit is not yet flushed
  uint64_t deferredCommits = 0;   // counts them, so a sync knows what it covered
  std::chrono::steady_clock::time_point unsyncedSince;
  bool syncFailing = false;       // the last flush failed: commit synced until one succeeds
  bool stopping = false;
  std::thread syncer;

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    stopSyncer();
    if (env != nullptr) mdb_env_close(env);
  }

  void startSyncer();
  void stopSyncer();  // flushes what is deferred, then joins
  void syncLoop();

  std::shared_lock<std::shared_mutex> shareMap() const {
    std::lock_guard gate(resizeGate);
    return std::shared_lock(resizeMutex);
  }
  std::unique_lock<std::shared_mutex> excludeMap() const {
    std::lock_guard gate(resizeGate);
    return std::unique_lock(resizeMutex);
  }

  size_t mapSize() const {
    MDB_envinfo info{};
    mdb_env_info(env, &info);
    return info.me_mapsize;
  }

  // Doubles the map unless it is already larger than `seen`.
  Result<void> grow(size_t seen);
  // Another process grew the map: take its size.
  Result<void> adoptResized();

  template <typename F>
  auto read(F&& body) const -> std::invoke_result_t<F&, Txn&> {
    for (;;) {
      auto lock = shareMap();
      MDB_txn* raw = nullptr;
      int rc = mdb_txn_begin(env, nullptr, MDB_RDONLY, &raw);
      if (rc == MDB_MAP_RESIZED) {
        lock.unlock();
        BERTH_TRYV(const_cast<Impl*>(this)->adoptResized());
        continue;
      }
      if (rc != 0) return tl::unexpected(lmdbError(rc, "begin read transaction in " + dir));
      Txn txn(raw, false);
      return body(txn);  // the read transaction ends (aborts) with txn
    }
  }

  // Runs body in a write transaction and commits when it succeeds. The body
  // may run more than once (after a map growth), so it must not keep state
  // across runs: everything it assigns is derived inside the transaction. It
  // may share its transaction with other writers' bodies (group commit), and
  // sees what those before it wrote.
  template <typename F>
  auto write(F&& body, Sync sync = Sync::now) -> std::invoke_result_t<F&, Txn&> {
    using R = std::invoke_result_t<F&, Txn&>;
    std::optional<R> result;
    WriteJob job;
    job.run = [&](Txn& txn) {
      result.emplace(body(txn));
      return result->has_value();
    };
    job.fail = [&](Error error) { result.emplace(tl::unexpected(std::move(error))); };
    job.deferred = sync == Sync::deferred;
    submit(job);
    return std::move(*result);
  }

  // Queues the job and returns once it is answered, committing a batch
  // (this one's or a later one) itself when no other thread is.
  void submit(WriteJob& job);
  // One transaction for every job of the batch; grows the map and runs them
  // all again on MDB_MAP_FULL.
  void commitBatch(const std::vector<WriteJob*>& batch);
  Result<void> commit(Txn& txn, bool deferred);

  // Schema 1 -> 2 (migrate.cpp), inside open's transaction.
  Result<void> migrateFromSchemaOne(Txn& txn);

  // --- shared pieces of write transactions (store.cpp / store_logs.cpp) ---

  // The record at a binary id, or nullopt.
  Result<std::optional<ContainerRecord>> loadContainer(Txn& txn, std::string_view idBin) const;
  // Writes the record and keeps names and containers_live in step with it;
  // previous is what was stored before (nullopt on create).
  // Keeps net_claims in step with a container's address and published ports:
  // already_exists when another live container holds either.
  Result<void> updateNetworkClaims(Txn& txn, std::string_view idBin, const ContainerRecord& record,
                                   const std::optional<ContainerRecord>& previous);
  Result<void> storeContainer(Txn& txn, std::string_view idBin, const ContainerRecord& record,
                              const std::optional<ContainerRecord>& previous);
  // The next id(12) of the store's one sequence, which status-log entries and
  // events share: strictly increasing across threads (LMDB has one writer),
  // restarts and clock steps backwards, because the last one is persisted in
  // this same transaction. `now` gives the seconds part (never below the last).
  Result<std::string> allocateId(Txn& txn, UnixMillis now);
  // Assigns id and createdAt and writes the entry with its index keys, its
  // container's count and the store's last entry id.
  Result<StatusLogEntry> appendLog(Txn& txn, std::string_view cidBin, StatusLogEntry entry);
  // The four order keys of an entry stored under eid, and its container's count.
  Result<void> indexLog(Txn& txn, std::string_view cidBin, std::string_view eid, const StatusLogEntry& entry);
  // Checks events handed to a write of `record` and fills in what the store
  // completes (Store's contract in store.hpp): before the transaction.
  static Result<void> prepareEvents(const ContainerRecord& record, std::vector<EventRecord>& events);
  // Writes the events (passed through prepareEvents) to the event log and
  // returns them as written. The first takes firstIdBin when given (the id of
  // the status-log entry it reports), the others fresh ids in the order given;
  // a time of 0 becomes `now`.
  Result<std::vector<EventRecord>> appendEvents(Txn& txn, const std::vector<EventRecord>& events,
                                                std::optional<std::string_view> firstIdBin, UnixMillis now);
};

}  // namespace berth::store
