#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "common/files.hpp"
#include "runtime/console_log.hpp"
#include "runtime/log_follow.hpp"
#include "support/test_support.hpp"

using namespace berth;
using namespace berth::runtime;
using namespace std::chrono_literals;

namespace {

std::string lines(int from, int to) {
  std::string out;
  for (int i = from; i <= to; ++i) out += "line " + std::to_string(i) + "\n";
  return out;
}

void append(ConsoleLogWriter& writer, const std::string& text) { REQUIRE(writer.append(text.data(), text.size())); }

}  // namespace

TEST_CASE("the log rotates once past its cap and the tail reaches into the rotated file") {
  berth::testing::TempDir dir;
  std::string path = dir.sub("console.log");
  auto writer = ConsoleLogWriter::open(path, 60);
  REQUIRE(writer);
  append(*writer, lines(1, 7));  // 49 bytes
  append(*writer, lines(8, 8));  // 56 bytes: still fits
  CHECK_FALSE(pathExists(previousLogPath(path)));
  append(*writer, lines(9, 9));  // 63 bytes would pass the cap: rotate first
  REQUIRE(pathExists(previousLogPath(path)));
  CHECK(*readFile(previousLogPath(path)) == lines(1, 8));
  CHECK(*readFile(path) == lines(9, 9));

  CHECK(*readLogTail(path, 1) == "line 9\n");
  CHECK(*readLogTail(path, 3) == lines(7, 9));
  CHECK(*readLogTail(path, std::nullopt) == lines(1, 9));
  CHECK(*readLogTail(path, 0) == "");
  CHECK(*readLogTail(path, 1000) == lines(1, 9));

  // A second rotation drops the oldest output: at most two files' worth is kept.
  append(*writer, lines(11, 19));
  append(*writer, lines(20, 29));
  CHECK(readLogTail(path, std::nullopt)->find("line 1\n") == std::string::npos);
}

TEST_CASE("a reopened writer continues the file and counts what is already there") {
  berth::testing::TempDir dir;
  std::string path = dir.sub("console.log");
  {
    auto writer = ConsoleLogWriter::open(path, 30);
    REQUIRE(writer);
    append(*writer, "0123456789012345678901234\n");  // 26 bytes
  }
  auto writer = ConsoleLogWriter::open(path, 30);
  REQUIRE(writer);
  append(*writer, "abcdef\n");  // 33 > 30: rotate
  CHECK(*readFile(path) == "abcdef\n");
}

TEST_CASE("tail of a missing log is empty, of an unterminated line is that line") {
  berth::testing::TempDir dir;
  CHECK(*readLogTail(dir.sub("none.log"), 5) == "");
  REQUIRE(writeFileAtomic(dir.sub("c.log"), "a\nb\npartial", 0600));
  CHECK(*readLogTail(dir.sub("c.log"), 1) == "partial");
  CHECK(*readLogTail(dir.sub("c.log"), 2) == "b\npartial");
}

TEST_CASE("a follower gets the tail, then exactly what is appended, across a rotation") {
  berth::testing::TempDir dir;
  std::string path = dir.sub("console.log");
  auto writer = ConsoleLogWriter::open(path, 64);
  REQUIRE(writer);
  append(*writer, lines(1, 3));
  auto watch = LogWatch::open(1);
  REQUIRE(watch);
  std::string initial;
  auto follower = LogFollower::open(**watch, path, 2, initial);
  REQUIRE(follower);
  CHECK(initial == lines(2, 3));
  CHECK(*follower->next(10ms) == "");  // nothing new: times out empty

  std::thread producer([&] {
    std::this_thread::sleep_for(50ms);
    append(*writer, lines(4, 4));
  });
  auto started = std::chrono::steady_clock::now();
  std::string got = *follower->next(5s);
  producer.join();
  CHECK(got == lines(4, 4));
  CHECK(std::chrono::steady_clock::now() - started < 2s);  // woken by inotify, not the timeout

  append(*writer, lines(5, 9));   // passes 64 bytes: the earlier output rotates away
  append(*writer, lines(10, 11));
  std::string rest;
  for (int i = 0; i < 5 && rest != lines(5, 11); ++i) rest += *follower->next(100ms);
  CHECK(rest == lines(5, 11));
}

TEST_CASE("one log watch serves more followers than the kernel's inotify instances per user") {
  berth::testing::TempDir dir;
  auto watch = LogWatch::open(300);
  REQUIRE(watch);
  constexpr int kLogs = 4;
  constexpr int kFollowersPerLog = 75;  // 300 in all, past the default max_user_instances of 128
  std::vector<ConsoleLogWriter> writers;
  std::vector<LogFollower> followers;
  for (int log = 0; log < kLogs; ++log) {
    std::string logDir = dir.sub("c" + std::to_string(log));
    REQUIRE(::mkdir(logDir.c_str(), 0700) == 0);
    auto writer = ConsoleLogWriter::open(logDir + "/console.log", 0);
    REQUIRE(writer);
    writers.push_back(std::move(*writer));
    for (int i = 0; i < kFollowersPerLog; ++i) {
      std::string initial;
      auto follower = LogFollower::open(**watch, logDir + "/console.log", 0, initial);
      REQUIRE(follower);
      followers.push_back(std::move(*follower));
    }
  }
  std::string refusedInitial;
  auto oneTooMany = LogFollower::open(**watch, dir.sub("c0/console.log"), 0, refusedInitial);
  REQUIRE_FALSE(oneTooMany);
  CHECK(oneTooMany.error().code == Errc::unavailable);
  // Every follower waits at once; the appends must wake them all, well before their timeout.
  std::vector<std::string> got(followers.size());
  std::vector<std::thread> waiters;
  auto started = std::chrono::steady_clock::now();
  for (size_t i = 0; i < followers.size(); ++i)
    waiters.emplace_back([&, i] { got[i] = followers[i].next(10s).value_or("error"); });
  std::this_thread::sleep_for(100ms);
  for (int log = 0; log < kLogs; ++log) append(writers[static_cast<size_t>(log)], lines(log, log));
  for (auto& waiter : waiters) waiter.join();
  CHECK(std::chrono::steady_clock::now() - started < 5s);
  for (size_t i = 0; i < followers.size(); ++i) {
    int log = static_cast<int>(i) / kFollowersPerLog;
    CHECK(got[i] == lines(log, log));
  }
  // A follower that is gone leaves the others on its directory watched.
  followers.erase(followers.begin());
  append(writers[0], lines(9, 9));
  CHECK(*followers[0].next(2s) == lines(9, 9));
}
