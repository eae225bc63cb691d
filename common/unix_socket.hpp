#pragma once
// One sendmsg(2) of bytes with a file descriptor attached (SCM_RIGHTS).
// Async-signal-safe (no allocation): a container's init sends its
// terminal's master with it between clone and exec.
#include <sys/types.h>

#include <cstddef>

namespace berth {

// The bytes sent (maybe fewer than size), or -1 with errno set. MSG_NOSIGNAL:
// a closed peer is EPIPE, not SIGPIPE.
ssize_t sendWithFd(int socket, const void* data, size_t size, int fd) noexcept;

}  // namespace berth
