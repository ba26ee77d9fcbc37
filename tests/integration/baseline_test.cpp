// Tool baselines end to end (docs/PROTOCOL.md, "Tool baselines"): a real MCP server built with the
// SDK whose tools change at run time (tests/peers/tools-drift-mcp.mjs), mcp-healthd, Redis and
// mcp-healthctl tools approve.
#include <sodium.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <set>

#include "auth/key_ring.hpp"
#include "harness.hpp"

using namespace mcphd::itest;

namespace {

// Every message seen on the health and tools channels, in order.
struct Seen {
  explicit Seen(int port) : sub(port, {"mcp:health", "mcp:tools"}) {}
  Subscriber sub;
  std::vector<Message> all;

  // Waits for a message of `type` for `server` that `pred` accepts (its parsed JSON); collects
  // everything that comes meanwhile. Returns its payload, or "" after `timeout`.
  std::string waitFor(const std::string& type, const std::string& server,
                      const std::function<bool(simdjson::dom::element)>& pred,
                      std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    std::string found;
    sub.waitFor(
        [&](const Message& m) {
          all.push_back(m);
          Json j(m.payload);
          if (j.ok && str(j.root, "type") == type && str(j.root, "server_id") == server &&
              pred(j.root)) {
            found = m.payload;
            return true;
          }
          return false;
        },
        timeout);
    return found;
  }
  std::string health(const std::string& server,
                     const std::function<bool(simdjson::dom::element)>& pred) {
    return waitFor("health", server, pred);
  }
  size_t count(const std::string& type, const std::string& server) const {
    size_t n = 0;
    for (const auto& m : all) {
      Json j(m.payload);
      n += j.ok && str(j.root, "type") == type && str(j.root, "server_id") == server ? 1 : 0;
    }
    return n;
  }
};

std::function<bool(simdjson::dom::element)> approval(const std::string& want,
                                                     const std::string& status = "") {
  return [want, status](simdjson::dom::element e) {
    return str(e, "tools_approval") == want && (status.empty() || str(e, "status") == status);
  };
}

std::vector<std::string> namesAt(simdjson::dom::element e, const char* list) {
  std::vector<std::string> out;
  simdjson::dom::array a;
  if (e[list].get(a) == simdjson::SUCCESS) {
    for (auto v : a) {
      std::string_view s;
      if (v.get(s) == simdjson::SUCCESS) {
        out.emplace_back(s);
      } else {
        out.push_back(str(v, "name"));
      }
    }
  }
  return out;
}

std::string writeKey(const TempDir& dir) {
  const std::string key = mcphd::auth::generateKeyBase64();
  writeFile(dir.file("k1.key"), key + "\n");
  return key;
}

DaemonConfig baseConfig(const RedisServer& redis) {
  DaemonConfig c;
  c.redisUrl = redis.url();
  c.defaults = {"interval: 1s", "timeout: 900ms", "jitter: 0%"};
  c.extra = {"secrets:", "  keys: {k1: k1.key}", "  active: k1"};
  return c;
}

}  // namespace

TEST_CASE(
    "tool baselines: tofu learns the first list, a change drifts once, added and removed tools "
    "show, approve makes it approved, quarantine holds until approval, manual starts "
    "unapproved") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  RedisServer redis(dir);
  ToolsDriftServer flagged(dir);
  ToolsDriftServer quarantined(dir);
  ToolsDriftServer manual(dir);
  writeKey(dir);
  Seen seen(redis.port());
  DaemonConfig config = baseConfig(redis);
  config.servers = {{"s1", flagged.url(), {}},
                    {"s2", quarantined.url(), {"on_drift: quarantine"}},
                    {"s3", manual.url(), {"tool_baseline: manual"}}};
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());

  // tofu: the first complete list is the baseline, signed with the active key.
  REQUIRE_FALSE(seen.health("s1", approval("approved", "healthy")).empty());
  CHECK(redis.query({"HGET", "mcp:baseline:s1", "approved_by"}) == "tofu");
  CHECK(redis.query({"HGET", "mcp:baseline:s1", "mac"}).value_or("").starts_with("k1."));
  // manual: nothing until approved.
  REQUIRE_FALSE(seen.health("s3", approval("unapproved", "healthy")).empty());
  CHECK(redis.query({"EXISTS", "mcp:baseline:s3"}) == "0");

  // A changed description: drifted, with the key that changed; one drift message, numbered like
  // the health message of the check that found it.
  REQUIRE(flagged.set("changed"));
  const std::string drifted = seen.health("s1", approval("drifted", "healthy"));
  REQUIRE_FALSE(drifted.empty());
  {
    Json j(drifted);
    auto changed = j.root["tools_drift"]["changed"];
    REQUIRE(changed.is_array());
    CHECK(namesAt(j.root["tools_drift"], "changed") == std::vector<std::string>{"get_weather"});
    CHECK(namesAt(changed.at(0), "keys") == std::vector<std::string>{"description"});
    const std::string drift = seen.waitFor(
        "drift", "s1", [](auto) { return true; }, std::chrono::seconds(5));
    REQUIRE_FALSE(drift.empty());
    Json d(drift);
    CHECK(num(d.root, "seq") == num(j.root, "seq"));
    CHECK(namesAt(d.root, "changed") == std::vector<std::string>{"get_weather"});
    CHECK(str(d.root, "baseline_hash") ==
          redis.query({"HGET", "mcp:baseline:s1", "tools_hash"}).value_or("?"));
  }
  // Still drifted at the next checks, without another drift message.
  const size_t healthBefore = seen.count("health", "s1");
  REQUIRE(waitUntil(
      [&] {
        seen.health("s1", approval("drifted"));
        return seen.count("health", "s1") >= healthBefore + 2;
      },
      std::chrono::seconds(15)));
  CHECK(seen.count("drift", "s1") == 1);

  // Added and removed tools, against the same baseline.
  REQUIRE(flagged.set("added"));
  const std::string added = seen.health("s1", [](simdjson::dom::element e) {
    return str(e, "tools_approval") == "drifted" &&
           namesAt(e["tools_drift"], "added") == std::vector<std::string>{"send_mail"};
  });
  REQUIRE_FALSE(added.empty());
  CHECK(namesAt(Json(added).root["tools_drift"], "changed").empty());
  REQUIRE(flagged.set("removed"));
  REQUIRE_FALSE(seen.health("s1",
                            [](simdjson::dom::element e) {
                              return str(e, "tools_approval") == "drifted" &&
                                     namesAt(e["tools_drift"], "removed") ==
                                         std::vector<std::string>{"get_time"};
                            })
                    .empty());

  // Approved with mcp-healthctl: the tool set it showed, signed, read by the daemon at once.
  CHECK(runCtl(dir, {"--config", daemon.configPath(), "tools", "diff", "s1", "--json"},
               "diff.json") == 0);
  {
    Json j(readFile(dir.file("diff.json")));
    REQUIRE(j.ok);
    CHECK(namesAt(j.root["drift"], "removed") == std::vector<std::string>{"get_time"});
  }
  REQUIRE(
      runCtl(dir,
             {"--config", daemon.configPath(), "tools", "approve", "s1", "--yes", "--by", "alice"},
             "approve.out") == 0);
  INFO("approve: " << readFile(dir.file("approve.out")));
  CHECK(redis.query({"HGET", "mcp:baseline:s1", "approved_by"}) == "alice");
  REQUIRE_FALSE(seen.health("s1", approval("approved", "healthy")).empty());

  // on_drift: quarantine — quarantined while drifted, healthy again at once when approved, and
  // quarantined again when the tools change back.
  REQUIRE_FALSE(seen.health("s2", approval("approved", "healthy")).empty());
  REQUIRE(quarantined.set("changed"));
  REQUIRE_FALSE(seen.health("s2", approval("drifted", "quarantined")).empty());
  {
    const std::string drift = seen.waitFor(
        "drift", "s2", [](auto) { return true; }, std::chrono::seconds(5));
    REQUIRE_FALSE(drift.empty());
    CHECK(Json(drift).root["quarantined"].get_bool().value() == true);
  }
  REQUIRE(runCtl(dir, {"--config", daemon.configPath(), "tools", "approve", "s2", "--yes"},
                 "approve2.out") == 0);
  const std::string back = seen.health("s2", approval("approved", "healthy"));
  REQUIRE_FALSE(back.empty());
  CHECK(str(Json(back).root, "previous_status") == "quarantined");
  REQUIRE(quarantined.set("base"));  // not the approved set any more
  REQUIRE_FALSE(seen.health("s2", approval("drifted", "quarantined")).empty());
  REQUIRE(quarantined.set("changed"));  // back to the approved set: healthy without approval
  REQUIRE_FALSE(seen.health("s2", approval("approved", "healthy")).empty());

  // manual: approved by hand.
  REQUIRE(runCtl(dir, {"--config", daemon.configPath(), "tools", "approve", "s3", "--yes"},
                 "approve3.out") == 0);
  REQUIRE_FALSE(seen.health("s3", approval("approved", "healthy")).empty());

  // A tool snapshot mcp-healthd did not write (its MAC altered) is not approved.
  {
    std::string snap = redis.query({"GET", "mcp:tools:s3"}).value_or("");
    const size_t mac = snap.find(R"("mac":"k1.)");
    REQUIRE(mac != std::string::npos);
    char& c = snap[mac + 12];
    c = c == 'A' ? 'B' : 'A';
    REQUIRE(redis.query({"SET", "mcp:tools:s3", snap}) == "OK");
    CHECK(runCtl(dir, {"--config", daemon.configPath(), "tools", "approve", "s3", "--yes"},
                 "forged.out") == 1);
    CHECK(readFile(dir.file("forged.out")).find("no valid MAC") != std::string::npos);
    // Nor without the daemon's keys, unless --unsigned.
    CHECK(runCtl(dir, {"--redis", redis.url(), "tools", "approve", "s3", "--yes"}, "nokeys.out") ==
          2);
  }

  // Without --yes and without a terminal answer nothing is approved.
  REQUIRE(flagged.set("added"));
  REQUIRE_FALSE(seen.health("s1", approval("drifted")).empty());
  CHECK(runCtl(dir, {"--config", daemon.configPath(), "tools", "approve", "s1"}, "no.out") == 1);
  CHECK(redis.query({"HGET", "mcp:baseline:s1", "approved_by"}) == "alice");
}

TEST_CASE(
    "tool lint: every finding code is found in a real server's tools, on_finding quarantine "
    "quarantines, and /metrics counts findings and drift") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  RedisServer redis(dir);
  ToolsDriftServer peer(dir);
  writeKey(dir);
  Seen seen(redis.port());
  const int metricsPort = freePort();
  DaemonConfig config = baseConfig(redis);
  config.extra.push_back("metrics:");
  config.extra.push_back("  listen: 127.0.0.1:" + std::to_string(metricsPort));
  const std::vector<std::pair<std::string, std::string>> fixtures = {
      {"tag", "hidden_unicode"},
      {"zero_width", "hidden_unicode"},
      {"bidi", "hidden_unicode"},
      {"important", "model_instruction"},
      {"duplicate", "duplicate_name"},
      {"invalid_name", "invalid_name"},
      {"oversized", "oversized_description"}};
  for (const auto& [set, code] : fixtures) {
    config.servers.push_back({"f-" + set, peer.url(set), {}});
  }
  config.servers.push_back({"q-important", peer.url("important"), {"on_finding: quarantine"}});
  // Its only finding is shadowed_name (its tool names are on the fixture servers too), which
  // never quarantines, even under on_finding: quarantine.
  config.servers.push_back({"clean", peer.url("base"), {"on_finding: quarantine"}});
  TestDaemon daemon(dir, config);
  INFO("daemon log: " << daemon.logPath());

  for (const auto& [set, code] : fixtures) {
    INFO("fixture " << set);
    const std::string id = "f-" + set;
    const std::string h =
        seen.health(id, [](simdjson::dom::element e) { return !e["tools_findings"].is_null(); });
    REQUIRE_FALSE(h.empty());
    Json j(h);
    CHECK(str(j.root, "status") == "healthy");  // findings change no status by default
    bool found = false;
    simdjson::dom::array list;
    REQUIRE(j.root["tools_findings"].get(list) == simdjson::SUCCESS);
    for (auto f : list) {
      found = found || str(f, "code") == code;
    }
    CHECK(found);
    CHECK(num(j.root, "tools_findings_count") >= 1);
    // The full list is in the tool snapshot, and mcp-healthctl tools lint shows it (exit 1).
    Json snap(redis.query({"GET", "mcp:tools:" + id}).value_or(""));
    REQUIRE(snap.ok);
    CHECK(num(snap.root, "findings_count") >= 1);
    CHECK(runCtl(dir, {"--config", daemon.configPath(), "tools", "lint", id}, id + ".lint") == 1);
    CHECK(readFile(dir.file(id + ".lint")).find(code) != std::string::npos);
  }
  REQUIRE_FALSE(
      seen.health("q-important",
                  [](simdjson::dom::element e) { return str(e, "status") == "quarantined"; })
          .empty());
  // One tool name on two servers: reported on both (the one judged first at its next check).
  const auto shadowed = [](simdjson::dom::element e) {
    simdjson::dom::array list;
    if (e["tools_findings"].get(list) != simdjson::SUCCESS) {
      return false;
    }
    for (auto f : list) {
      if (str(f, "code") == "shadowed_name" && str(f, "tool") == "get_weather") {
        return true;
      }
    }
    return false;
  };
  const std::string clean = seen.health("clean", shadowed);
  REQUIRE_FALSE(clean.empty());
  CHECK(str(Json(clean).root, "status") == "healthy");
  CHECK(str(Json(clean).root, "tools_approval") == "approved");
  REQUIRE_FALSE(seen.health("f-bidi", shadowed).empty());
  CHECK(runCtl(dir, {"--config", daemon.configPath(), "tools", "lint", "clean"}, "clean.lint") ==
        0);

  auto [status, metrics] = httpRequest(metricsPort, "GET", "/metrics");
  REQUIRE(status == 200);
  CHECK(metrics.find("mcp_server_tool_findings{server_id=\"f-tag\",code=\"hidden_unicode\"} ") !=
        std::string::npos);
  CHECK(metrics.find("mcp_server_tool_findings{server_id=\"f-duplicate\",code=\"duplicate_name\"} "
                     "1") != std::string::npos);
  CHECK(metrics.find("mcp_server_tools_drifted{server_id=\"clean\"} 0") != std::string::npos);
  CHECK(metrics.find("mcp_server_tool_findings{server_id=\"clean\",code=\"shadowed_name\"} 2") !=
        std::string::npos);
  CHECK(metrics.find("mcp_server_status{server_id=\"q-important\",status=\"quarantined\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("mcp_server_up{server_id=\"q-important\"} 1") != std::string::npos);
}

TEST_CASE(
    "tool baselines survive a daemon restart and a Redis restart with persistence, a Redis that "
    "lost them has tofu servers learn them again (logged), a forged baseline is unapproved and "
    "never re-learned") {
  REQUIRE(sodium_init() >= 0);
  TempDir dir;
  // With persistence (an append-only file in the temp dir) until the test restarts it without.
  const int port = freePort();
  auto redis = std::make_unique<RedisServer>(
      dir, port, std::vector<std::string>{"--appendonly", "yes", "--appendfsync", "always"});
  ToolsDriftServer peer(dir);
  writeKey(dir);
  DaemonConfig config = baseConfig(*redis);
  config.servers = {{"s1", peer.url(), {}}, {"s2", peer.url("base"), {}}};
  auto daemon = startDaemon(dir, config);
  INFO("daemon log: " << daemon->logPath());
  auto approvedAt = [&](const char* id) {
    return redis->query({"HGET", std::string("mcp:baseline:") + id, "approved_at"}).value_or("");
  };
  REQUIRE(waitUntil([&] { return !approvedAt("s1").empty() && !approvedAt("s2").empty(); },
                    std::chrono::seconds(15)));
  const std::string learned = approvedAt("s1");

  // A daemon restart: the same baseline, and the next list still approved.
  REQUIRE(daemon->stop(SIGTERM, std::chrono::seconds(5)) == 0);
  daemon = startDaemon(dir, config);
  {
    Seen seen(redis->port());
    REQUIRE_FALSE(seen.health("s1", approval("approved", "healthy")).empty());
  }
  CHECK(approvedAt("s1") == learned);

  // Redis restarts with its data: the same.
  redis->stop();
  redis->start();
  {
    Seen seen(redis->port());
    REQUIRE(waitForLog(daemon->logPath(), "redis: reconnected", 1, std::chrono::seconds(15)));
    REQUIRE_FALSE(seen.health("s1", approval("approved", "healthy")).empty());
  }
  CHECK(approvedAt("s1") == learned);
  CHECK(readFile(daemon->logPath()).find("lost its tool baseline") == std::string::npos);

  // A forged baseline (another tool set under the old MAC): not valid, so unapproved, and not
  // learned again whatever the next checks bring.
  {
    Seen seen(redis->port());
    REQUIRE(redis->query({"HSET", "mcp:baseline:s2", "approved_by", "mallory"}) == "0");
    REQUIRE(redis->query({"XADD", "mcp:commands", "*", "op", "baseline", "server_id", "s2"}));
    REQUIRE_FALSE(seen.health("s2", approval("unapproved", "healthy")).empty());
    const size_t before = seen.count("health", "s2");
    REQUIRE(waitUntil(
        [&] {
          seen.health("s2", approval("unapproved"));
          return seen.count("health", "s2") >= before + 2;
        },
        std::chrono::seconds(15)));
    CHECK(redis->query({"HGET", "mcp:baseline:s2", "approved_by"}) == "mallory");
    CHECK(readFile(daemon->logPath()).find("s2") != std::string::npos);
    CHECK(runCtl(dir, {"--config", daemon->configPath(), "tools", "diff", "s2"}, "forged.diff") ==
          0);
    CHECK(readFile(dir.file("forged.diff")).find("its baseline is not valid") != std::string::npos);
    // A record made too large to read: mcp-healthctl, like the daemon, refuses it unread (its
    // size is added up inside Redis).
    REQUIRE(redis->query({"HSET", "mcp:baseline:s2", "def:huge", std::string(33 << 20, 'x')}) ==
            "1");
    CHECK(runCtl(dir, {"--config", daemon->configPath(), "tools", "diff", "s2"}, "huge.diff") == 0);
    CHECK(readFile(dir.file("huge.diff")).find("more than the 32 MiB allowed") !=
          std::string::npos);
    REQUIRE(redis->query({"HDEL", "mcp:baseline:s2", "def:huge"}) == "1");
  }

  // Redis restarts without its data (same port, no persistence): s1 learns its baseline again
  // under tofu, and the log says why.
  redis->stop();
  std::error_code ignored;
  std::filesystem::remove_all(dir.file("appendonlydir"), ignored);
  redis = std::make_unique<RedisServer>(dir, port);
  {
    Seen seen(redis->port());
    REQUIRE(waitForLog(daemon->logPath(), "Redis restarted without its data", 1,
                       std::chrono::seconds(15)));
    REQUIRE_FALSE(seen.health("s1", approval("approved", "healthy")).empty());
  }
  CHECK(waitForLog(daemon->logPath(), "lost its tool baseline", 1, std::chrono::seconds(10)));
  CHECK_FALSE(approvedAt("s1").empty());
  CHECK(approvedAt("s1") != learned);
}
