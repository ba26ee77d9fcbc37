#include "mcp/stdio_transport.hpp"

#include <catch2/catch.hpp>

#include "loop/fake_process.hpp"
#include "loop/sim_loop.hpp"
#include "mcp/recording_listener.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeSpawner;
using mcphd::testing::notification;
using mcphd::testing::RecordingListener;
using mcphd::testing::request;

namespace {

StdioOptions shOptions() {
  StdioOptions o;
  o.serverId = "files";
  o.command = "/bin/sh";  // resolved on the real file system: present everywhere
  o.args = {"-c", "server"};
  o.env = {{"API_KEY", Secret("k-123456789")}, {"PATH", Secret("/opt/bin")}};
  o.inheritedEnv = {"HOME=/root", "PATH=/usr/bin"};
  return o;
}

struct Wire {
  loop::SimLoop loop;
  FakeSpawner spawner;
  RecordingListener listener;
  std::unique_ptr<StdioTransport> t;
  explicit Wire(StdioOptions o = shOptions()) {
    t = std::make_unique<StdioTransport>(spawner, loop, loop, std::move(o));
  }
};

}  // namespace

TEST_CASE("stdio: the process gets its command, environment and name, lines are messages") {
  Wire w;
  w.t->open(w.listener);
  REQUIRE(w.spawner.children.size() == 1);
  CHECK(w.listener.opened == 1);
  auto& child = *w.spawner.children[0];
  CHECK(child.options.file == "/bin/sh");
  CHECK(child.options.args == std::vector<std::string>{"-c", "server"});
  // Inherited names first, the configured ones win.
  CHECK(child.options.env ==
        std::vector<std::string>{"HOME=/root", "API_KEY=k-123456789", "PATH=/opt/bin"});
  CHECK(child.options.name == "files");
  w.t->send(request("1", "initialize", "initialize"));
  auto lines = w.spawner.lines(0);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == R"({"jsonrpc":"2.0","id":1,"method":"initialize"})");
  // A notification, a request and a response split across chunks, with a CRLF and a blank line.
  w.spawner.out(0, R"({"jsonrpc":"2.0","method":"notifications/message","params":{}})"
                   "\n\n");
  w.spawner.out(0, R"({"jsonrpc":"2.0","id":"p1","method":"ping"})"
                   "\r\n");
  const std::string response = R"({"jsonrpc":"2.0","id":1,"result":{}})"
                               "\n";
  w.spawner.out(0, response.substr(0, 20));
  w.spawner.out(0, response.substr(20));
  REQUIRE(w.listener.messages.size() == 3);
  CHECK(w.listener.messages[1].method == "ping");
  CHECK(w.listener.messages[2].id == "1");
  // A notification is taken once written, said from the loop.
  w.t->send(notification("notifications/initialized"));
  CHECK(w.listener.sent.empty());
  w.loop.runDue();
  CHECK(w.listener.sent == std::vector<std::string>{"notifications/initialized"});
  bool done = false;
  w.t->close([&] { done = true; });
  CHECK(done);
  CHECK(child.detached);  // handed to the shutdown ladder
}

TEST_CASE("a stdio command that does not exist is kind spawn, said from the loop") {
  StdioOptions o = shOptions();
  o.command = "no-such-mcp-server-here";
  o.env = {{"API_KEY", Secret("k-123456789")}};  // PATH inherited: /usr/bin
  Wire w(o);
  w.t->open(w.listener);
  CHECK(w.spawner.children.empty());
  CHECK(w.listener.errors.empty());
  w.loop.runDue();
  REQUIRE(w.listener.errors.size() == 1);
  CHECK(w.listener.errors[0].error.kind == ErrorKind::kSpawn);
  CHECK(w.listener.errors[0].error.message ==
        "cannot start no-such-mcp-server-here: not found in PATH (/usr/bin)");
  CHECK_FALSE(w.listener.errors[0].retriable);
  CHECK(w.listener.opened == 0);
}

TEST_CASE("a spawn the spawner refuses, or a missing working directory, is kind spawn") {
  {
    Wire w;
    w.spawner.failWith = "cannot start /bin/sh: no such file or directory (working directory /x)";
    w.t->open(w.listener);
    w.loop.runDue();
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kSpawn);
  }
  {
    StdioOptions o = shOptions();
    o.cwd = "/nonexistent-mcphd-dir";
    Wire w(o);
    w.t->open(w.listener);
    w.loop.runDue();
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.message ==
          "cannot start /bin/sh: working directory /nonexistent-mcphd-dir: No such file or "
          "directory");
  }
}

TEST_CASE("an exit before initialize is kind spawn with the end of stderr, secrets redacted") {
  Wire w;
  w.t->open(w.listener);
  w.t->send(request("1", "initialize", "initialize"));
  w.spawner.err(0, "Error: Cannot find module 'x'\n    at load (k-123456789)\n");
  w.spawner.exit(0, 1);
  REQUIRE(w.listener.errors.size() == 1);
  const auto& e = w.listener.errors[0].error;
  CHECK(e.kind == ErrorKind::kSpawn);
  CHECK(e.message.find("the server process exited with status 1 before answering initialize") == 0);
  CHECK(e.message.find("Cannot find module 'x'") != std::string::npos);
  CHECK(e.message.find("k-123456789") == std::string::npos);
}

TEST_CASE("an exit after initialize is a protocol error naming what was not answered") {
  Wire w;
  w.t->open(w.listener);
  w.t->send(request("1", "initialize", "initialize"));
  w.t->negotiated("2025-11-25");
  w.t->send(request("2", "tools/list", "tools/list"));
  w.spawner.exit(0, 0, 9);
  REQUIRE(w.listener.errors.size() == 1);
  CHECK(w.listener.errors[0].error.kind == ErrorKind::kProtocol);
  CHECK(w.listener.errors[0].error.message ==
        "the server process was killed by signal 9 before answering tools/list");
}

TEST_CASE("stdout that is not JSON-RPC, or a line over max_body, is a protocol error") {
  {
    Wire w;
    w.t->open(w.listener);
    w.spawner.out(0, "Server listening\n");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kProtocol);
    CHECK(w.listener.errors[0].error.message.find("stdout line 'Server listening'") == 0);
  }
  {
    StdioOptions o = shOptions();
    o.maxBody = 1024;
    Wire w(o);
    w.t->open(w.listener);
    w.spawner.out(0, std::string(600, 'x'));
    CHECK(w.listener.errors.empty());
    w.spawner.out(0, std::string(600, 'x'));
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.message ==
          "a message on stdout is larger than max_body (1024 bytes)");
  }
}

TEST_CASE("a kept process: its exit or garbage is a loss, not an error") {
  Wire w;
  w.t->open(w.listener);
  w.t->listen();
  w.spawner.out(0, "garbage\n");
  REQUIRE(w.listener.lost.size() == 1);
  CHECK(w.listener.errors.empty());
  w.spawner.exit(0, 1);
  CHECK(w.listener.lost.size() == 1);  // once
}

TEST_CASE("closing from inside the process's callback lets it go there and then") {
  Wire w;
  w.t->open(w.listener);
  w.listener.react = [&](const Message&) { w.t->close(nullptr); };
  w.spawner.out(0, R"({"jsonrpc":"2.0","id":1,"result":{}})"
                   "\n"
                   R"({"jsonrpc":"2.0","id":2,"result":{}})"
                   "\n");
  CHECK(w.listener.messages.size() == 1);  // nothing after the close
  CHECK(w.spawner.children[0]->detached);
}

TEST_CASE("destroying the transport lets the process go and reports nothing") {
  Wire w;
  w.t->open(w.listener);
  auto child = w.spawner.children[0];
  w.t.reset();
  CHECK(child->detached);
  w.loop.advance(10'000);
  CHECK(w.listener.errors.empty());
}
