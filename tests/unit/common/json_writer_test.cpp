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

TEST_CASE("parseRfc3339Millis reads back exactly what rfc3339Millis writes") {
  for (int64_t ms : {int64_t{0}, int64_t{1'795'703'952'123}, int64_t{951'782'400'999}}) {
    auto back = json::parseRfc3339Millis(json::rfc3339Millis(ms));
    REQUIRE(back);
    CHECK(*back == ms);
  }
  for (const char* bad :
       {"", "2026-11-26T14:39:12Z", "2026-11-26T14:39:12.123+01:00", "2026-13-26T14:39:12.123Z",
        "2026-11-26 14:39:12.123Z", "2026-11-26T14:39:12.12xZ", "x2026-11-26T14:39:12.123Z"}) {
    INFO(bad);
    CHECK_FALSE(json::parseRfc3339Millis(bad));
  }
}
