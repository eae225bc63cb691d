#include <catch2/catch.hpp>

#include "common/clock.hpp"
#include "common/ids.hpp"

using namespace berth;

TEST_CASE("object ids are 24 lowercase hex and sort by creation second") {
  std::string id = newObjectId();
  CHECK(isObjectId(id));
  CHECK(makeObjectId(1, 0) < makeObjectId(2, 0));
  CHECK(makeObjectId(0x5f000000, 0xff) == "5f00000000000000000000ff");
  CHECK_FALSE(isObjectId("507F1F77BCF86CD799439011"));
  CHECK_FALSE(isObjectId("507f1f77bcf86cd79943901"));
  CHECK(isRuntimeId(newRuntimeId()));
  CHECK(newObjectId() != newObjectId());
}

TEST_CASE("names are 1-64 of [A-Za-z0-9-]") {
  CHECK(isValidName("web-1"));
  CHECK_FALSE(isValidName(""));
  CHECK_FALSE(isValidName("a/b"));
  CHECK_FALSE(isValidName(std::string(65, 'a')));
  CHECK(isValidName(std::string(64, 'a')));
  CHECK_FALSE(isValidName(std::string("a\0b", 3)));
}

TEST_CASE("ISO-8601 times round-trip with milliseconds") {
  CHECK(formatIsoMillis(0) == "1970-01-01T00:00:00.000Z");
  CHECK(formatIsoMillis(1736937000123) == "2025-01-15T10:30:00.123Z");
  auto parsed = parseIsoMillis("2025-01-15T10:30:00.123Z");
  REQUIRE(parsed);
  CHECK(*parsed == 1736937000123);
  auto offset = parseIsoMillis("2025-01-15T12:30:00+02:00");
  REQUIRE(offset);
  CHECK(*offset == 1736937000000);
  CHECK_FALSE(parseIsoMillis("2025-02-31T00:00:00Z"));
  CHECK_FALSE(parseIsoMillis("yesterday"));
  CHECK_FALSE(parseIsoMillis("2025-01-15T10:30:00"));
}
