#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

TEST_CASE("metrics.listen serves /metrics in the Prometheus format and /healthz follows Redis") {
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  const int port = freePort();
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.extra = {"metrics:", "  listen: 127.0.0.1:" + std::to_string(port),
                  "log:", "  format: json"};
  config.defaults = {"interval: 1s", "timeout: 800ms", "jitter: 0%"};
  config.servers = {{"everything", everything.url(), {}}};
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());
  REQUIRE(waitForPort(port, 10s));

  // The first result arrives within the interval.
  std::pair<int, std::string> m;
  auto deadline = Clock::now() + 10s;
  do {
    std::this_thread::sleep_for(100ms);
    m = httpRequest(port, "GET", "/metrics");
  } while (Clock::now() < deadline &&
           m.second.find("mcp_server_up{server_id=\"everything\"} 1") == std::string::npos);
  INFO(m.second);
  CHECK(m.first == 200);
  CHECK(m.second.find("mcp_server_up{server_id=\"everything\"} 1\n") != std::string::npos);
  CHECK(m.second.find("mcp_server_tools{server_id=\"everything\"} 13\n") != std::string::npos);
  CHECK(m.second.find("mcp_checks_total{result=\"success\"}") != std::string::npos);
  CHECK(m.second.find("mcp_check_duration_seconds_bucket{phase=\"total\",le=\"+Inf\"}") !=
        std::string::npos);
  CHECK(m.second.find("mcp_redis_reconnects_total 0\n") != std::string::npos);
  CHECK(m.second.find("# TYPE mcp_redis_connected gauge\n") != std::string::npos);

  // promtool (Prometheus's own linter) accepts the exposition.
  writeFile(dir.file("metrics.txt"), m.second);
  Process lint({"sh", "-c", "promtool check metrics < " + dir.file("metrics.txt")}, {},
               dir.file("promtool.out"));
  CHECK(lint.wait(30s) == std::optional<int>(0));
  INFO(readFile(dir.file("promtool.out")));

  // A real Prometheus scrapes it.
  const int promPort = freePort();
  writeFile(dir.file("prometheus.yml"),
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: mcp-healthd\n"
            "    static_configs:\n      - targets: ['127.0.0.1:" +
                std::to_string(port) + "']\n");
  {
    Process prometheus({"prometheus", "--config.file=" + dir.file("prometheus.yml"),
                        "--storage.tsdb.path=" + dir.file("tsdb"),
                        "--web.listen-address=127.0.0.1:" + std::to_string(promPort)},
                       {}, dir.file("prometheus.log"));
    REQUIRE(waitForPort(promPort, 30s));
    std::pair<int, std::string> q;
    auto until = Clock::now() + 30s;
    do {
      std::this_thread::sleep_for(500ms);
      q = httpRequest(promPort, "GET", "/api/v1/query?query=mcp_server_up");
    } while (Clock::now() < until &&
             q.second.find(R"("server_id":"everything")") == std::string::npos);
    INFO(q.second);
    CHECK(q.first == 200);
    CHECK(q.second.find(R"("job":"mcp-healthd","server_id":"everything"},"value":[)") !=
          std::string::npos);
    auto up = httpRequest(promPort, "GET", "/api/v1/query?query=up");
    CHECK(up.second.find(R"("value":[)") != std::string::npos);
    CHECK(up.second.find(R"(,"1"]})") != std::string::npos);
    prometheus.stop(SIGTERM, 10s);
  }

  auto h = httpRequest(port, "GET", "/healthz");
  CHECK(h.first == 200);
  CHECK(h.second.find(R"("status":"ok","redis":"connected")") != std::string::npos);
  CHECK(httpRequest(port, "GET", "/nope").first == 404);
  CHECK(httpRequest(port, "POST", "/metrics").first == 405);

  // Redis goes away: /healthz says so (and why); it comes back, and so does /healthz.
  redis.stop();
  deadline = Clock::now() + 10s;
  do {
    std::this_thread::sleep_for(100ms);
    h = httpRequest(port, "GET", "/healthz");
  } while (Clock::now() < deadline && h.first != 503);
  CHECK(h.first == 503);
  CHECK(h.second.find(R"("reason":"redis is not connected")") != std::string::npos);
  CHECK(httpRequest(port, "GET", "/metrics").second.find("mcp_redis_connected 0\n") !=
        std::string::npos);
  redis.start();
  deadline = Clock::now() + 15s;
  do {
    std::this_thread::sleep_for(100ms);
    h = httpRequest(port, "GET", "/healthz");
  } while (Clock::now() < deadline && h.first != 200);
  CHECK(h.first == 200);
  m = httpRequest(port, "GET", "/metrics");
  CHECK(m.second.find("mcp_redis_reconnects_total 0\n") == std::string::npos);

  // log.format: json — every line is one JSON object.
  std::string log = readFile(daemon.logPath());
  CHECK(log.rfind(R"({"level":")", 0) == 0);
  CHECK(log.find("\n<") == std::string::npos);

  // The address is taken: a second daemon exits 2 and says why.
  TestDaemon second(dir, config, {}, {}, "second");
  auto rc2 = second.process().wait(10s);
  REQUIRE(rc2);
  CHECK(*rc2 == 2);
  CHECK(readFile(dir.file("second.log")).find("metrics.listen: cannot listen on 127.0.0.1:") !=
        std::string::npos);

  auto rc = daemon.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
}

TEST_CASE("/healthz is answered while 200 idle connections are open on the metrics port") {
  TempDir dir;
  const int port = freePort();
  DaemonConfig config;
  config.redisUrl = "redis://127.0.0.1:" + std::to_string(freePort()) + "/0";  // nobody there
  config.extra = {"metrics:", "  listen: 127.0.0.1:" + std::to_string(port)};
  config.defaults = {};
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());
  REQUIRE(waitForPort(port, 10s));
  std::vector<int> idle;
  for (int i = 0; i < 200; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    // Half a request line, and nothing more: idle from the server's side.
    REQUIRE(write(fd, "GET /metr", 9) == 9);
    idle.push_back(fd);
  }
  std::this_thread::sleep_for(200ms);  // let the daemon accept them all
  auto t0 = Clock::now();
  auto h = httpRequest(port, "GET", "/healthz");
  CHECK(h.first == 503);  // answered (Redis is not there: 503 with the reason)
  CHECK(h.second.find("\"redis\"") != std::string::npos);
  CHECK(Clock::now() - t0 < 2s);  // at once, not after the idle ones time out (5 s)
  for (int fd : idle) {
    close(fd);
  }
  CHECK(daemon.stop(SIGTERM, 5s) == std::optional<int>(0));
}
