// The floor under every REST row: a minimal HTTP/1.1 server on loopback that
// answers each request with a fixed 200 and does nothing else. One epoll
// thread waits for a request and hands its connection to a worker thread, as
// berthd's gate does, so a request pays the same two wake-ups and no more.
//   build/bench/bench_api_http_floor
// Prints "listening on <port>" (127.0.0.1, a port the kernel picks) and
// serves keep-alive connections until its stdin closes. bench/compare times
// requests to it with the same client as berthd's rows.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/unique_fd.hpp"

using berth::UniqueFd;

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "bench_api_http_floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

// Reads one request header (no body: the client sends GETs) and answers it;
// false once the client has gone.
bool answer(int fd) {
  std::string request;
  char chunk[4096];
  while (request.find("\r\n\r\n") == std::string::npos) {
    ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got <= 0) return false;
    request.append(chunk, static_cast<size_t>(got));
  }
  return ::send(fd, kResponse.data(), kResponse.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(kResponse.size());
}

}  // namespace

int main() {
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) die("socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) die("bind 127.0.0.1:0");
  if (::listen(listener.get(), 64) != 0) die("listen");
  socklen_t length = sizeof address;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) die("getsockname");
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) die("epoll_create1");
  auto watch = [&](int fd, int op, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll.get(), op, fd, &event) != 0) die("epoll_ctl");
  };
  watch(listener.get(), EPOLL_CTL_ADD, EPOLLIN);
  watch(STDIN_FILENO, EPOLL_CTL_ADD, EPOLLIN);

  std::mutex mutex;
  std::condition_variable ready;
  std::deque<int> handed;
  std::thread worker([&] {
    for (;;) {
      int fd;
      {
        std::unique_lock lock(mutex);
        ready.wait(lock, [&] { return !handed.empty(); });
        fd = handed.front();
        handed.pop_front();
      }
      if (fd < 0) return;
      if (answer(fd)) {
        watch(fd, EPOLL_CTL_MOD, EPOLLIN | EPOLLONESHOT);  // back to the epoll thread for the next request
      } else {
        ::close(fd);
      }
    }
  });
  auto hand = [&](int fd) {
    {
      std::lock_guard lock(mutex);
      handed.push_back(fd);
    }
    ready.notify_one();
  };

  std::printf("listening on %d\n", ntohs(address.sin_port));
  std::fflush(stdout);
  for (bool serving = true; serving;) {
    epoll_event events[16];
    int count = ::epoll_wait(epoll.get(), events, 16, -1);
    if (count < 0 && errno == EINTR) continue;
    if (count < 0) die("epoll_wait");
    for (int i = 0; i < count; ++i) {
      int fd = events[i].data.fd;
      if (fd == STDIN_FILENO) {
        char byte;
        serving = ::read(STDIN_FILENO, &byte, 1) > 0;  // until the end of stdin
      } else if (fd == listener.get()) {
        int connection = ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) die("accept4");
        int one = 1;
        if (::setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) die("TCP_NODELAY");
        watch(connection, EPOLL_CTL_ADD, EPOLLIN | EPOLLONESHOT);
      } else {
        hand(fd);
      }
    }
  }
  hand(-1);
  worker.join();
  return 0;
}
