#pragma once
// Thin RAII over LMDB for the store: a transaction aborts unless committed, a
// cursor closes with its scope, and every failure becomes an Error naming the
// operation, the database and the key, with mdb_strerror's text.
//
// Cursors must go out of scope before their transaction commits (the store's
// write bodies are lambdas that return before the commit, so they do).
#include <lmdb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/error.hpp"

namespace berth::store {

struct Db {
  MDB_dbi dbi = 0;
  const char* name = "";
};

// Keys are shown as text when printable (a '\0' separator as '|'), else as hex.
std::string showKey(std::string_view key);

// "lmdb <operation>: <mdb_strerror>"; system errors (rc > 0) are host_refused,
// LMDB's own codes internal.
Error lmdbError(int rc, std::string_view operation);

inline MDB_val toVal(std::string_view bytes) {
  return MDB_val{bytes.size(), const_cast<char*>(bytes.data())};
}
inline std::string_view fromVal(const MDB_val& val) {
  return {static_cast<const char*>(val.mv_data), val.mv_size};
}

class Txn {
 public:
  Txn() = default;
  Txn(MDB_txn* txn, bool writable) : txn_(txn), writable_(writable) {}
  Txn(Txn&& other) noexcept;
  Txn& operator=(Txn&& other) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  MDB_txn* raw() const { return txn_; }
  bool writable() const { return writable_; }
  // Set once any call of this transaction met MDB_MAP_FULL: the caller grows
  // the map and runs the whole transaction again.
  bool mapFull() const { return mapFull_; }

  // The view points into the map: valid until the transaction ends or (in a
  // write transaction) until the next write. Copy what must outlive that.
  Result<std::optional<std::string_view>> get(const Db& db, std::string_view key);
  Result<void> put(const Db& db, std::string_view key, std::string_view value, unsigned flags = 0);
  // false when the key was not there.
  Result<bool> del(const Db& db, std::string_view key);
  // How many keys db holds, as of this transaction (mdb_stat: no scan).
  Result<uint64_t> entries(const Db& db);
  Result<void> commit();
  void abort();

  // Records MDB_MAP_FULL and builds the error.
  Error failure(int rc, std::string_view operation);

 private:
  MDB_txn* txn_ = nullptr;
  bool writable_ = false;
  bool mapFull_ = false;
};

class Cursor {
 public:
  static Result<Cursor> open(Txn& txn, const Db& db);
  Cursor(Cursor&& other) noexcept;
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor();

  // Each returns false when there is no such entry (MDB_NOTFOUND).
  Result<bool> seek(std::string_view key);  // first key >= key
  Result<bool> first();
  Result<bool> last();
  Result<bool> next();
  Result<bool> prev();
  // The last key in [prefix, successor(prefix)) or false when that range is empty.
  Result<bool> lastWithPrefix(std::string_view prefix);

  // Valid after a true positioning call, until the next write in this transaction.
  std::string_view key() const { return fromVal(key_); }
  std::string_view value() const { return fromVal(value_); }

 private:
  Cursor(MDB_cursor* cursor, Txn* txn, const Db* db) : cursor_(cursor), txn_(txn), db_(db) {}
  Result<bool> move(MDB_cursor_op op, const char* what);

  MDB_cursor* cursor_ = nullptr;
  Txn* txn_ = nullptr;
  const Db* db_ = nullptr;
  MDB_val key_{0, nullptr};
  MDB_val value_{0, nullptr};
};

}  // namespace berth::store
