#include "scheduler/broadcast_log.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::scheduler;

TEST_CASE("answers keep separate ranges when a server owed nothing in between") {
  Answers a({"x-0"}, 0, 5);
  a.merge(Answers({}, 5, 6));  // contiguous: one range
  REQUIRE(a.ranges.size() == 1);
  CHECK(a.ranges[0] == std::make_pair(uint64_t{0}, uint64_t{6}));
  a.merge(Answers({"y-0"}, 8, 9));  // removed and registered again: a gap
  REQUIRE(a.ranges.size() == 2);
  CHECK(a.ids == std::vector<std::string>{"x-0", "y-0"});
  CHECK(Answers({}, 3, 3).empty());

  BroadcastLog log;
  std::vector<std::string> done;
  log.onDone([&](const std::string& id, size_t) { done.push_back(id); });
  for (int g = 1; g <= 9; ++g) {
    log.add("c" + std::to_string(g), 1);
  }
  for (const auto& [from, to] : a.ranges) {
    log.answered(from, to);
  }
  // c7 and c8 were not owed: still pending; the others are done.
  CHECK(done == std::vector<std::string>{"c1", "c2", "c3", "c4", "c5", "c6", "c9"});
  size_t more = 0;
  CHECK(log.ids(0, 9, 16, &more) == std::vector<std::string>{"c7", "c8"});
  CHECK(more == 0);
  CHECK(log.ids(0, 9, 1, &more) == std::vector<std::string>{"c7"});
  CHECK(more == 1);
}
