#include <signal.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

// Every stdio server of a test gets MCPHD_TEST_MARK=<its temp dir>: the test finds them, and
// whatever they started, in /proc.
std::string mark(const TempDir& dir) { return "MCPHD_TEST_MARK=" + dir.path(); }

std::vector<ServerEntry> stdioServers(const TempDir& dir) {
  const std::string env = "env: {MCPHD_TEST_MARK: \"" + dir.path() + "\"}";
  return {
      {"everything", "", {"command: node", "args: [\"" + everythingScript() + "\", stdio]", env}},
      {"missing", "", {"command: no-such-mcp-server", env}},
      {"crashing",
       "",
       {"command: sh", "args: [\"-c\", \"echo 'Error: cannot find module x' >&2; exit 3\"]", env}},
      // Ignores SIGTERM, and so does its child: only the SIGKILL of the group ends them.
      {"stubborn", "", {"command: sh", "args: [\"-c\", \"trap '' TERM; sleep 60 & wait\"]", env}},
  };
}

}  // namespace

TEST_CASE(
    "stdio servers: healthy with their tools, kind spawn when they cannot start, none "
    "left behind") {
  TempDir dir;
  DaemonConfig config;
  config.defaults = {"timeout: 3s"};
  config.servers = stdioServers(dir);
  TestDaemon once(dir, config, {"--once"}, {}, "once");
  auto rc = once.process().wait(30s);
  REQUIRE(rc);
  CHECK(*rc == 1);
  std::string out = readFile(once.logPath());
  INFO(out);
  CHECK(out.find(R"("server_id":"everything","seq":1,"status":"healthy")") != std::string::npos);
  CHECK(out.find(R"("tool_count":13)") != std::string::npos);
  CHECK(out.find(R"("server_info":{"name":"mcp-servers/everything")") != std::string::npos);
  CHECK(
      out.find(R"("kind":"spawn","message":"cannot start no-such-mcp-server: not found in PATH)") !=
      std::string::npos);
  CHECK(out.find(R"("kind":"spawn","message":"the server process exited with status 3 before )"
                 R"(answering initialize; its stderr ended with: Error: cannot find module x")") !=
        std::string::npos);
  CHECK(out.find(R"("server_id":"stubborn","seq":1,"status":"unhealthy")") != std::string::npos);
  CHECK(out.find(R"("kind":"timeout")") != std::string::npos);
  // The server's stderr went to the log, with the server's id.
  CHECK(out.find("server everything: stderr: Starting default (STDIO) server...") !=
        std::string::npos);
  // --once waited for its children: nothing is left, not even the stubborn one's sleep.
  CHECK(processesWithEnv(mark(dir)).empty());
}

TEST_CASE("no stdio server outlives the daemon, whether it stops or is killed") {
  TempDir dir;
  RedisServer redis(dir);
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 20s", "timeout: 15s"};
  config.servers = stdioServers(dir);
  for (int sig : {SIGTERM, SIGKILL}) {
    INFO("signal " << sig);
    TestDaemon d(dir, config, {}, {}, "daemon-" + std::to_string(sig));
    // A restarted daemon checks them when they are due again: ask for both now.
    for (const char* id : {"everything", "stubborn"}) {
      redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", id});
    }
    // stubborn: supervisor, sh and sleep are up; everything: supervisor and node, while checked.
    auto deadline = Clock::now() + 20s;
    while (processesWithEnv(mark(dir)).size() < 3 && Clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
    }
    REQUIRE(processesWithEnv(mark(dir)).size() >= 3);
    auto stopped = Clock::now();
    auto rc = d.stop(sig, 5s);
    REQUIRE(rc);
    if (sig == SIGTERM) {
      CHECK(*rc == 0);
      CHECK(Clock::now() - stopped < 2s);
      // The daemon killed them before it exited.
      CHECK(processesWithEnv(mark(dir)).empty());
    } else {
      // The supervisors saw the daemon die: SIGTERM to their group, SIGKILL 2 s later.
      CHECK(waitNoProcessWithEnv(mark(dir), 4s));
    }
  }
}

TEST_CASE(
    "a stdio server inherits stdin, stdout and stderr only, none of the daemon's connections") {
  TempDir dir;
  RedisServer redis(dir);
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 20s", "timeout: 10s"};
  config.servers = {
      {"quiet",
       "",
       {"command: sleep", "args: [\"30\"]", "env: {MCPHD_TEST_MARK: \"" + dir.path() + "\"}"}}};
  TestDaemon d(dir, config);
  // Once the command is read the daemon holds its Redis connections; the check comes after.
  redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "quiet"});
  auto descriptors = [](int pid) {
    std::vector<std::string> fds;
    std::error_code ec;
    for (const auto& e :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
      fds.push_back(e.path().filename().string() + " -> " +
                    std::filesystem::read_symlink(e.path(), ec).string());
    }
    std::sort(fds.begin(), fds.end());
    return fds;
  };
  // Until the server has been exec'd, the supervisor and its fork also hold the close-on-exec
  // pipe that reports a failed exec: wait for that to settle (a leak does not go away).
  std::vector<int> pids;
  std::vector<std::vector<std::string>> seen;
  auto deadline = Clock::now() + 10s;
  do {
    std::this_thread::sleep_for(20ms);
    pids = processesWithEnv(mark(dir));
    seen.clear();
    for (int pid : pids) {
      seen.push_back(descriptors(pid));
    }
  } while (!(pids.size() == 2 &&
             std::all_of(seen.begin(), seen.end(), [](const auto& f) { return f.size() == 3; })) &&
           Clock::now() < deadline);
  REQUIRE(pids.size() == 2);  // the supervisor and sleep
  for (size_t i = 0; i < pids.size(); ++i) {
    const auto& fds = seen[i];
    INFO("pid " << pids[i]);
    REQUIRE(fds.size() == 3);
    CHECK(fds[0].rfind("0 -> ", 0) == 0);
    CHECK(fds[1].rfind("1 -> ", 0) == 0);
    CHECK(fds[2].rfind("2 -> ", 0) == 0);
  }
  auto rc = d.stop(SIGTERM, 5s);
  REQUIRE(rc);
  CHECK(*rc == 0);
}

TEST_CASE("a stdio server's descendants in other sessions end with its check") {
  TempDir dir;
  RedisServer redis(dir);
  // The server starts a `sleep 300` in a session of its own (out of its process group), and a
  // double-forked one, then serves MCP.
  DaemonConfig config;
  config.redisUrl = redis.url();
  config.defaults = {"interval: 5m", "timeout: 10s"};
  config.servers = {{"escaper",
                     "",
                     {"command: sh",
                      "args: [\"-c\", \"setsid sleep 300 </dev/null >/dev/null 2>&1 & (sh -c "
                      "'sleep 301 </dev/null >/dev/null 2>&1 &') ; exec node '" +
                          everythingScript() + "' stdio\"]",
                      "env: {MCPHD_TEST_MARK: \"" + dir.path() + "\"}"}}};
  Subscriber sub(redis.port(), {"mcp:health"});
  TestDaemon daemon(dir, config, {"--log-level", "debug"});
  INFO("logs in " << dir.path());
  std::optional<std::string> cmd;
  for (int i = 0; i < 100 && !cmd; ++i) {  // once the daemon has its consumer group
    std::this_thread::sleep_for(100ms);
    if (redis.query({"EXISTS", "mcp:commands"}) == std::optional<std::string>("1")) {
      cmd = redis.query({"XADD", "mcp:commands", "*", "op", "check", "server_id", "escaper"});
    }
  }
  REQUIRE(cmd);
  auto first = sub.waitFor(
      [&](const Message& m) {
        return m.payload.find("\"command_id\":\"" + *cmd) != std::string::npos;
      },
      30s);
  REQUIRE(first);
  CHECK(first->payload.find(R"("status":"healthy")") != std::string::npos);
  // The check is over (stdin closed, the server exits): nothing it started is left, though the
  // daemon goes on running.
  CHECK(waitNoProcessWithEnv(mark(dir), 10s));
  CHECK(daemon.running());
  CHECK(daemon.stop(SIGTERM, 5s) == std::optional<int>(0));
}
