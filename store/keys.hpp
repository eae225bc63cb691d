#pragma once
// Byte layouts of the store's keys. Every multi-byte number is big-endian so
// LMDB's memcmp order is numeric order.
//
//   containers        id(12)                              -> container JSON
//   containers_live   id(12)                              -> status name '\0' project id   (not deleted)
//   names             project id '\0' name                -> id(12)                          (not deleted)
//   log_entries       eid(12)                             -> entry JSON     (every entry, id order)
//   log_index         cid(12)                             -> count(8)       (the container's entries)
//                     cid(12) 'c' eid(12)                 -> ""             (created_at order = id order)
//                     cid(12) 'w' time(8) eid(12)         -> ""             (transition_time order)
//                     cid(12) 't' status name '\0' eid(12) -> ""           (to_status order)
//                     cid(12) 'f' status name '\0' eid(12) -> ""           (from_status order)
//   users             user id                             -> user JSON
//   usernames         username                            -> user id
//   projects          project id                          -> project JSON
//   memberships       project id '\0' user id             -> membership JSON
//   memberships_by_user user id '\0' project id           -> membership JSON
//   revoked_tokens    jti                                 -> expiry time(8)
//   revoked_by_expiry time(8) jti                         -> ""
//   meta              text key                            -> text value
//   events            eid(12)                             -> event JSON     (the event log, id order)
//   net_claims        "ip/" address                       -> id(12)         (live bridge containers)
//                     "port/" proto "/" port(5) "/" host ip -> id(12)        (published ports, live containers)
//                     "subnet/" network                   -> project id     (a project's bridge subnet)
//                     "project_subnet/" project id        -> network
//   snapshots         cid(12) sid(12)                     -> snapshot JSON
//
// The status-log index keys carry no values so a page deep in a long log is
// reached by walking densely packed keys; log_entries is only read for the
// entries of the page (walking JSON-filled leaves instead was ~6x slower at
// page 5000 of 100k entries). One tree holds a container's count and its four
// orders side by side, so a transition dirties one leaf of it while the log is
// short (schema 1 kept five trees keyed by container, one repeating another's
// keys, plus a count and an id tree: ~12 pages per commit; see migrate.cpp).
//
// Entries and events draw their ids from one sequence (meta
// store.last_log_id), so an event reporting a transition carries its entry's
// id. The event log's size is LMDB's own count of the events database (O(1),
// mdb_stat); meta store.events_pruned_through holds the newest pruned id.
//
// id(12)/cid/eid: the 12 bytes of a 24-hex object id; time(8): signed
// milliseconds with the sign bit flipped, so negative times sort first.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/ids.hpp"
#include "store/records.hpp"

namespace berth::store::keys {

inline constexpr size_t kIdBytes = 12;

inline int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The 12 bytes of a 24 lowercase hex id; nullopt for anything else.
inline std::optional<std::string> idToBin(std::string_view hex) {
  if (!isObjectId(hex)) return std::nullopt;
  std::string bin(kIdBytes, '\0');
  for (size_t i = 0; i < kIdBytes; ++i)
    bin[i] = static_cast<char>((hexValue(hex[2 * i]) << 4) | hexValue(hex[2 * i + 1]));
  return bin;
}

inline std::string binToId(std::string_view bin) { return toHex(bin.data(), bin.size()); }

inline std::string be64(uint64_t value) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(value >> (56 - 8 * i));
  return out;
}

inline uint64_t readBe64(std::string_view bytes) {
  uint64_t value = 0;
  for (size_t i = 0; i < 8 && i < bytes.size(); ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

inline uint32_t readBe32(std::string_view bytes) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4 && i < bytes.size(); ++i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

inline constexpr uint64_t kSignBit = uint64_t{1} << 63;

inline std::string timeKey(int64_t millis) { return be64(static_cast<uint64_t>(millis) ^ kSignBit); }
inline int64_t readTimeKey(std::string_view bytes) { return static_cast<int64_t>(readBe64(bytes) ^ kSignBit); }

// An entry id: 4-byte big-endian seconds + 8-byte big-endian sequence.
inline std::string entryIdBin(uint32_t seconds, uint64_t sequence) {
  std::string out(kIdBytes, '\0');
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(seconds >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<char>(sequence >> (56 - 8 * i));
  return out;
}

// "a" '\0' "b": composite text keys (project + name, project + user).
inline std::string pairKey(std::string_view first, std::string_view second) {
  std::string key;
  key.reserve(first.size() + 1 + second.size());
  key.append(first);
  key.push_back('\0');
  key.append(second);
  return key;
}

// The orders of log_index, each a byte after the container id.
enum class LogOrder : char { created = 'c', time = 'w', to = 't', from = 'f' };

// The prefix of one container's keys of one order.
inline std::string logOrderPrefix(std::string_view cid, LogOrder order) {
  std::string key(cid);
  key.push_back(static_cast<char>(order));
  return key;
}

inline std::string logCreatedKey(std::string_view cid, std::string_view eid) {
  std::string key = logOrderPrefix(cid, LogOrder::created);
  key.append(eid);
  return key;
}

inline std::string logTimeKey(std::string_view cid, int64_t transitionTime, std::string_view eid) {
  std::string key = logOrderPrefix(cid, LogOrder::time);
  key.append(timeKey(transitionTime));
  key.append(eid);
  return key;
}

// The status name (alphabetical order = the API's order), terminated so no
// name can be read as the prefix of another.
inline std::string logStatusKey(std::string_view cid, LogOrder order, ContainerStatus status, std::string_view eid) {
  std::string key = logOrderPrefix(cid, order);
  key.append(statusName(status));
  key.push_back('\0');
  key.append(eid);
  return key;
}

// The smallest key greater than every key starting with prefix; nullopt when
// there is none (the prefix is all 0xff).
inline std::optional<std::string> prefixSuccessor(std::string prefix) {
  while (!prefix.empty()) {
    auto last = static_cast<unsigned char>(prefix.back());
    if (last != 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::nullopt;
}

inline bool hasPrefix(std::string_view key, std::string_view prefix) {
  return key.size() >= prefix.size() && key.substr(0, prefix.size()) == prefix;
}

}  // namespace berth::store::keys
