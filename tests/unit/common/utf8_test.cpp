#include "common/utf8.hpp"

#include <catch2/catch.hpp>

#include "common/url.hpp"

using namespace mcphd;

TEST_CASE("UTF-8 validation refuses overlong forms, surrogates and cut sequences") {
  CHECK(validUtf8("plain ascii"));
  CHECK(validUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  CHECK_FALSE(validUtf8("\xff"));
  CHECK_FALSE(validUtf8("\xc0\xaf"));          // overlong '/'
  CHECK_FALSE(validUtf8("\xe0\x80\xaf"));      // overlong
  CHECK_FALSE(validUtf8("\xed\xa0\x80"));      // surrogate
  CHECK_FALSE(validUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(validUtf8("\xe2\x82"));          // cut
  CHECK_FALSE(validUtf8("a\x80"));             // stray continuation
}

TEST_CASE("truncation never splits a UTF-8 character") {
  const std::string s = "ab\xe2\x82\xac";  // "ab€": 5 bytes
  CHECK(truncateUtf8(std::string_view(s), 5) == s);
  CHECK(truncateUtf8(std::string_view(s), 4) == "ab");
  CHECK(truncateUtf8(std::string_view(s), 3) == "ab");
  CHECK(truncateUtf8(std::string_view(s), 2) == "ab");
  std::string t = s;
  truncateUtf8(t, 4);
  CHECK(t == "ab");
}

TEST_CASE("URLs normalize so that equivalent spellings compare equal") {
  CHECK(normalizeHttpUrl("HTTPS://Inv.Example:443/mcp#x") == "https://inv.example/mcp");
  CHECK(normalizeHttpUrl("http://h:80") == "http://h/");
  CHECK(normalizeHttpUrl("http://h:8080?q=1") == "http://h:8080/?q=1");
  CHECK(normalizeHttpUrl("http://[::1]:80/a") == "http://[::1]/a");
  CHECK(normalizeHttpUrl("http://U:P@H/a/B") == "http://U:P@h/a/B");  // user info and path kept
  CHECK_FALSE(normalizeHttpUrl("ftp://h/"));
  CHECK_FALSE(normalizeHttpUrl("http:///x"));
  CHECK_FALSE(normalizeHttpUrl("http://h:8x/"));
  CHECK_FALSE(normalizeHttpUrl("relative/path"));
}
