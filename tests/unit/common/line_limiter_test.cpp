#include "common/line_limiter.hpp"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using namespace mcphd;

namespace {

struct Collected {
  std::vector<std::string> lines;
  std::vector<uint64_t> dropped;
  LineLimiter::Emit emit() {
    return [this](std::string_view line, uint64_t d) {
      lines.emplace_back(line);
      dropped.push_back(d);
    };
  }
};

}  // namespace

TEST_CASE("stderr lines are split across chunks and cut to the maximum length") {
  Collected c;
  LineLimiter l(8, 10, 1, c.emit());
  l.feed("hel", 0);
  l.feed("lo\r\nworld\n0123456789abcdef\nrest", 0);
  REQUIRE(c.lines.size() == 3);
  CHECK(c.lines[0] == "hello");
  CHECK(c.lines[1] == "world");
  CHECK(c.lines[2] == "01234567…");
  l.flush(0);
  REQUIRE(c.lines.size() == 4);
  CHECK(c.lines[3] == "rest");
}

TEST_CASE("a flood of stderr lines is rate limited and the dropped lines are counted") {
  Collected c;
  LineLimiter l(100, 3, 2, c.emit());  // burst 3, then 2 lines a second
  std::string flood;
  for (int i = 0; i < 1000; ++i) {
    flood += "line " + std::to_string(i) + "\n";
  }
  l.feed(flood, 0);
  CHECK(c.lines.size() == 3);
  CHECK(l.dropped() == 997);
  l.feed("after a second\n", 1000);  // two tokens came back
  REQUIRE(c.lines.size() == 4);
  CHECK(c.lines[3] == "after a second");
  CHECK(c.dropped[3] == 997);  // reported with the next line let through
  l.feed("x\ny\nz\n", 1000);   // one token left: x passes, y and z are dropped
  CHECK(c.lines.size() == 5);
  l.flush(1000);
  CHECK(c.lines.back().empty());
  CHECK(c.dropped.back() == 2);
}

TEST_CASE("a line without an end never holds more than the maximum in memory") {
  Collected c;
  LineLimiter l(16, 10, 1, c.emit());
  std::string big(1 << 20, 'a');
  for (int i = 0; i < 64; ++i) {
    l.feed(big, 0);
  }
  l.feed("\n", 0);
  REQUIRE(c.lines.size() == 1);
  CHECK(c.lines[0] == std::string(16, 'a') + "…");
}
