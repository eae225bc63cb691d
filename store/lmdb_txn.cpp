#include "store/lmdb_txn.hpp"

#include <utility>

#include "common/ids.hpp"
#include "store/keys.hpp"

namespace berth::store {

std::string showKey(std::string_view key) {
  constexpr size_t kShown = 96;  // bytes of a long key shown in a message
  std::string suffix;
  if (key.size() > kShown) {
    suffix = "...(" + std::to_string(key.size()) + " bytes)";
    key = key.substr(0, kShown);
  }
  bool printable = true;
  for (char c : key) {
    auto u = static_cast<unsigned char>(c);
    if (u != 0 && (u < 0x20 || u > 0x7e)) {
      printable = false;
      break;
    }
  }
  if (!printable) return "0x" + toHex(key.data(), key.size()) + suffix;
  std::string shown(key);
  for (char& c : shown)
    if (c == '\0') c = '|';
  return shown + suffix;
}

Error lmdbError(int rc, std::string_view operation) {
  Error error;
  error.code = rc > 0 ? Errc::host_refused : Errc::internal;
  error.message = "lmdb " + std::string(operation) + ": " + mdb_strerror(rc);
  return error;
}

// --- Txn ---------------------------------------------------------------------

Txn::Txn(Txn&& other) noexcept
    : txn_(std::exchange(other.txn_, nullptr)), writable_(other.writable_), mapFull_(other.mapFull_) {}

Txn& Txn::operator=(Txn&& other) noexcept {
  if (this != &other) {
    abort();
    txn_ = std::exchange(other.txn_, nullptr);
    writable_ = other.writable_;
    mapFull_ = other.mapFull_;
  }
  return *this;
}

void Txn::abort() {
  if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
}

Error Txn::failure(int rc, std::string_view operation) {
  if (rc == MDB_MAP_FULL) mapFull_ = true;
  return lmdbError(rc, operation);
}

Result<std::optional<std::string_view>> Txn::get(const Db& db, std::string_view key) {
  MDB_val k = toVal(key);
  MDB_val v{0, nullptr};
  int rc = mdb_get(txn_, db.dbi, &k, &v);
  if (rc == MDB_NOTFOUND) return std::optional<std::string_view>{};
  if (rc != 0) return tl::unexpected(failure(rc, std::string("get ") + db.name + "[" + showKey(key) + "]"));
  return std::optional<std::string_view>{fromVal(v)};
}

Result<void> Txn::put(const Db& db, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = toVal(key);
  MDB_val v = toVal(value);
  int rc = mdb_put(txn_, db.dbi, &k, &v, flags);
  if (rc != 0) return tl::unexpected(failure(rc, std::string("put ") + db.name + "[" + showKey(key) + "]"));
  return {};
}

Result<bool> Txn::del(const Db& db, std::string_view key) {
  MDB_val k = toVal(key);
  int rc = mdb_del(txn_, db.dbi, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return tl::unexpected(failure(rc, std::string("delete ") + db.name + "[" + showKey(key) + "]"));
  return true;
}

Result<uint64_t> Txn::entries(const Db& db) {
  MDB_stat stat{};
  int rc = mdb_stat(txn_, db.dbi, &stat);
  if (rc != 0) return tl::unexpected(failure(rc, std::string("stat ") + db.name));
  return uint64_t{stat.ms_entries};
}

Result<void> Txn::commit() {
  if (txn_ == nullptr) return fail(Errc::internal, "lmdb commit: no transaction");
  int rc = mdb_txn_commit(std::exchange(txn_, nullptr));  // the handle is freed even on failure
  if (rc != 0) return tl::unexpected(failure(rc, "commit"));
  return {};
}

// --- Cursor ------------------------------------------------------------------

Result<Cursor> Cursor::open(Txn& txn, const Db& db) {
  MDB_cursor* cursor = nullptr;
  int rc = mdb_cursor_open(txn.raw(), db.dbi, &cursor);
  if (rc != 0) return tl::unexpected(txn.failure(rc, std::string("open cursor on ") + db.name));
  return Cursor(cursor, &txn, &db);
}

Cursor::Cursor(Cursor&& other) noexcept
    : cursor_(std::exchange(other.cursor_, nullptr)),
      txn_(other.txn_),
      db_(other.db_),
      key_(other.key_),
      value_(other.value_) {}

Cursor::~Cursor() {
  if (cursor_ != nullptr) mdb_cursor_close(cursor_);
}

Result<bool> Cursor::move(MDB_cursor_op op, const char* what) {
  int rc = mdb_cursor_get(cursor_, &key_, &value_, op);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return tl::unexpected(txn_->failure(rc, std::string("cursor ") + what + " on " + db_->name));
  return true;
}

Result<bool> Cursor::seek(std::string_view key) {
  key_ = toVal(key);
  int rc = mdb_cursor_get(cursor_, &key_, &value_, MDB_SET_RANGE);
  if (rc == MDB_NOTFOUND) return false;
  if (rc != 0) return tl::unexpected(txn_->failure(rc, std::string("cursor seek on ") + db_->name + " to " + showKey(key)));
  return true;
}

Result<bool> Cursor::first() { return move(MDB_FIRST, "first"); }
Result<bool> Cursor::last() { return move(MDB_LAST, "last"); }
Result<bool> Cursor::next() { return move(MDB_NEXT, "next"); }
Result<bool> Cursor::prev() { return move(MDB_PREV, "prev"); }

Result<bool> Cursor::lastWithPrefix(std::string_view prefix) {
  auto successor = keys::prefixSuccessor(std::string(prefix));
  bool positioned = false;
  if (successor) {
    BERTH_TRY(bool found, seek(*successor));
    if (found) {
      BERTH_TRY(positioned, prev());
    } else {
      BERTH_TRY(positioned, last());
    }
  } else {
    BERTH_TRY(positioned, last());
  }
  return positioned && keys::hasPrefix(key(), prefix);
}

}  // namespace berth::store
