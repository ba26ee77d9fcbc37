#include "common/sha256.hpp"

#include <catch2/catch.hpp>
#include <string>

TEST_CASE("sha256Hex gives the FIPS 180-2 test vectors in lower-case hex") {
  CHECK(mcphd::sha256Hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(mcphd::sha256Hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(mcphd::sha256Hex(std::string(1'000'000, 'a')) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
