#include "runtime/users.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "common/files.hpp"
#include "common/unique_fd.hpp"

namespace berth::runtime {

namespace {

// The first host range starts at 2^28; 4096 of them fit below 2^29.
constexpr uint32_t kIdRangeBase = 1u << 28;
constexpr uint32_t kIdRangeCount = 4096;
// A passwd or group file larger than this is not an image's.
constexpr size_t kMaxUserFileBytes = 4u << 20;
constexpr uint32_t kMaxHostId = 0xfffffffeu;  // (uid_t)-1 means "no change" to setresuid

std::optional<uint32_t> parseId(std::string_view text) {
  uint32_t value = 0;
  if (text.empty() || text.size() > 10) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The colon-separated fields of each line of an /etc file.
template <typename Visit>
void forEachEntry(std::string_view text, Visit visit) {
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> fields;
    for (;;) {
      size_t colon = line.find(':');
      fields.push_back(line.substr(0, colon));
      if (colon == std::string_view::npos) break;
      line.remove_prefix(colon + 1);
    }
    if (visit(fields)) return;
  }
}

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
};

// By name, or by uid when `byUid`.
std::optional<PasswdEntry> findPasswd(std::string_view passwd, std::string_view key, bool byUid) {
  std::optional<PasswdEntry> found;
  forEachEntry(passwd, [&](const std::vector<std::string_view>& f) {
    if (f.size() < 4) return false;
    auto uid = parseId(f[2]);
    auto gid = parseId(f[3]);
    if (!uid || !gid || (byUid ? f[2] != key : f[0] != key)) return false;
    found = PasswdEntry{std::string(f[0]), *uid, *gid};
    return true;
  });
  return found;
}

std::optional<uint32_t> findGroup(std::string_view group, std::string_view name) {
  std::optional<uint32_t> found;
  forEachEntry(group, [&](const std::vector<std::string_view>& f) {
    if (f.size() < 3 || f[0] != name) return false;
    found = parseId(f[2]);
    return found.has_value();
  });
  return found;
}

std::vector<uint32_t> groupsListing(std::string_view group, std::string_view user, uint32_t maxId) {
  std::vector<uint32_t> gids;
  forEachEntry(group, [&](const std::vector<std::string_view>& f) {
    if (f.size() < 4) return false;
    auto gid = parseId(f[2]);
    if (!gid || *gid > maxId) return false;
    std::string_view members = f[3];
    while (!members.empty()) {
      size_t comma = members.find(',');
      if (members.substr(0, comma) == user) {
        gids.push_back(*gid);
        break;
      }
      members = comma == std::string_view::npos ? std::string_view() : members.substr(comma + 1);
    }
    return false;
  });
  return gids;
}

tl::unexpected<Error> badUser(const std::string& spec, const std::string& why) {
  return fail(Errc::invalid_argument, "user \"" + spec + "\": " + why);
}

Result<std::string> readInRoot(int rootFd, const char* path) {
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  UniqueFd fd(static_cast<int>(::syscall(SYS_openat2, rootFd, path, &how, sizeof how)));
  if (!fd) {
    if (errno == ENOENT) return std::string();
    return sysFail(Errc::host_refused, std::string("open the image's /") + path);
  }
  BERTH_TRY(std::string text, readFd(fd.get()));
  if (text.size() > kMaxUserFileBytes) return fail(Errc::host_refused, std::string("the image's /") + path + " is too large");
  return text;
}

}  // namespace

Result<store::ProcessUser> resolveUser(const std::string& spec, std::string_view passwd, std::string_view group,
                                       uint32_t maxId) {
  if (spec.empty()) return badUser(spec, "must not be empty");
  const size_t colon = spec.find(':');
  const std::string_view userPart = std::string_view(spec).substr(0, colon);
  const std::optional<std::string_view> groupPart =
      colon == std::string::npos ? std::nullopt : std::optional(std::string_view(spec).substr(colon + 1));
  if (userPart.empty() || (groupPart && groupPart->empty())) return badUser(spec, "expected uid, uid:gid, name or name:group");

  store::ProcessUser user;
  user.name = spec;
  std::optional<PasswdEntry> entry;
  if (auto uid = parseId(userPart)) {
    user.uid = *uid;
    entry = findPasswd(passwd, userPart, true);
  } else {
    entry = findPasswd(passwd, userPart, false);
    if (!entry) return badUser(spec, "no user \"" + std::string(userPart) + "\" in the image's /etc/passwd");
    user.uid = entry->uid;
  }
  user.gid = entry ? entry->gid : 0;
  if (groupPart) {
    if (auto gid = parseId(*groupPart)) {
      user.gid = *gid;
    } else {
      auto named = findGroup(group, *groupPart);
      if (!named) return badUser(spec, "no group \"" + std::string(*groupPart) + "\" in the image's /etc/group");
      user.gid = *named;
    }
  }
  const uint32_t limit = std::min(maxId, kMaxHostId);
  if (user.uid > limit || user.gid > limit)
    return badUser(spec, "uid and gid must be 0-" + std::to_string(limit));
  if (entry) user.groups = groupsListing(group, entry->name, limit);
  return user;
}

Result<store::ProcessUser> resolveImageUser(const std::string& rootfs, const std::string& spec, uint32_t maxId) {
  UniqueFd root(::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) return sysFail(Errc::host_refused, "open image root " + rootfs);
  BERTH_TRY(std::string passwd, readInRoot(root.get(), "etc/passwd"));
  BERTH_TRY(std::string group, readInRoot(root.get(), "etc/group"));
  return resolveUser(spec, passwd, group, maxId);
}

uint32_t maxContainerId(std::string_view isolation) {
  return isolation == store::kUserNamespace ? kIdMapSize - 1 : kMaxHostId;
}

std::string formatUmask(uint32_t umask) {
  std::string text = "0000";
  for (int i = 3; i >= 0; --i, umask >>= 3) text[static_cast<size_t>(i)] = static_cast<char>('0' + (umask & 7));
  return text;
}

std::vector<uint32_t> idRangeCandidates() {
  std::vector<uint32_t> candidates;
  candidates.reserve(kIdRangeCount);
  for (uint32_t i = 0; i < kIdRangeCount; ++i) candidates.push_back(kIdRangeBase + i * kIdMapSize);
  return candidates;
}

}  // namespace berth::runtime
