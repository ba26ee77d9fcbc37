#include "common/redact.hpp"

#include <catch2/catch.hpp>

TEST_CASE("every occurrence of a secret is redacted, very short ones are left alone") {
  std::string s = "a tok3n and tok3ntok3n";
  mcphd::redact(s, "tok3n");
  CHECK(s == "a [redacted] and [redacted][redacted]");
  std::string t = "abc";
  mcphd::redact(t, "ab");
  CHECK(t == "abc");
}

TEST_CASE("a redactor removes every form in which a secret went on the wire") {
  mcphd::Redactor r;
  r.add("s3c/r3t +x\"y");
  std::string text =
      "raw s3c/r3t +x\"y, form s3c%2Fr3t+%2Bx%22y, percent s3c%2Fr3t%20%2Bx%22y, "
      "lower s3c%2fr3t%20%2bx%22y, json s3c/r3t +x\\\"y, json-slash s3c\\/r3t +x\\\"y.";
  r.apply(text);
  CHECK(text ==
        "raw [redacted], form [redacted], percent [redacted], lower [redacted], json [redacted], "
        "json-slash [redacted].");
}

TEST_CASE("a Basic header value is redacted as sent, decoded, and by its password alone") {
  mcphd::Redactor r;
  r.addHeaderValue("Basic dXNlcjpwYXNzd29yZDE=");  // user:password1
  std::string text =
      "got Basic dXNlcjpwYXNzd29yZDE= i.e. user:password1, password password1 and "
      "dXNlcjpwYXNzd29yZDE=";
  r.apply(text);
  CHECK(text.find("password1") == std::string::npos);
  CHECK(text.find("dXNlcjpwYXNzd29yZDE") == std::string::npos);
  CHECK(text.find("user:") == std::string::npos);
  mcphd::Redactor bearer;
  bearer.addHeaderValue("Bearer abcdef123");
  std::string t = "Authorization: Bearer abcdef123 and token abcdef123";
  bearer.apply(t);
  CHECK(t == "Authorization: [redacted] and token [redacted]");
}

TEST_CASE("secrets with non-ASCII characters are redacted in every escaping") {
  mcphd::Redactor r;
  r.add("p\xc3\xa4ss<w\xc3\xb6rd>&\xf0\x9f\x98\x80");  // "päss<wörd>&😀"
  std::string text =
      "raw p\xc3\xa4ss<w\xc3\xb6rd>&\xf0\x9f\x98\x80 "
      "ascii-json p\\u00e4ss\\u003cw\\u00f6rd\\u003e\\u0026\\ud83d\\ude00 "
      "percent p%C3%A4ss%3Cw%C3%B6rd%3E%26%F0%9F%98%80";
  r.apply(text);
  CHECK(text == "raw [redacted] ascii-json [redacted] percent [redacted]");
}
