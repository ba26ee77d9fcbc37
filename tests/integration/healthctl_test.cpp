#include <signal.h>

#include <catch2/catch.hpp>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

TEST_CASE("mcp-healthctl registers a server with encrypted credentials and drives the daemon") {
  TempDir dir;
  RedisServer redis(dir);
  EverythingServer everything(dir);
  REQUIRE(runCtl(dir, {"keygen"}, "k1.key") == 0);
  const std::string token = "bearer-" + std::to_string(::getpid()) + "-c4f3b2a1";
  writeFile(dir.file("token"), token + "\n");
  DaemonConfig cfg;
  cfg.redisUrl = redis.url();
  cfg.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  cfg.defaults = {};
  Process monitor({"redis-cli", "-p", std::to_string(redis.port()), "MONITOR"}, {},
                  dir.file("monitor.log"));
  TestDaemon daemon(dir, cfg, {"--log-level", "debug"});
  const std::string config = daemon.configPath();  // mcp-healthctl reads the same
  INFO("logs in " << dir.path());

  // add: healthy, printed readably, exit 0, within 2 s of the command.
  auto t0 = Clock::now();
  CHECK(runCtl(dir,
               {"--config", config, "add", "ev", "--url", everything.url(), "--auth", "bearer",
                "--bearer-token-file", dir.file("token"), "--interval", "1m", "--timeout", "5s"},
               "add.out") == 0);
  CHECK(Clock::now() - t0 < 2s);
  const std::string added = readFile(dir.file("add.out"));
  CHECK(added.find("  ev  healthy") != std::string::npos);
  CHECK(added.find("13 tools") != std::string::npos);
  CHECK(added.find('{') == std::string::npos);  // a view, not JSON

  CHECK(runCtl(dir, {"--config", config, "list"}, "list.out") == 0);
  CHECK(readFile(dir.file("list.out")).find("ev ") != std::string::npos);
  CHECK(runCtl(dir, {"--config", config, "list", "--json"}, "list.json") == 0);
  {
    Json list(readFile(dir.file("list.json")));
    REQUIRE(list.ok);
    simdjson::dom::array rows;
    REQUIRE(list.root.get_array().get(rows) == simdjson::SUCCESS);
    REQUIRE(rows.size() == 1);
    CHECK(str(rows.at(0), "server_id") == "ev");
    CHECK(rows.at(0)["registered"].get_bool().value_unsafe());
    CHECK(str(rows.at(0)["status"], "status") == "healthy");
  }

  CHECK(runCtl(dir, {"--config", config, "show", "ev"}, "show.out") == 0);
  CHECK(readFile(dir.file("show.out")).find("<encrypted, key k1") != std::string::npos);
  CHECK(runCtl(dir, {"--config", config, "show", "ev", "--json"}, "show.json") == 0);
  {
    Json shown(readFile(dir.file("show.json")));
    REQUIRE(shown.ok);
    CHECK(str(shown.root, "server_id") == "ev");
    CHECK(str(shown.root["record"], "url") == everything.url());
    CHECK(str(shown.root["record"]["credentials"], "key_id") == "k1");
    CHECK(num(shown.root["record"]["credentials"], "bytes") > 0);
    CHECK(str(shown.root["status"], "status") == "healthy");
    CHECK(shown.root["tools"]["tools"].get_array().size() == 13);
  }

  CHECK(runCtl(dir, {"--config", config, "tools", "ev"}, "tools.out") == 0);
  CHECK(readFile(dir.file("tools.out")).find("get-sum") != std::string::npos);
  CHECK(runCtl(dir, {"--config", config, "tools", "ev", "--json"}, "tools.json") == 0);
  CHECK(Json(readFile(dir.file("tools.json"))).root["tools"].get_array().size() == 13);

  CHECK(runCtl(dir, {"--config", config, "check", "ev"}, "check.out") == 0);
  CHECK(readFile(dir.file("check.out")).find("  ev  healthy") != std::string::npos);
  CHECK(runCtl(dir, {"--config", config, "check", "ev", "--json"}, "check.json") == 0);
  CHECK(str(Json(readFile(dir.file("check.json"))).root, "trigger") == "command");
  // check --all: every server's answer, ending with the command's command_done.
  CHECK(runCtl(dir, {"--config", config, "check", "--all", "--json"}, "all.out") == 0);
  CHECK(readFile(dir.file("all.out")).find(R"("server_id":"ev")") != std::string::npos);
  // A server the daemon does not know: its command_error, exit 1.
  CHECK(runCtl(dir, {"--config", config, "check", "nope"}, "nope.out") == 1);
  CHECK(readFile(dir.file("nope.out")).find("unknown server") != std::string::npos);

  // A failing server: exit 1 with the error kind.
  CHECK(runCtl(dir,
               {"--config", config, "add", "dead", "--json", "--url",
                "http://127.0.0.1:" + std::to_string(freePort()) + "/mcp", "--interval", "1m",
                "--timeout", "2s"},
               "dead.out") == 1);
  CHECK(str(Json(readFile(dir.file("dead.out"))).root["error"], "kind") == "connect");

  // Usage errors: exit 2, nothing written; a secret on the command line is refused.
  CHECK(
      runCtl(dir,
             {"--config", config, "add", "x", "--url", everything.url(), "--client-secret", "oops"},
             "u1.out") == 2);
  CHECK(readFile(dir.file("u1.out")).find("never taken from the command line") !=
        std::string::npos);
  CHECK(runCtl(dir, {"--config", config, "add", "bad id", "--url", everything.url()}, "u2.out") ==
        2);
  CHECK(runCtl(dir, {"--config", config, "add", "x", "--url", "ftp://example.com/"}, "u3.out") ==
        2);
  CHECK(runCtl(dir, {"--config", config, "add", "x", "--url", everything.url(), "--wait", "soon"},
               "u5.out") == 2);
  CHECK(runCtl(dir, {"--config", config, "check", "ev", "--all"}, "u4.out") == 2);
  CHECK(readFile(dir.file("u4.out")).find("(see mcp-healthctl --help)") != std::string::npos);
  CHECK_FALSE(redis.query({"HGET", "mcp:server:x", "url"}));

  // probe: no Redis involved.
  CHECK(runCtl(dir, {"probe", everything.url()}, "probe.out") == 0);
  CHECK(readFile(dir.file("probe.out")).find("13 tools") != std::string::npos);
  CHECK(runCtl(dir, {"probe", everything.url(), "--json"}, "probe.json") == 0);
  {
    Json probed(readFile(dir.file("probe.json")));
    CHECK(str(probed.root, "status") == "healthy");
    CHECK(str(probed.root, "trigger") == "probe");
  }
  CHECK(runCtl(dir, {"keygen", "--json"}, "key.json") == 0);
  CHECK(str(Json(readFile(dir.file("key.json"))).root, "key").size() == 44);

  CHECK(runCtl(dir, {"--config", config, "remove", "ev"}, "remove.out") == 0);
  CHECK(readFile(dir.file("remove.out")).find("  ev  removed") != std::string::npos);
  CHECK_FALSE(redis.query({"HGET", "mcp:status", "ev"}));
  CHECK_FALSE(redis.query({"SISMEMBER", "mcp:servers", "ev"}).value_or("0") != "0");

  CHECK(daemon.stop(SIGTERM, 5s) == std::optional<int>(0));
  monitor.stop(SIGTERM, 5s);
  // The token went to the MCP server only: never to Redis in clear, never to the log.
  std::string monitored = readFile(dir.file("monitor.log"));
  CHECK(monitored.find("HSET") != std::string::npos);  // the capture did work
  CHECK(monitored.find(token) == std::string::npos);
  CHECK(readFile(dir.file("daemon.log")).find(token) == std::string::npos);
  for (const char* out : {"add.out", "show.out", "show.json", "list.json", "check.json"}) {
    CHECK(readFile(dir.file(out)).find(token) == std::string::npos);
  }
}
