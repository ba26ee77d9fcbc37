#include "config/config.hpp"

#include <sodium.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>

using namespace mcphd::config;

namespace {

std::string errorOf(const std::string& yaml) {
  auto r = loadString(yaml, "test.yaml");
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("the example in the issue loads with defaults applied") {
  setenv("MCPHD_TEST_TEAM", "search", 1);
  auto r = loadString(R"(
redis:
  url: redis://127.0.0.1:6379/0
  prefix: "mcp:"
defaults:
  interval: 30s
  timeout: 10s
  connect_timeout: 3s
  jitter: 10%
  healthy_threshold: 2
  unhealthy_threshold: 3
  unhealthy_interval: 5s
  max_backoff: 5m
  max_body: 8MiB
max_concurrent_checks: 256
servers:
  - id: everything
    url: http://127.0.0.1:3001/mcp
    transport: streamable_http
    headers: {X-Team: "${MCPHD_TEST_TEAM}"}
    auth: {type: bearer, token: "t0k"}
    interval: 10s
    timeout: 2s
  - id: other
    url: https://example.invalid/mcp
)",
                      "test.yaml");
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  REQUIRE(r->servers.size() == 2);
  const auto& s = r->servers[0];
  CHECK(s.intervalMs == 10'000);
  CHECK(s.timeoutMs == 2'000);
  CHECK(s.headers.at(0).second == "search");
  CHECK(s.auth.token.reveal() == "t0k");
  CHECK(r->servers[1].intervalMs == 30'000);
  CHECK(r->servers[1].maxBody == 8u * 1024 * 1024);
  CHECK(r->servers[1].jitter == Approx(0.10));
  CHECK(r->maxConcurrentChecks == 256);
}

TEST_CASE("config errors name the file, the line and the key") {
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    intervall: 5s\n") ==
        "test.yaml:4: servers[0].intervall: unknown key (known keys: args, auth, command, "
        "connect_timeout, cwd, env, headers, healthy_threshold, id, interval, jitter, max_backoff, "
        "max_body, max_tools, max_tools_bytes, min_relist_interval, name, on_drift, on_finding, "
        "timeout, tool_baseline, transport, unhealthy_interval, unhealthy_threshold, url, "
        "watch_tools)");
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    interval: 5 s\n")
            .rfind("test.yaml:4: servers[0].interval: '5 s' is not a duration", 0) == 0);
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n  - id: a\n    url: http://y/mcp\n") ==
        "test.yaml:4: servers[1].id: duplicate id 'a'");
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    interval: 5s\n    timeout: 5s\n")
            .rfind("test.yaml:5: servers[0].timeout: must be shorter than interval", 0) == 0);
  CHECK(errorOf("defaults:\n  timeout: 40s\nservers:\n  - id: a\n    url: http://x/mcp\n")
            .rfind("test.yaml:2: defaults.timeout: must be shorter than interval", 0) == 0);
  CHECK(errorOf("max_concurrent_checks: many\n") ==
        "test.yaml:1: max_concurrent_checks: must be an integer");
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    healthy_threshold: [1]\n") ==
        "test.yaml:4: servers[0].healthy_threshold: must be an integer");
  CHECK(errorOf("servers:\n  - id: 'bad id'\n    url: http://x/mcp\n")
            .rfind("test.yaml:2: servers[0].id:", 0) == 0);
  CHECK(errorOf("servers:\n  - id: a\n    url: ftp://x\n") ==
        "test.yaml:3: servers[0].url: must be an http:// or https:// URL");
  CHECK(errorOf("servers:\n  - id: a\n").rfind("test.yaml:2: servers[0].url: is required", 0) == 0);
  CHECK(errorOf("servers: [\n").rfind("test.yaml:", 0) == 0);
  CHECK(errorOf("redis:\n  url: http://x\n").rfind("test.yaml:2: redis.url:", 0) == 0);
}

TEST_CASE("auth settings are checked and secrets come from files or the environment") {
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    auth: {type: magic}\n")
            .rfind("test.yaml:4: servers[0].auth.type: 'magic' is not one of", 0) == 0);
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    auth: {type: bearer}\n")
            .find("bearer auth needs token_file") != std::string::npos);
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    auth: {type: bearer, token_file: "
                "/nonexistent/t}\n")
            .rfind("test.yaml:4: servers[0].auth.token_file: cannot read /nonexistent/t", 0) == 0);
  unsetenv("MCPHD_TEST_UNSET");
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    auth: {type: bearer, token: "
                "\"${MCPHD_TEST_UNSET}\"}\n") ==
        "test.yaml:4: servers[0].auth.token: environment variable 'MCPHD_TEST_UNSET' is not set");
  const std::string path = "/tmp/mcphd-config-test.token";
  { std::ofstream(path) << "file-secret\n"; }
  auto r = loadString(
      "servers:\n  - id: a\n    url: http://x/mcp\n    auth: {type: bearer, token_file: " + path +
          "}\n",
      "t.yaml");
  REQUIRE(r.ok());
  CHECK(r->servers[0].auth.token.reveal() == "file-secret");
  std::remove(path.c_str());
}

TEST_CASE("durations, sizes and percentages") {
  CHECK(parseDuration("500ms").value() == 500);
  CHECK(parseDuration("10s").value() == 10'000);
  CHECK(parseDuration("5m").value() == 300'000);
  CHECK(parseDuration("1h").value() == 3'600'000);
  CHECK_FALSE(parseDuration("0s").ok());
  CHECK_FALSE(parseDuration("10").ok());
  CHECK_FALSE(parseDuration("-1s").ok());
  CHECK(parseSize("8MiB").value() == 8u * 1024 * 1024);
  CHECK(parseSize("512KiB").value() == 512u * 1024);
  CHECK_FALSE(parseSize("8 MiB").ok());
  CHECK(parsePercent("10%").value() == Approx(0.1));
  CHECK_FALSE(parsePercent("150%").ok());
  CHECK(expandEnv("a$$b").value() == "a$b");
}

TEST_CASE(
    "secrets: key files load, relative to CREDENTIALS_DIRECTORY, and the active key must exist") {
  REQUIRE(sodium_init() >= 0);
  std::ofstream("/tmp/mcphd-cfg-k1.key") << mcphd::auth::generateKeyBase64();
  setenv("CREDENTIALS_DIRECTORY", "/tmp", 1);
  auto r = loadString("secrets:\n  keys: {k1: mcphd-cfg-k1.key}\n  active: k1\n", "t.yaml");
  unsetenv("CREDENTIALS_DIRECTORY");
  INFO((r.ok() ? std::string() : r.error().message));
  REQUIRE(r.ok());
  CHECK(r->keys.activeId() == "k1");
  CHECK(errorOf("secrets:\n  keys: {k1: /tmp/mcphd-cfg-k1.key}\n  active: k2\n") ==
        "test.yaml:3: secrets.active: the active key 'k2' is not among the listed keys");
  CHECK(errorOf("secrets:\n  keys: {k1: /nonexistent.key}\n  active: k1\n")
            .rfind("test.yaml:2: secrets.keys.k1: cannot read key file /nonexistent.key", 0) == 0);
  CHECK(errorOf("registry_resync: soon\n").rfind("test.yaml:1: registry_resync:", 0) == 0);
  std::remove("/tmp/mcphd-cfg-k1.key");
}

TEST_CASE("egress lists replace the default and name the bad entry") {
  auto r = loadString("egress:\n  deny: [10.0.0.0/8]\n  allow: [10.0.0.0/7, \"::1\"]\n", "t.yaml");
  REQUIRE(r.ok());
  CHECK(r->egress.deny.size() == 1);
  CHECK(r->egress.allow.size() == 2);
  CHECK(loadString("servers: []\n", "t.yaml")->egress.deny.size() == 7);
  CHECK_FALSE(loadString("servers: []\n", "t.yaml")->registryEgress);
  auto reg = loadString("egress:\n  registry:\n    deny: [127.0.0.0/8, 10.0.0.0/8]\nservers: []\n",
                        "t.yaml");
  REQUIRE(reg.ok());
  REQUIRE(reg->registryEgress);
  CHECK(reg->registryEgress->deny.size() == 2);
  CHECK(reg->registryEgress->name == "egress.registry");
  CHECK(reg->egress.deny.size() == 7);  // the general policy keeps its default
  auto badReg = loadString("egress:\n  registry:\n    block: [1.2.3.4]\nservers: []\n", "t.yaml");
  REQUIRE_FALSE(badReg.ok());
  CHECK(badReg.error().message.find("egress.registry") != std::string::npos);  // the default
  CHECK(errorOf("egress:\n  deny: [10.0.0.0/8, 300.1.1.1/8]\n")
            .rfind("test.yaml:2: egress.deny[1]: '300.1.1.1/8' is not an IPv4 or IPv6 network",
                   0) == 0);
  CHECK(errorOf("egress:\n  allow: 10.0.0.0/8\n")
            .rfind("test.yaml:2: egress.allow: must be a list", 0) == 0);
}

TEST_CASE("a secret file that never ends is refused without filling memory") {
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    auth: {type: bearer, token_file: "
                "/dev/zero}\n") ==
        "test.yaml:4: servers[0].auth.token_file: /dev/zero is larger than 64 KiB");
}

TEST_CASE("a stdio server: command, args, env and cwd, a command implies transport stdio") {
  auto r = loadString(R"(
servers:
  - id: files
    transport: stdio
    command: node
    args: ["/opt/mcp/filesystem/dist/index.js", "/srv/data"]
    env: {LOG_LEVEL: warn}
    cwd: work
    watch_tools: true
  - id: implied
    command: /usr/bin/mcp-server
)",
                      "test.yaml", "/etc/mcp");
  REQUIRE(r.ok());
  const auto& s = r->servers[0];
  CHECK(s.transport == mcphd::registry::Transport::kStdio);
  CHECK(s.command == "node");
  CHECK(s.args == std::vector<std::string>{"/opt/mcp/filesystem/dist/index.js", "/srv/data"});
  REQUIRE(s.env.size() == 1);
  CHECK(s.env[0].first == "LOG_LEVEL");
  CHECK(s.env[0].second.reveal() == "warn");
  CHECK(s.cwd == "/etc/mcp/work");
  CHECK(s.watchTools);
  CHECK(r->servers[1].transport == mcphd::registry::Transport::kStdio);
  CHECK_FALSE(r->servers[1].watchTools);
}

TEST_CASE("stdio settings that cannot work are refused with the key that is wrong") {
  CHECK(errorOf("servers:\n  - id: a\n    transport: stdio\n") ==
        "test.yaml:2: servers[0].command: is required for transport stdio");
  CHECK(errorOf("servers:\n  - id: a\n    command: sh\n    url: http://x/mcp\n") ==
        "test.yaml:4: servers[0].url: does not apply to a stdio server");
  CHECK(errorOf("servers:\n  - id: a\n    command: sh\n    transport: sse\n") ==
        "test.yaml:4: servers[0].transport: must be stdio (or left out) for a server with a "
        "command");
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    args: [x]\n") ==
        "test.yaml:4: servers[0].args: applies to stdio servers only (set command)");
  CHECK(errorOf("servers:\n  - id: a\n    command: sh\n    env: {1X: y}\n") ==
        "test.yaml:4: servers[0].env: '1X' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
  CHECK(errorOf("servers:\n  - id: a\n    command: sh\n    args: x\n")
            .find("servers[0].args: must be a list of strings") != std::string::npos);
  CHECK(errorOf("defaults:\n  transport: stdio\n") ==
        "test.yaml:2: defaults.transport: stdio is set per server, with its command");
  CHECK(errorOf("defaults:\n  command: sh\n").find("defaults.command: unknown key") !=
        std::string::npos);
  CHECK(errorOf("servers:\n  - id: a\n    command: sh\n    watch_tools: maybe\n") ==
        "test.yaml:4: servers[0].watch_tools: must be true or false");
}

TEST_CASE("redis.password_file must not be readable by group or others, redis.username is read") {
  const std::string path = "/tmp/mcphd-cfg-redis-pass";
  std::remove(path.c_str());
  { std::ofstream(path) << "pw\n"; }
  chmod(path.c_str(), 0644);
  auto open = loadString("redis:\n  username: ops\n  password_file: " + path + "\n", "t.yaml");
  REQUIRE_FALSE(open.ok());
  CHECK(open.error().message == "t.yaml:3: redis.password_file: " + path +
                                    " is readable by group or others (mode 0644); "
                                    "chmod 600 " +
                                    path);
  chmod(path.c_str(), 0600);
  auto ok = loadString("redis:\n  username: ops\n  password_file: " + path + "\n", "t.yaml");
  REQUIRE(ok.ok());
  CHECK(ok->redis.username == "ops");
  CHECK(ok->redis.password.reveal() == "pw");
  std::remove(path.c_str());
}

TEST_CASE("redis.sentinels and redis.master_name: a list of host:port and the master's name") {
  auto ok = loadString(
      "redis:\n  url: redis://x/2\n  master_name: mymaster\n  sentinels: [\"10.0.0.1:26379\", "
      "\"[::1]:26380\", \"s3.example:26381\"]\n",
      "t.yaml");
  REQUIRE(ok.ok());
  CHECK(ok->redis.masterName == "mymaster");
  REQUIRE(ok->redis.sentinels.size() == 3);
  CHECK(ok->redis.sentinels[0] == mcphd::redis::HostPort{"10.0.0.1", 26379});
  CHECK(ok->redis.sentinels[1] == mcphd::redis::HostPort{"::1", 26380});
  CHECK(ok->redis.sentinels[2].display() == "s3.example:26381");
  CHECK(ok->redis.sentinels[1].display() == "[::1]:26380");
  CHECK(errorOf("redis:\n  sentinels: [\"a:1\"]\n") ==
        "test.yaml:2: redis.master_name: is required with redis.sentinels: the name the sentinels "
        "monitor the master by (`sentinel monitor <name> ...`)");
  CHECK(errorOf("redis:\n  master_name: m\n") ==
        "test.yaml:2: redis.master_name: needs redis.sentinels (the sentinels to ask)");
  CHECK(errorOf("redis:\n  master_name: m\n  sentinels: [\"a\"]\n") ==
        "test.yaml:3: redis.sentinels[0]: 'a' needs a port from 1 to 65535 (host:port)");
  CHECK(errorOf("redis:\n  master_name: m\n  sentinels: \"a:1\"\n")
            .rfind("test.yaml:3: redis.sentinels: must be a list of host:port", 0) == 0);
  CHECK(errorOf("redis:\n  master_name: m\n  sentinels: []\n")
            .rfind("test.yaml:3: redis.sentinels: must be a list of host:port", 0) == 0);
  CHECK(errorOf("redis:\n  master_name: 'a b'\n  sentinels: [\"a:1\"]\n") ==
        "test.yaml:2: redis.master_name: must be a name without spaces, at most 128 characters");
  CHECK(errorOf("redis:\n  url: unix:///run/r.sock\n  master_name: m\n  sentinels: [\"a:1\"]\n")
            .rfind("test.yaml:2: redis.url: must be a redis:// URL (or absent) with "
                   "redis.sentinels",
                   0) == 0);
}

TEST_CASE(
    "dashboard: listen, a private token file of 16 printable characters or more, allowed hosts") {
  const std::string path = "/tmp/mcphd-cfg-dashboard-token";
  std::remove(path.c_str());
  { std::ofstream(path) << "0123456789abcdef0123\n"; }
  chmod(path.c_str(), 0640);
  const std::string yaml = "dashboard:\n  listen: 127.0.0.1:9465\n  token_file: " + path +
                           "\n  allowed_hosts: [Localhost, \"mon.internal:8443\"]\n";
  CHECK(errorOf(yaml) == "test.yaml:3: dashboard.token_file: " + path +
                             " is readable by group or others (mode 0640); chmod 600 " + path);
  chmod(path.c_str(), 0600);
  auto ok = loadString(yaml, "test.yaml");
  REQUIRE(ok.ok());
  CHECK(ok->dashboard.listen == "127.0.0.1:9465");
  CHECK(ok->dashboard.token.reveal() == "0123456789abcdef0123");
  CHECK(ok->dashboard.allowedHosts == std::vector<std::string>{"localhost", "mon.internal:8443"});
  CHECK(ok->dashboard.maxStreams == 64);
  { std::ofstream(path) << "short\n"; }
  CHECK(errorOf(yaml).find("dashboard.token_file: the token must be at least 16 printable") !=
        std::string::npos);
  { std::ofstream(path) << "with a space in the middle of it\n"; }
  CHECK(errorOf(yaml).find("without spaces") != std::string::npos);
  std::remove(path.c_str());

  auto readOnly = loadString("dashboard:\n  listen: \":9465\"\n", "test.yaml");
  REQUIRE(readOnly.ok());
  CHECK(readOnly->dashboard.token.empty());
  CHECK(errorOf("dashboard:\n  token_file: x\n") ==
        "test.yaml:2: dashboard.listen: is required to serve the dashboard (e.g. 127.0.0.1:9465)");
  CHECK(errorOf("dashboard:\n  listen: localhost\n").rfind("test.yaml:2: dashboard.listen: ", 0) ==
        0);
  CHECK(errorOf("dashboard:\n  listen: :1\n  allowed_hosts: [\"a b\"]\n") ==
        "test.yaml:3: dashboard.allowed_hosts[0]: 'a b' is not a host name or host:port");
  CHECK(
      errorOf("dashboard:\n  listen: :1\n  allowed_hosts: [\"::1\"]\n") ==
      "test.yaml:3: dashboard.allowed_hosts[0]: '::1': write an IPv6 address in brackets, as in a "
      "Host header ([::1])");
  CHECK(errorOf("dashboard:\n  listen: :1\n  token: abc\n")
            .rfind("test.yaml:3: dashboard.token: unknown key", 0) == 0);
  CHECK(errorOf("dashboard:\n  listen: :1\n  max_streams: 0\n") ==
        "test.yaml:3: dashboard.max_streams: must be between 1 and 10000");
}

TEST_CASE("cluster.member_id: 1 to 128 characters of A-Z a-z 0-9 . _ - : @, empty by default") {
  auto none = loadString("redis:\n  prefix: \"mcp:\"\n", "test.yaml");
  REQUIRE(none.ok());
  CHECK(none->cluster.memberId.empty());  // <hostname>-<pid>, chosen by the daemon
  auto ok = loadString("cluster:\n  member_id: healthd-a.eu:1@rack_2\n", "test.yaml");
  REQUIRE(ok.ok());
  CHECK(ok->cluster.memberId == "healthd-a.eu:1@rack_2");
  CHECK(errorOf("cluster:\n  member_id: \"a b\"\n") ==
        "test.yaml:2: cluster.member_id: 'a b' is not a member id: 1 to 128 characters of A-Z a-z "
        "0-9 . _ - : @");
  CHECK(errorOf("cluster:\n  member_id: \"a\\0b\"\n").find("is not a member id") !=
        std::string::npos);
  CHECK(errorOf("cluster:\n  member_id: " + std::string(129, 'm') + "\n")
            .find("is not a member id") != std::string::npos);
  CHECK(errorOf("cluster:\n  member_id: \"\"\n").find("is not a member id") != std::string::npos);
  CHECK(errorOf("cluster:\n  members: 3\n").rfind("test.yaml:2: cluster.members: unknown key", 0) ==
        0);
  CHECK(errorOf("cluster: on\n") ==
        "test.yaml:1: cluster: must be a map (e.g. member_id: healthd-a)");
}

TEST_CASE("a server's name is UTF-8 text of at most 256 bytes") {
  auto ok = loadString("servers:\n  - id: a\n    name: Billing (EU)\n    url: http://x/mcp\n",
                       "test.yaml");
  REQUIRE(ok.ok());
  CHECK(ok->servers[0].name == "Billing (EU)");
  CHECK(errorOf("servers:\n  - id: a\n    name: " + std::string(257, 'n') +
                "\n    url: http://x/mcp\n") ==
        "test.yaml:3: servers[0].name: must be UTF-8 text of at most 256 bytes without control "
        "characters");
  CHECK(errorOf("defaults:\n  name: x\n").rfind("test.yaml:2: defaults.name: unknown key", 0) == 0);
}

TEST_CASE("tool baseline settings: defaults, per server, and their errors") {
  auto r = mcphd::config::loadString(R"(
defaults:
  tool_baseline: manual
  on_drift: quarantine
servers:
  - id: a
    url: http://x/mcp
  - id: b
    url: http://y/mcp
    tool_baseline: off
    on_finding: quarantine
)",
                                     "test.yaml", "/etc/mcp");
  REQUIRE(r.ok());
  using mcphd::baseline::Action;
  using mcphd::baseline::Policy;
  CHECK(r->defaults.tools == mcphd::baseline::Settings{Policy::kManual, Action::kQuarantine,
                                                       Action::kFlag});
  CHECK(r->servers[0].tools == r->defaults.tools);
  CHECK(r->servers[1].tools == mcphd::baseline::Settings{Policy::kOff, Action::kQuarantine,
                                                         Action::kQuarantine});
  // Without a word: tofu, flag, flag.
  auto plain = mcphd::config::loadString("servers:\n  - id: a\n    url: http://x/mcp\n",
                                         "test.yaml", "/etc/mcp");
  REQUIRE(plain.ok());
  CHECK(plain->servers[0].tools == mcphd::baseline::Settings{});
  CHECK(errorOf("defaults:\n  tool_baseline: strict\n") ==
        "test.yaml:2: defaults.tool_baseline: must be off, tofu or manual");
  CHECK(errorOf("servers:\n  - id: a\n    url: http://x/mcp\n    on_drift: block\n") ==
        "test.yaml:4: servers[0].on_drift: must be flag or quarantine");
}
