#include "e2e/raw_socket.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <catch2/catch.hpp>

namespace berth::e2e {

namespace {

UniqueFd connectWith(int port, const std::string* sourceAddress) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  if (sourceAddress) {
    sockaddr_in source{};
    source.sin_family = AF_INET;
    REQUIRE(::inet_pton(AF_INET, sourceAddress->c_str(), &source.sin_addr) == 1);
    REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&source), sizeof source) == 0);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval timeout{5, 0};
  REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) == 0);
  return fd;
}

}  // namespace

UniqueFd connectTo(int port) { return connectWith(port, nullptr); }

UniqueFd connectFrom(int port, const std::string& sourceAddress) { return connectWith(port, &sourceAddress); }

void sendAll(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    REQUIRE(n > 0);
    done += static_cast<size_t>(n);
  }
}

bool readSome(int fd, std::string& into, std::chrono::milliseconds timeout) {
  pollfd pfd{fd, POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(1, timeout.count()))) <= 0) return true;
  char buffer[65536];
  ssize_t n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
  if (n <= 0) return false;
  into.append(buffer, static_cast<size_t>(n));
  return true;
}

}  // namespace berth::e2e
