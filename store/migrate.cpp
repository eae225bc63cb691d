// Upgrades of an existing store, run by Store::open inside its transaction,
// so a store is upgraded completely or not at all.
//
// Schema 1 -> 2: the status log moves from seven trees (logs keyed by
// container and entry; logs_by_id, its key-only twin; logs_by_time,
// logs_by_to, logs_by_from; log_counts; log_ids, entry -> container) into
// log_entries (keyed by entry id alone) and log_index (a container's count
// and its four orders in one tree). The entries keep their ids, so the
// events that carry them still match; nothing else changes.
#include "store/codec.hpp"
#include "store/keys.hpp"
#include "store/store_impl.hpp"

namespace berth::store {

using keys::kIdBytes;

Result<void> Store::Impl::migrateFromSchemaOne(Txn& txn) {
  SchemaOneLogDbs old;
  for (Db* tree : {&old.logs, &old.logsById, &old.logsByTime, &old.logsByTo, &old.logsByFrom, &old.logCounts, &old.logIds}) {
    if (int rc = mdb_dbi_open(txn.raw(), tree->name, 0, &tree->dbi); rc != 0)
      return tl::unexpected(txn.failure(rc, std::string("open database ") + tree->name + " of schema 1"));
  }
  {
    BERTH_TRY(auto cursor, Cursor::open(txn, old.logs));
    BERTH_TRY(bool at, cursor.first());
    while (at) {
      std::string_view key = cursor.key();
      if (key.size() != 2 * kIdBytes)
        return fail(Errc::internal, std::string("corrupt key in ") + old.logs.name + " of schema 1: " + showKey(key));
      std::string cid(key.substr(0, kIdBytes));
      std::string eid(key.substr(kIdBytes));
      auto entry = codec::decodeEntry(cursor.value());
      if (!entry)
        return tl::unexpected(std::move(entry.error()).wrap(std::string(old.logs.name) + "[" + showKey(key) + "] of schema 1"));
      // Entries of one container come in id order, of all containers not: no MDB_APPEND here.
      BERTH_TRYV(txn.put(db.logEntries, eid, cursor.value(), MDB_NOOVERWRITE));
      BERTH_TRYV(indexLog(txn, cid, eid, *entry));
      BERTH_TRY(at, cursor.next());
    }
  }
  // The count written per container must be what schema 1 counted.
  {
    BERTH_TRY(auto cursor, Cursor::open(txn, old.logCounts));
    BERTH_TRY(bool at, cursor.first());
    while (at) {
      std::string cid(cursor.key());
      uint64_t counted = keys::readBe64(cursor.value());
      BERTH_TRY(auto copied, txn.get(db.logIndex, cid));
      uint64_t found = copied ? keys::readBe64(*copied) : 0;
      if (found != counted)
        return fail(Errc::internal, "schema 1 counts " + std::to_string(counted) + " status-log entries of container " +
                                        keys::binToId(cid) + " but holds " + std::to_string(found));
      BERTH_TRY(at, cursor.next());
    }
  }
  for (Db* tree : {&old.logs, &old.logsById, &old.logsByTime, &old.logsByTo, &old.logsByFrom, &old.logCounts, &old.logIds}) {
    if (int rc = mdb_drop(txn.raw(), tree->dbi, 1); rc != 0)
      return tl::unexpected(txn.failure(rc, std::string("drop database ") + tree->name + " of schema 1"));
  }
  return {};
}

}  // namespace berth::store
