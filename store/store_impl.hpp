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
#include <lmdb.h>

#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
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
  Db logs{0, "logs"};
  Db logsById{0, "logs_by_id"};
  Db logsByTime{0, "logs_by_time"};
  Db logsByTo{0, "logs_by_to"};
  Db logsByFrom{0, "logs_by_from"};
  Db logCounts{0, "log_counts"};
  Db logIds{0, "log_ids"};
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
    for (Db* db : {&containers, &live, &names, &logs, &logsById, &logsByTime, &logsByTo, &logsByFrom, &logCounts, &logIds,
                   &users, &usernames, &projects, &memberships, &membershipsByUser, &revoked, &revokedByExpiry,
                   &meta, &events, &netClaims, &snapshots})
      f(*db);
  }
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

  Impl() = default;
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;
  ~Impl() {
    if (env != nullptr) mdb_env_close(env);
  }

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
  // across runs: everything it assigns is derived inside the transaction.
  template <typename F>
  auto write(F&& body) -> std::invoke_result_t<F&, Txn&> {
    for (unsigned attempt = 0;; ++attempt) {
      size_t seen = 0;
      {
        auto lock = shareMap();
        MDB_txn* raw = nullptr;
        int rc = mdb_txn_begin(env, nullptr, 0, &raw);
        if (rc == MDB_MAP_RESIZED) {
          lock.unlock();
          BERTH_TRYV(adoptResized());
          continue;
        }
        if (rc != 0) return tl::unexpected(lmdbError(rc, "begin write transaction in " + dir));
        Txn txn(raw, true);
        auto result = body(txn);
        if (!txn.mapFull()) {
          if (!result) return result;  // txn aborts
          auto committed = txn.commit();
          if (committed) return result;
          if (!txn.mapFull()) return tl::unexpected(std::move(committed.error()));
        }
        seen = mapSize();
      }  // aborted, lock released: the resize may take the mutex exclusive
      if (attempt >= kMaxGrowths)
        return fail(Errc::resource_exhausted, "lmdb map of " + dir + " is full at " + std::to_string(seen) +
                                                  " bytes and may not grow further");
      BERTH_TRYV(grow(seen));
    }
  }

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
  // Assigns id and createdAt and writes the entry with its indexes, its
  // container's count and the store's last entry id.
  Result<StatusLogEntry> appendLog(Txn& txn, std::string_view cidBin, StatusLogEntry entry);
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
