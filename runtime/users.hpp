#pragma once
// The container's user (API.md §14) and its isolation: `user` resolved in
// the image's /etc/passwd and /etc/group, and the host id ranges of user
// namespaces. Pure but for reading the image's two files.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "store/records.hpp"

namespace berth::runtime {

// "uid", "uid:gid", "name" or "name:group" (either side a name or a number)
// against the text of /etc/passwd and /etc/group: a gid not given is the
// user's in passwd (0 for a uid passwd does not have); the supplementary
// groups are those of /etc/group that list the user's name. invalid_argument
// naming `user` for a name that is not there or an id above maxId.
Result<store::ProcessUser> resolveUser(const std::string& spec, std::string_view passwd, std::string_view group,
                                       uint32_t maxId);

// The same in an image's root filesystem (its /etc files read inside it:
// links cannot point out); a missing file is an empty one.
Result<store::ProcessUser> resolveImageUser(const std::string& rootfs, const std::string& spec, uint32_t maxId);

// The largest uid or gid of a container: in a user namespace its map's size - 1.
uint32_t maxContainerId(std::string_view isolation);

// "0022" <-> 022.
std::string formatUmask(uint32_t umask);

// User namespaces: each container's ids 0..kIdMapSize-1 map onto one of these
// host ranges (their first host uid; gids alike), far above the host's own users.
inline constexpr uint32_t kIdMapSize = 65536;
std::vector<uint32_t> idRangeCandidates();

}  // namespace berth::runtime
