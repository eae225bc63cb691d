#pragma once
// Record <-> bytes: JSON (nlohmann, kept inside codec.cpp). Absent optionals are
// written as null and read back from null or a missing field. Every decoding
// failure (not JSON, wrong type, unknown enum name) is Errc::internal: a stored
// record that does not decode is a corrupted invariant, never an exception.
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "store/records.hpp"

namespace berth::store::codec {

// Encoding fails (invalid_argument) only for strings that are not valid UTF-8.
Result<std::string> encode(const ContainerRecord& record);
Result<std::string> encode(const StatusLogEntry& entry);
Result<std::string> encode(const UserRecord& user);
Result<std::string> encode(const ProjectRecord& project);
Result<std::string> encode(const SnapshotRecord& snapshot);
Result<std::string> encode(const Membership& membership);
// The event's data is kept as a JSON string holding its text (opaque here).
Result<std::string> encode(const EventRecord& event);

Result<ContainerRecord> decodeContainer(std::string_view bytes);
Result<StatusLogEntry> decodeEntry(std::string_view bytes);
Result<UserRecord> decodeUser(std::string_view bytes);
Result<ProjectRecord> decodeProject(std::string_view bytes);
Result<SnapshotRecord> decodeSnapshot(std::string_view bytes);
Result<Membership> decodeMembership(std::string_view bytes);
Result<EventRecord> decodeEvent(std::string_view bytes);

}  // namespace berth::store::codec
