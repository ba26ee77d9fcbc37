#include "common/redact.hpp"

#include <catch2/catch.hpp>

TEST_CASE("every occurrence of a secret is redacted; very short ones are left alone") {
  std::string s = "a tok3n and tok3ntok3n";
  mcphd::redact(s, "tok3n");
  CHECK(s == "a [redacted] and [redacted][redacted]");
  std::string t = "abc";
  mcphd::redact(t, "ab");
  CHECK(t == "abc");
}
