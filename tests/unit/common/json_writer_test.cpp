#include "common/json_writer.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;

TEST_CASE("JSON strings are escaped and invalid UTF-8 becomes U+FFFD") {
  CHECK(json::quote("a\"b\\c\n\x01") == "\"a\\\"b\\\\c\\n\\u0001\"");
  CHECK(json::quote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
  CHECK(json::quote("bad\xff") == "\"bad\\ufffd\"");
  CHECK(json::quote("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
}

TEST_CASE("timestamps are RFC 3339 UTC with milliseconds") {
  CHECK(json::rfc3339Millis(1'790'000'000'123) == "2026-09-21T14:13:20.123Z");
  std::string s;
  json::appendMillis(s, 12'345);
  CHECK(s == "12.345");
}
