// SHA-256 against the standard's test vectors, in one piece and in parts.
#include <catch2/catch.hpp>

#include "storage/sha256.hpp"

using berth::storage::Sha256;

TEST_CASE("sha256 of the empty string and of \"abc\", whole and in parts") {
  CHECK(Sha256().hexDigest() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 whole;
  whole.update("abc");
  CHECK(whole.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 parts;
  parts.update("a");
  parts.update("");
  parts.update("bc");
  CHECK(parts.hexDigest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
