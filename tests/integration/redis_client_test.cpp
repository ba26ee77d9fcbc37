// RedisClient on a real loop against a real redis-server.
#include "redis/redis_client.hpp"

#include <catch2/catch.hpp>
#include <optional>
#include <utility>

#include "common/clock.hpp"
#include "harness.hpp"
#include "loop/uv_loop.hpp"
#include "redis/redis_url.hpp"

using namespace mcphd;
using namespace mcphd::itest;

TEST_CASE(
    "redis client: a command sent from a timer callback is written at once, not when something "
    "else next wakes the loop") {
  TempDir dir;
  RedisServer server(dir);
  auto endpoint = redis::parseUrl(server.url());
  REQUIRE(endpoint);
  loop::UvLoop loop;
  SystemRandom random;
  std::optional<int64_t> sentUs;
  std::optional<int64_t> answeredUs;
  bool sent = false;
  bool answered = false;
  {
    redis::RedisClient client(loop, std::move(*endpoint), random, "test");
    auto send = loop.createTimer();
    auto guard = loop.createTimer();
    client.onReadyChange([&](bool ready) {
      if (!ready || sentUs) {
        return;
      }
      // Sent from a timer callback, before the loop's poll phase; nothing else is due before the
      // client's own 1 s watchdog.
      send->start(10, [&] {
        sentUs = loop.nowUs();
        sent = client.command({"PING"}, [&](Result<redis::Reply> r) {
          answered = static_cast<bool>(r);
          answeredUs = loop.nowUs();
          loop.stop();
        });
      });
    });
    guard->start(5000, [&] { loop.stop(); });
    client.start();
    loop.run();
    CHECK(sent);
    REQUIRE(answeredUs);
    CHECK(answered);
    // Before the fix the PING waited for the watchdog to wake the loop: about 990 ms.
    CHECK(*answeredUs - *sentUs < 250'000);
    guard->stop();
  }
  REQUIRE(loop.close());
}
