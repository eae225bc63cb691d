// Percent-encoding of URL components and an fd sent with bytes over a unix socket.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "common/percent_encoding.hpp"
#include "common/unique_fd.hpp"
#include "common/unix_socket.hpp"

namespace berth {

TEST_CASE("percent-encoding keeps the unreserved characters and encodes every other byte") {
  CHECK(percentEncode("AZaz09-._~") == "AZaz09-._~");
  CHECK(percentEncode("[\"sh\",\"-c\"]") == "%5B%22sh%22%2C%22-c%22%5D");
  CHECK(percentEncode("a b/c?d&e=f") == "a%20b%2Fc%3Fd%26e%3Df");
  CHECK(percentEncode("\xc3\xa9") == "%C3%A9");
  CHECK(percentEncode("") == "");
}

TEST_CASE("an fd sent with bytes arrives as a new fd on the same open file") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
  UniqueFd sender(pair[0]), receiver(pair[1]);
  int pipeFds[2];
  REQUIRE(::pipe2(pipeFds, O_CLOEXEC) == 0);
  UniqueFd pipeRead(pipeFds[0]), pipeWrite(pipeFds[1]);
  REQUIRE(sendWithFd(sender.get(), "x", 1, pipeWrite.get()) == 1);

  char byte = 0;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  REQUIRE(::recvmsg(receiver.get(), &message, MSG_CMSG_CLOEXEC) == 1);
  CHECK(byte == 'x');
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  REQUIRE(header);
  REQUIRE(header->cmsg_type == SCM_RIGHTS);
  int received = -1;
  std::memcpy(&received, CMSG_DATA(header), sizeof received);
  UniqueFd passed(received);
  REQUIRE(::write(passed.get(), "ok", 2) == 2);
  char got[2];
  REQUIRE(::read(pipeRead.get(), got, 2) == 2);
  CHECK(std::string(got, 2) == "ok");

  receiver.reset();
  CHECK(sendWithFd(sender.get(), "x", 1, pipeWrite.get()) == -1);
  CHECK(errno == EPIPE);
}

}  // namespace berth
