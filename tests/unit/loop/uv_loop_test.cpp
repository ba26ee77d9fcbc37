#include "loop/uv_loop.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;

TEST_CASE("closing the loop fails, naming the handle, while a timer is still open") {
  loop::UvLoop loop;
  auto timer = loop.createTimer();
  auto r = loop.close();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("timer") != std::string::npos);
  timer.reset();
  CHECK(loop.close().ok());
}

TEST_CASE("a 0 ms timer fires on the next loop iteration, not inline, and may destroy itself") {
  loop::UvLoop loop;
  std::unique_ptr<loop::Timer> timer = loop.createTimer();
  int fired = 0;
  timer->start(0, [&] {
    ++fired;
    timer.reset();
  });
  CHECK(fired == 0);
  loop.run();
  CHECK(fired == 1);
  CHECK(loop.close().ok());
}
