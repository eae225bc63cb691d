#pragma once
// Small file helpers whose every failure carries errno and the path.
#include <string>
#include <string_view>

#include "common/error.hpp"
#include "common/unique_fd.hpp"

namespace berth {

Result<UniqueFd> openFile(const std::string& path, int flags, mode_t mode = 0);
Result<std::string> readFile(const std::string& path);
// Reads a whole file through an fd already open (cgroup files re-read via pread
// at 0; pipes read as a stream).
Result<std::string> readFd(int fd);
// Writes in one write(2) call, as kernel interface files (cgroup, proc) need.
Result<void> writeFile(const std::string& path, std::string_view content);
// What a replaced file must outlive. Files in the run dir (a tmpfs, emptied by
// a host crash anyway) need only outlive a crash of berth's processes.
enum class Durability { processCrash, hostCrash };
// What an atomic write does to a file already at the path.
enum class IfExists { replace, keep };  // keep: already_exists, the file left as it was
// Atomic write: a fresh temp file beside it, created with exactly `mode`
// (never wider, not even for a moment), then renamed over the file (readers
// see the old or the new content, never a mix) or, for IfExists::keep, linked
// to its name; for hostCrash, fsynced with its directory.
Result<void> writeFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0644,
                             Durability durability = Durability::hostCrash, IfExists ifExists = IfExists::replace);
// mkdir -p; succeeds if the directory already exists.
Result<void> makeDirs(const std::string& path, mode_t mode = 0755);
// rm -rf that never crosses into another filesystem (a mount left inside is an error).
Result<void> removeTree(const std::string& path);
// The same for parentFd/name, never following a symlink and never crossing
// into another mount; `shown` names it in errors.
Result<void> removeTreeAt(int parentFd, const char* name, const std::string& shown);
bool pathExists(const std::string& path);
// Creates or replaces a file without fsync: for scratch state on tmpfs-like run dirs.
Result<void> writeFileFast(const std::string& path, std::string_view content, mode_t mode = 0644);
}  // namespace berth
