#include "mcp/stdio_probe.hpp"

#include <catch2/catch.hpp>

#include "loop/fake_process.hpp"
#include "loop/sim_loop.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeSpawner;

namespace {

StdioOptions shOptions() {
  StdioOptions o;
  o.serverId = "files";
  o.command = "/bin/sh";  // resolved on the real file system: present everywhere
  o.args = {"-c", "server"};
  o.env = {{"API_KEY", Secret("k-123456789")}, {"PATH", Secret("/opt/bin")}};
  o.inheritedEnv = {"HOME=/root", "PATH=/usr/bin"};
  o.timeoutMs = 5000;
  return o;
}

std::string initResult(const std::string& id, bool listChanged = true) {
  return R"({"jsonrpc":"2.0","id":)" + id +
         R"(,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":)" +
         (listChanged ? "true" : "false") +
         R"(}},"serverInfo":{"name":"files","version":"1.0"}}})" + "\n";
}

struct Run {
  loop::SimLoop loop;
  FakeSpawner spawner;
  std::optional<ProbeResult> result;
  std::unique_ptr<StdioProbe> probe;

  explicit Run(StdioOptions o = shOptions()) {
    probe = std::make_unique<StdioProbe>(spawner, loop, loop, std::move(o),
                                         [this](ProbeResult r) { result = std::move(r); });
  }
};

}  // namespace

TEST_CASE("a stdio check: initialize, initialized, every tools/list page, then the process goes") {
  Run run;
  run.probe->start();
  REQUIRE(run.spawner.children.size() == 1);
  auto& child = *run.spawner.children[0];
  CHECK(child.options.file == "/bin/sh");
  CHECK(child.options.args == std::vector<std::string>{"-c", "server"});
  // Inherited names first, the configured ones win.
  CHECK(child.options.env ==
        std::vector<std::string>{"HOME=/root", "API_KEY=k-123456789", "PATH=/opt/bin"});
  CHECK(child.options.name == "files");
  auto lines = run.spawner.lines(0);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(R"("method":"initialize")") != std::string::npos);
  CHECK(lines[0].find(R"("id":1)") != std::string::npos);

  // A notification, a server request and the answer split across chunks.
  run.spawner.out(0, R"({"jsonrpc":"2.0","method":"notifications/message","params":{}})"
                     "\n");
  run.spawner.out(0, R"({"jsonrpc":"2.0","id":"p1","method":"ping"})"
                     "\r\n");
  std::string init = initResult("1");
  run.spawner.out(0, init.substr(0, 20));
  run.spawner.out(0, init.substr(20));
  lines = run.spawner.lines(0);
  REQUIRE(lines.size() == 4);
  CHECK(lines[1] == R"({"jsonrpc":"2.0","id":"p1","result":{}})");
  CHECK(lines[2] == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(lines[3].find(R"("method":"tools/list")") != std::string::npos);
  CHECK(lines[3].find(R"("id":2)") != std::string::npos);
  run.spawner.out(
      0,
      R"({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a","inputSchema":{"type":"object"}}],"nextCursor":"c2"}})"
      "\n");
  lines = run.spawner.lines(0);
  REQUIRE(lines.size() == 5);
  CHECK(lines[4].find(R"("cursor":"c2")") != std::string::npos);
  run.spawner.out(
      0,
      R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b","inputSchema":{"type":"object"}}]}})"
      "\n");
  CHECK_FALSE(run.result);  // never inline
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK_FALSE(run.result->error);
  CHECK(run.result->toolsComplete);
  CHECK(run.result->toolsListChanged);
  CHECK(run.result->serverName == "files");
  REQUIRE(run.result->tools.size() == 2);
  CHECK(run.result->tools[1].name == "b");
  CHECK(child.detached);  // handed to the shutdown ladder
}

TEST_CASE("a stdio command that does not exist is error kind spawn, without a spawn attempt") {
  StdioOptions o = shOptions();
  o.command = "no-such-mcp-server-here";
  o.env = {{"API_KEY", Secret("k-123456789")}};  // PATH inherited: /usr/bin
  Run run(o);
  run.probe->start();
  CHECK(run.spawner.children.empty());
  CHECK_FALSE(run.result);
  run.loop.runDue();
  REQUIRE(run.result);
  REQUIRE(run.result->error);
  CHECK(run.result->error->kind == ErrorKind::kSpawn);
  CHECK(run.result->error->message ==
        "cannot start no-such-mcp-server-here: not found in PATH (/usr/bin)");
  CHECK_FALSE(run.result->retriable);
}

TEST_CASE("a spawn the spawner refuses is error kind spawn") {
  Run run;
  run.spawner.failWith = "cannot start /bin/sh: no such file or directory (working directory /x)";
  run.probe->start();
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->kind == ErrorKind::kSpawn);
  CHECK(run.result->error->message.find("working directory /x") != std::string::npos);
}

TEST_CASE(
    "a server that exits before initialize is kind spawn with the end of its stderr, "
    "configured secrets redacted") {
  Run run;
  run.probe->start();
  run.spawner.err(0, "Error: Cannot find module 'x'\n    at load (k-123456789)\n");
  run.spawner.exit(0, 1);
  run.loop.runDue();
  REQUIRE(run.result);
  REQUIRE(run.result->error);
  CHECK(run.result->error->kind == ErrorKind::kSpawn);
  const std::string& m = run.result->error->message;
  CHECK(m.find("the server process exited with status 1 before answering initialize") == 0);
  CHECK(m.find("Cannot find module 'x'") != std::string::npos);
  CHECK(m.find("k-123456789") == std::string::npos);
}

TEST_CASE("a server that dies after initialize is a protocol error (degraded)") {
  Run run;
  run.probe->start();
  run.spawner.out(0, initResult("1"));
  run.spawner.exit(0, 0, 9);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->initialized);
  CHECK(run.result->error->kind == ErrorKind::kProtocol);
  CHECK(run.result->error->message ==
        "the server process was killed by signal 9 before answering tools/list");
}

TEST_CASE("a stdio server that never answers times out and is let go") {
  Run run;
  run.probe->start();
  run.loop.advance(4999);
  CHECK_FALSE(run.result);
  run.loop.advance(1);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->kind == ErrorKind::kTimeout);
  CHECK(run.result->error->message ==
        "check timed out after 5000 ms waiting for the initialize result");
  CHECK(run.result->retriable);
  CHECK(run.spawner.children[0]->detached);
}

TEST_CASE("stdout that is not JSON-RPC, or a line over max_body, is a protocol error") {
  SECTION("a log line on stdout") {
    Run run;
    run.probe->start();
    run.spawner.out(0, "Server listening\n");
    run.loop.runDue();
    REQUIRE(run.result);
    CHECK(run.result->error->kind == ErrorKind::kProtocol);
    CHECK(run.result->error->message.find("stdout line 'Server listening'") == 0);
  }
  SECTION("an endless line") {
    StdioOptions o = shOptions();
    o.maxBody = 1024;
    Run run(o);
    run.probe->start();
    std::string chunk(600, 'x');
    run.spawner.out(0, chunk);
    CHECK_FALSE(run.result);
    run.spawner.out(0, chunk);
    run.loop.runDue();
    REQUIRE(run.result);
    CHECK(run.result->error->kind == ErrorKind::kProtocol);
    CHECK(run.result->error->message == "a message on stdout is larger than max_body (1024 bytes)");
  }
}

TEST_CASE("destroying a stdio probe lets its process go and never calls back") {
  Run run;
  run.probe->start();
  auto child = run.spawner.children[0];
  run.probe.reset();
  CHECK(child->detached);
  run.loop.advance(10'000);
  CHECK_FALSE(run.result);
}

TEST_CASE("a stdio server whose working directory is missing is kind spawn, saying so") {
  StdioOptions o = shOptions();
  o.cwd = "/nonexistent-mcphd-dir";
  Run run(o);
  run.probe->start();
  CHECK(run.spawner.children.empty());
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->kind == ErrorKind::kSpawn);
  CHECK(
      run.result->error->message ==
      "cannot start /bin/sh: working directory /nonexistent-mcphd-dir: No such file or directory");
}
