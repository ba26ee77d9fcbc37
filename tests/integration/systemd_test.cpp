#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

// The service manager's end of sd_notify: a datagram socket the daemon is pointed at.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  // The next message containing `text`, or nullopt at the timeout. Earlier ones are kept in
  // `seen`.
  std::optional<std::string> waitFor(const std::string& text, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) {
        continue;
      }
      char buf[4096];
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        continue;
      }
      std::string m(buf, static_cast<size_t>(n));
      seen.push_back(m);
      if (m.find(text) != std::string::npos) {
        return m;
      }
    }
    return std::nullopt;
  }
  std::vector<std::string> seen;

 private:
  std::string path_;
  int fd_ = -1;
};

DaemonConfig configWith(const std::string& redisUrl, std::vector<ServerEntry> servers) {
  DaemonConfig c;
  c.redisUrl = redisUrl;
  c.defaults = {"interval: 1s", "timeout: 800ms", "jitter: 0%"};
  c.servers = std::move(servers);
  return c;
}

}  // namespace

TEST_CASE(
    "under a service manager: READY, STATUS and watchdog pings, SIGHUP reloads the config "
    "and keeps the state of unchanged servers, a bad config changes nothing") {
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  NotifySocket notify(dir.file("notify.sock"));
  const ServerEntry stays{"stays", everything.url(), {}};
  const ServerEntry goes{"goes", everything.url(), {}};
  const ServerEntry comes{"comes", everything.url(), {}};
  Subscriber sub(redis.port(), {"mcp:health"});
  TestDaemon daemon(dir, configWith(redis.url(), {stays, goes}), {},
                    {{"NOTIFY_SOCKET", dir.file("notify.sock")}, {"WATCHDOG_USEC", "2000000"}});
  const std::string config = daemon.configPath();
  INFO("daemon log: " << daemon.logPath());

  auto ready = notify.waitFor("READY=1", 10s);
  REQUIRE(ready);
  CHECK(ready->find("STATUS=2 servers") != std::string::npos);
  // WatchdogSec=2s: a ping at least every second.
  REQUIRE(notify.waitFor("WATCHDOG=1", 1500ms));
  REQUIRE(notify.waitFor("WATCHDOG=1", 1500ms));
  auto healthy = notify.waitFor("STATUS=2 servers: 2 healthy; redis connected", 15s);
  if (!healthy) {
    std::string all;
    for (const auto& m : notify.seen) {
      all += m + " | ";
    }
    FAIL("no healthy STATUS; seen: " << all);
  }

  // Let `stays` build up successes, then reload with `goes` replaced by `comes`.
  std::this_thread::sleep_for(1500ms);
  Json before(*redis.query({"HGET", "mcp:status", "stays"}));
  const std::string since = str(before.root, "status_since");
  const int64_t successes = num(before.root, "consecutive_successes");
  REQUIRE(successes >= 2);
  daemon.rewrite(configWith(redis.url(), {stays, comes}));
  kill(daemon.pid(), SIGHUP);
  auto reloading = notify.waitFor("RELOADING=1", 5s);
  REQUIRE(reloading);
  CHECK(reloading->find("MONOTONIC_USEC=") != std::string::npos);
  REQUIRE(notify.waitFor("READY=1", 5s));
  // `goes` is removed (its state too), `comes` is checked, `stays` keeps its state.
  auto deadline = Clock::now() + 10s;
  while (Clock::now() < deadline && (redis.query({"HGET", "mcp:status", "goes"}) ||
                                     !redis.query({"HGET", "mcp:status", "comes"}))) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK_FALSE(redis.query({"HGET", "mcp:status", "goes"}));
  REQUIRE(redis.query({"HGET", "mcp:status", "comes"}));
  Json after(*redis.query({"HGET", "mcp:status", "stays"}));
  CHECK(str(after.root, "status_since") == since);
  CHECK(num(after.root, "consecutive_successes") >= successes);
  CHECK(readFile(daemon.logPath()).find("reloaded " + config) != std::string::npos);
  // The server the reload added was first checked with trigger reload.
  CHECK(sub.waitFor(
      [](const Message& m) {
        Json j(m.payload);
        return str(j.root, "server_id") == "comes" && str(j.root, "trigger") == "reload";
      },
      10s));

  // A broken config: the reload fails, everything goes on as before.
  writeFile(config,
            configWith(redis.url(), {stays, comes}).yaml() + "  - id: bad\n    interval: x\n");
  kill(daemon.pid(), SIGHUP);
  REQUIRE(notify.waitFor("RELOADING=1", 5s));
  auto again = notify.waitFor("READY=1", 5s);
  REQUIRE(again);
  CHECK(again->find("STATUS=2 servers: 2 healthy; redis connected") != std::string::npos);
  CHECK(readFile(daemon.logPath()).find("reload failed, the running config stays") !=
        std::string::npos);

  // A stricter egress policy applies at once, also to servers reached over kept-alive
  // connections opened under the old one.
  DaemonConfig strict = configWith(redis.url(), {stays, comes});
  strict.extra = {"egress:", "  deny: [127.0.0.0/8]"};
  daemon.rewrite(strict);
  kill(daemon.pid(), SIGHUP);
  REQUIRE(notify.waitFor("RELOADING=1", 5s));
  // Both servers share one origin: every request to it, not only the first after the change,
  // must open a connection the new policy judges (an old pooled one would let the second through).
  deadline = Clock::now() + 10s;
  std::string denied;
  std::string deniedToo;
  while (Clock::now() < deadline && (denied.empty() || deniedToo.empty())) {
    auto stored = redis.query({"HGET", "mcp:status", "stays"});
    if (stored && stored->find("egress policy denies 127.0.0.1") != std::string::npos) {
      denied = *stored;
    }
    auto other = redis.query({"HGET", "mcp:status", "comes"});
    if (other && other->find("egress policy denies 127.0.0.1") != std::string::npos) {
      deniedToo = *other;
    }
    // Reading the notify socket meanwhile (its queue holds 10 datagrams; the daemon's sends do
    // not wait, so a full queue would drop STOPPING=1 below).
    notify.waitFor("\x01none", 100ms);
  }
  CHECK(denied.find(R"("kind":"config")") != std::string::npos);
  CHECK(deniedToo.find(R"("kind":"config")") != std::string::npos);

  auto rc = daemon.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
  bool stopping = false;
  for (const auto& m : notify.seen) {
    stopping = stopping || m.find("STOPPING=1") != std::string::npos;
  }
  CHECK((stopping || notify.waitFor("STOPPING=1", 1s)));
}
