#include "service/monitor.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "loop/sim_loop.hpp"
#include "service/systemd.hpp"

using namespace mcphd;

namespace {

struct Fixture {
  loop::SimLoop loop;
  std::vector<std::string> sent;
  std::string status = "2 servers: 2 unknown; redis connected";
  std::unique_ptr<service::Monitor> monitor;

  explicit Fixture(std::optional<int64_t> watchdogUsec) {
    monitor = std::make_unique<service::Monitor>(
        loop, loop, [this](const std::string& m) { sent.push_back(m); }, watchdogUsec,
        [this] { return status; });
  }
  size_t count(const std::string& m) const {
    return static_cast<size_t>(std::count(sent.begin(), sent.end(), m));
  }
};

}  // namespace

TEST_CASE("READY=1 with the status, then WATCHDOG=1 every half watchdog period") {
  Fixture f(30'000'000);  // WatchdogSec=30s
  f.monitor->ready();
  REQUIRE(f.sent.size() == 2);
  CHECK(f.sent[0] == "READY=1\nSTATUS=2 servers: 2 unknown; redis connected");
  CHECK(f.sent[1] == "WATCHDOG=1");
  f.loop.advance(9'999);
  CHECK(f.count("WATCHDOG=1") == 1);
  f.loop.advance(1);  // 10 s: the status period caps the tick
  CHECK(f.count("WATCHDOG=1") == 2);
  f.loop.advance(50'000);
  CHECK(f.count("WATCHDOG=1") == 7);
}

TEST_CASE("a short watchdog is pinged at half its period, none without a watchdog") {
  Fixture f(4'000'000);  // 4 s
  f.monitor->ready();
  f.loop.advance(2'000);
  CHECK(f.count("WATCHDOG=1") == 2);
  Fixture g(std::nullopt);
  g.monitor->ready();
  g.loop.advance(60'000);
  CHECK(g.count("WATCHDOG=1") == 0);
}

TEST_CASE("STATUS= goes out when it changes and at least every 10 s") {
  Fixture f(std::nullopt);
  f.monitor->ready();
  f.status = "2 servers: 1 healthy, 1 unknown; redis connected";
  f.monitor->statusChanged();
  f.monitor->statusChanged();  // twice in one iteration: one message
  f.loop.runDue();
  CHECK(f.sent.back() == "STATUS=2 servers: 1 healthy, 1 unknown; redis connected");
  CHECK(f.sent.size() == 2);
  f.monitor->statusChanged();  // nothing new
  f.loop.runDue();
  CHECK(f.sent.size() == 2);
  f.loop.advance(10'000);
  CHECK(f.sent.size() == 3);  // the periodic one
}

TEST_CASE("stopping and reloading say so") {
  Fixture f(30'000'000);
  f.monitor->ready();
  f.monitor->reloading("RELOADING=1\nMONOTONIC_USEC=5");
  CHECK(f.sent.back() == "RELOADING=1\nMONOTONIC_USEC=5\nSTATUS=reloading");
  f.monitor->reloaded();
  CHECK(f.sent.back().rfind("READY=1\nSTATUS=", 0) == 0);
  f.monitor->stopping();
  CHECK(f.sent.back() == "STOPPING=1\nSTATUS=stopping");
  size_t n = f.sent.size();
  f.loop.advance(60'000);
  CHECK(f.sent.size() == n);  // nothing after STOPPING=1
}

TEST_CASE("the reloading message carries the monotonic time systemd needs") {
  std::string m = service::reloadingMessage();
  CHECK(m.rfind("RELOADING=1\nMONOTONIC_USEC=", 0) == 0);
  CHECK(std::stoll(m.substr(m.find('=', 12) + 1)) > 0);
}
