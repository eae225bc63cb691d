// The event log (API.md §8): events appended in the transaction of the
// change they report, the replay after an id, and pruning by retention.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "common/clock.hpp"
#include "store/codec.hpp"
#include "store/keys.hpp"
#include "store/store.hpp"
#include "store/store_impl.hpp"

namespace berth::store {

using keys::kIdBytes;

namespace {

Result<EventRecord> decodeEventAt(std::string_view bytes, std::string_view key) {
  auto event = codec::decodeEvent(bytes);
  if (!event) return tl::unexpected(std::move(event.error()).wrap("events[" + showKey(key) + "]"));
  return event;
}

// meta[store.events_pruned_through], or nullopt before the first prune.
Result<std::optional<std::string>> prunedThrough(Txn& txn, const Dbs& db) {
  BERTH_TRY(auto value, txn.get(db.meta, kMetaEventsPrunedThrough));
  if (!value) return std::optional<std::string>{};
  if (value->size() != kIdBytes)
    return fail(Errc::internal, "corrupt meta[" + std::string(kMetaEventsPrunedThrough) + "]: " +
                                    std::to_string(value->size()) + " bytes, not " + std::to_string(kIdBytes));
  return std::optional<std::string>(std::string(*value));
}

}  // namespace

Result<void> Store::Impl::prepareEvents(const ContainerRecord& record, std::vector<EventRecord>& events) {
  for (auto& event : events) {
    if (!event.id.empty())
      return fail(Errc::invalid_argument, "event " + event.id + " of container " + record.id +
                                              " comes with an id: event ids are assigned by the store");
    if (event.type.empty()) return fail(Errc::invalid_argument, "an event of container " + record.id + " has no type");
    if (event.containerId.empty()) event.containerId = record.id;
    if (event.containerId != record.id)
      return fail(Errc::invalid_argument, "event " + event.type + " names container " + event.containerId + ", not " +
                                              record.id);
    if (event.projectId.empty()) event.projectId = record.projectId;
  }
  return {};
}

Result<std::vector<EventRecord>> Store::Impl::appendEvents(Txn& txn, const std::vector<EventRecord>& events,
                                                           std::optional<std::string_view> firstIdBin, UnixMillis now) {
  std::vector<EventRecord> written;
  written.reserve(events.size());
  for (const auto& given : events) {
    EventRecord event = given;
    std::string idBin;
    if (written.empty() && firstIdBin) {
      idBin = std::string(*firstIdBin);
    } else {
      BERTH_TRY(idBin, allocateId(txn, now));
    }
    event.id = keys::binToId(idBin);
    if (event.time == 0) event.time = now;
    BERTH_TRY(auto bytes, codec::encode(event));
    // Ids only grow, so every event goes at the end (LMDB refuses a key
    // that is not greater than the last: a broken sequence is an error).
    BERTH_TRYV(txn.put(db.events, idBin, bytes, MDB_APPEND));
    written.push_back(std::move(event));
  }
  return written;
}

Result<EventPage> Store::eventsAfter(const std::string& afterId, size_t limit) const {
  std::optional<std::string> after;
  if (!afterId.empty()) {
    after = keys::idToBin(afterId);
    if (!after) return fail(Errc::invalid_argument, "event id '" + afterId + "' is not 24 lowercase hex");
  }
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<EventPage> {
    EventPage page;
    if (after) {
      BERTH_TRY(auto pruned, prunedThrough(txn, m.db));
      // Every event up to `pruned` is gone: the caller missed the ones after its id.
      page.reset = pruned && *after < *pruned;
    }
    if (limit == 0) return page;
    BERTH_TRY(auto cursor, Cursor::open(txn, m.db.events));
    bool at = false;
    if (after) {
      BERTH_TRY(at, cursor.seek(*after));
      if (at && cursor.key() == *after) {
        BERTH_TRY(at, cursor.next());
      }
    } else {
      BERTH_TRY(at, cursor.first());
    }
    page.events.reserve(std::min<size_t>(limit, 1024));  // limit is the caller's
    while (at && page.events.size() < limit) {
      BERTH_TRY(auto event, decodeEventAt(cursor.value(), cursor.key()));
      page.events.push_back(std::move(event));
      BERTH_TRY(at, cursor.next());
    }
    return page;
  });
}

Result<std::optional<std::string>> Store::lastEventId() const {
  const Impl& m = *impl_;
  return m.read([&](Txn& txn) -> Result<std::optional<std::string>> {
    {
      BERTH_TRY(auto cursor, Cursor::open(txn, m.db.events));
      BERTH_TRY(bool any, cursor.last());
      if (any) return std::optional<std::string>(keys::binToId(cursor.key()));
    }
    // None kept: pruning goes oldest first, so the newest pruned is the newest written.
    BERTH_TRY(auto pruned, prunedThrough(txn, m.db));
    if (!pruned) return std::optional<std::string>{};
    return std::optional<std::string>(keys::binToId(*pruned));
  });
}

Result<size_t> Store::pruneEvents(const EventRetention& retention, UnixMillis now, size_t batch) {
  if (retention.maxAgeMs < 0)
    return fail(Errc::invalid_argument, "event retention age " + std::to_string(retention.maxAgeMs) + " ms is negative");
  if (batch == 0) return size_t{0};
  UnixMillis cutoff = 0;  // an event with time < cutoff is too old
  if (__builtin_sub_overflow(now, retention.maxAgeMs, &cutoff)) cutoff = std::numeric_limits<UnixMillis>::min();
  Impl& m = *impl_;
  return m.write([&](Txn& txn) -> Result<size_t> {
    BERTH_TRY(uint64_t kept, txn.entries(m.db.events));
    std::vector<std::string> doomed;
    {
      BERTH_TRY(auto cursor, Cursor::open(txn, m.db.events));
      BERTH_TRY(bool at, cursor.first());
      // API.md §8 keeps at least the last maxEvents events or maxAge of them, whichever is more:
      // an event goes only when it is both beyond the count and too old.
      while (at && doomed.size() < batch) {
        if (kept - doomed.size() <= retention.maxEvents) break;
        BERTH_TRY(auto event, decodeEventAt(cursor.value(), cursor.key()));
        if (event.time >= cutoff) break;
        doomed.emplace_back(cursor.key());
        BERTH_TRY(at, cursor.next());
      }
    }
    for (const auto& key : doomed) {
      BERTH_TRYV(txn.del(m.db.events, key));
    }
    if (!doomed.empty()) {
      BERTH_TRYV(txn.put(m.db.meta, kMetaEventsPrunedThrough, doomed.back()));
    }
    return doomed.size();
  });
}

}  // namespace berth::store
