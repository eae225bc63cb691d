#pragma once
// One sendmsg(2) of bytes with a file descriptor attached (SCM_RIGHTS), and
// its receiving end. Async-signal-safe (no allocation): a container's init
// sends its terminal's master with it between clone and exec, and receives
// its root filesystem with it in a user namespace.
#include <sys/types.h>

#include <cstddef>

namespace berth {

// The bytes sent (maybe fewer than size), or -1 with errno set. MSG_NOSIGNAL:
// a closed peer is EPIPE, not SIGPIPE.
ssize_t sendWithFd(int socket, const void* data, size_t size, int fd) noexcept;

// One byte and the fd that came with it (close-on-exec), blocking; -1 with
// errno set (EPROTO: the byte came without an fd, EPIPE: the peer closed).
int receiveFd(int socket) noexcept;

}  // namespace berth
