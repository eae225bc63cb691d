// Status logs: appending an entry with its indexes, paging one container's
// log through the index of the requested sort key, and the global replay.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "common/clock.hpp"
#include "store/codec.hpp"
#include "store/keys.hpp"
#include "store/paging.hpp"
#include "store/store.hpp"
#include "store/store_impl.hpp"

namespace berth::store {

using keys::kIdBytes;

Result<std::string> Store::Impl::allocateId(Txn& txn, UnixMillis now) {
  uint32_t lastSeconds = 0;
  uint64_t lastSequence = 0;
  {
    BERTH_TRY(auto last, txn.get(db.meta, kMetaLastLogId));
    if (last) {
      if (last->size() != kIdBytes)
        return fail(Errc::internal, "corrupt meta[" + std::string(kMetaLastLogId) + "]: " + std::to_string(last->size()) +
                                        " bytes, not " + std::to_string(kIdBytes));
      lastSeconds = keys::readBe32(*last);
      lastSequence = keys::readBe64(last->substr(4));
    }
  }
  auto nowSeconds = static_cast<uint32_t>(std::clamp<int64_t>(now / 1000, 0, std::numeric_limits<uint32_t>::max()));
  uint32_t seconds = std::max(nowSeconds, lastSeconds);
  uint64_t sequence = lastSequence + 1;  // one sequence for the whole store
  if (lastSequence == std::numeric_limits<uint64_t>::max()) {
    if (lastSeconds == std::numeric_limits<uint32_t>::max())
      return fail(Errc::resource_exhausted, "status-log entry and event ids are exhausted");
    seconds = std::max(seconds, lastSeconds + 1);
    sequence = 0;
  }
  std::string id = keys::entryIdBin(seconds, sequence);
  BERTH_TRYV(txn.put(db.meta, kMetaLastLogId, id));
  return id;
}

Result<void> Store::Impl::indexLog(Txn& txn, std::string_view cidBin, std::string_view eid,
                                  const StatusLogEntry& entry) {
  BERTH_TRYV(txn.put(db.logIndex, keys::logCreatedKey(cidBin, eid), {}));
  BERTH_TRYV(txn.put(db.logIndex, keys::logTimeKey(cidBin, entry.transitionTime, eid), {}));
  BERTH_TRYV(txn.put(db.logIndex, keys::logStatusKey(cidBin, keys::LogOrder::to, entry.toStatus, eid), {}));
  BERTH_TRYV(txn.put(db.logIndex, keys::logStatusKey(cidBin, keys::LogOrder::from, entry.fromStatus, eid), {}));
  uint64_t count = 0;
  {
    BERTH_TRY(auto counted, txn.get(db.logIndex, cidBin));
    if (counted) count = keys::readBe64(*counted);
  }
  return txn.put(db.logIndex, cidBin, keys::be64(count + 1));
}

Result<StatusLogEntry> Store::Impl::appendLog(Txn& txn, std::string_view cidBin, StatusLogEntry entry) {
  entry.createdAt = nowMillis();
  BERTH_TRY(std::string eid, allocateId(txn, entry.createdAt));
  entry.id = keys::binToId(eid);
  entry.containerId = keys::binToId(cidBin);
  BERTH_TRY(auto bytes, codec::encode(entry));
  BERTH_TRYV(txn.put(db.logEntries, eid, bytes, MDB_APPEND));  // ids only grow: append
  BERTH_TRYV(indexLog(txn, cidBin, eid, entry));
  return entry;
}

namespace {

Result<StatusLogEntry> decodeEntryAt(std::string_view bytes, std::string_view key) {
  auto entry = codec::decodeEntry(bytes);
  if (!entry) return tl::unexpected(std::move(entry.error()).wrap("log_entries[" + showKey(key) + "]"));
  return entry;
}

}  // namespace

Result<LogPage> Store::statusLogs(const std::string& containerId, const LogQuery& query) const {
  BERTH_TRYV(paging::check(query.page));
  auto cid = keys::idToBin(containerId);
  if (!cid) return fail(Errc::not_found, "container " + containerId + " not found");
  const Impl& m = *impl_;

  std::optional<keys::LogOrder> order;
  switch (query.sortBy) {
    case LogSortBy::transition_time: order = keys::LogOrder::time; break;
    case LogSortBy::created_at: order = keys::LogOrder::created; break;  // created_at order is id order
    case LogSortBy::to_status: order = keys::LogOrder::to; break;
    case LogSortBy::from_status: order = keys::LogOrder::from; break;
  }
  if (!order) return fail(Errc::invalid_argument, "unknown sort key");
  const std::string prefix = keys::logOrderPrefix(*cid, *order);

  return m.read([&](Txn& txn) -> Result<LogPage> {
    BERTH_TRY(auto record, txn.get(m.db.containers, *cid));
    if (!record) return fail(Errc::not_found, "container " + containerId + " not found");
    uint64_t total = 0;
    {
      BERTH_TRY(auto counted, txn.get(m.db.logIndex, *cid));
      if (counted) total = keys::readBe64(*counted);
    }
    LogPage page;
    page.pagination = paging::paginate(total, query.page);
    auto window = paging::window(total, query.page);
    if (!window) return page;

    // Walk this container's key range of the order from the nearer end: skip
    // what lies before the page, then read the page. Every index key ends in
    // the entry id, so equal sort values come out in id order, reversed with
    // the direction.
    bool forward = query.order == SortOrder::asc;
    uint64_t skip = window->offset;
    const uint64_t after = total - window->offset - window->count;
    const bool fromOtherEnd = after < skip;
    if (fromOtherEnd) {
      forward = !forward;
      skip = after;
    }

    BERTH_TRY(auto cursor, Cursor::open(txn, m.db.logIndex));
    bool at = false;
    if (forward) {
      BERTH_TRY(at, cursor.seek(prefix));
      at = at && keys::hasPrefix(cursor.key(), prefix);
    } else {
      BERTH_TRY(at, cursor.lastWithPrefix(prefix));
    }
    auto step = [&]() -> Result<bool> {
      BERTH_TRY(bool moved, forward ? cursor.next() : cursor.prev());
      return moved && keys::hasPrefix(cursor.key(), prefix);
    };
    for (uint64_t i = 0; i < skip && at; ++i) {
      BERTH_TRY(at, step());
    }

    page.logs.reserve(static_cast<size_t>(std::min<uint64_t>(window->count, 1024)));  // limit is the caller's
    while (at && page.logs.size() < window->count) {
      std::string_view key = cursor.key();
      if (key.size() < prefix.size() + kIdBytes)
        return fail(Errc::internal, std::string("corrupt key in ") + m.db.logIndex.name + ": " + showKey(key));
      std::string eid(key.substr(key.size() - kIdBytes));
      BERTH_TRY(auto bytes, txn.get(m.db.logEntries, eid));
      if (!bytes)
        return fail(Errc::internal, std::string(m.db.logIndex.name) + "[" + showKey(key) +
                                        "] names an entry that is not in " + m.db.logEntries.name);
      BERTH_TRY(auto entry, decodeEntryAt(*bytes, eid));
      page.logs.push_back(std::move(entry));
      BERTH_TRY(at, step());
    }
    if (fromOtherEnd) std::reverse(page.logs.begin(), page.logs.end());
    return page;
  });
}

Result<std::vector<StatusLogEntry>> Store::logEntriesAfter(const std::string& afterId, size_t limit) const {
  std::optional<std::string> after;
  if (!afterId.empty()) {
    after = keys::idToBin(afterId);
    if (!after) return fail(Errc::invalid_argument, "entry id '" + afterId + "' is not 24 lowercase hex");
  }
  if (limit == 0) return std::vector<StatusLogEntry>{};
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::vector<StatusLogEntry>> {
    std::vector<StatusLogEntry> entries;
    BERTH_TRY(auto cursor, Cursor::open(txn, m.db.logEntries));
    bool at = false;
    if (after) {
      BERTH_TRY(at, cursor.seek(*after));
      if (at && cursor.key() == *after) {
        BERTH_TRY(at, cursor.next());
      }
    } else {
      BERTH_TRY(at, cursor.first());
    }
    while (at && entries.size() < limit) {
      BERTH_TRY(auto entry, decodeEntryAt(cursor.value(), cursor.key()));
      entries.push_back(std::move(entry));
      BERTH_TRY(at, cursor.next());
    }
    return entries;
  });
}

}  // namespace berth::store
