#include "check/tool_watch.hpp"

#include <catch2/catch.hpp>

#include "auth/auth_provider.hpp"
#include "check/server_prober.hpp"
#include "loop/fake_process.hpp"
#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"
#include "mcp/streamable_http_transport.hpp"

using namespace mcphd;
using namespace mcphd::check;
using mcphd::testing::FakeHttp;
using mcphd::testing::FakeSpawner;

namespace {

const std::string kInit =
    R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"w","version":"1"}}})"
    "\n";
const std::string kListChanged = R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"
                                 "\n";

struct Fixture {
  loop::SimLoop loop;
  FakeHttp http;
  auth::StaticAuthProvider auth;
  FakeSpawner spawner;
  ServerProber prober{http, auth, loop, loop, &spawner, {"PATH=/usr/bin"}};
  int changes = 0;
  registry::ServerSpec spec;

  Fixture() {
    spec.id = "files";
    spec.transport = registry::Transport::kStdio;
    spec.command = "/bin/sh";
    spec.watchTools = true;
    spec.timeoutMs = 5000;
  }
  std::unique_ptr<ToolWatch> watch() {
    auto w = prober.watch(spec, [this] { ++changes; });
    loop.runDue();
    return w;
  }
  // The handshake of a Streamable HTTP watch: initialize answered with session `session`,
  // initialized acknowledged; the watch then opens its GET stream.
  void httpHandshake(const std::string& session, const std::string& version = "2025-11-25") {
    REQUIRE(http.sent.size() == 1);
    http.answer(
        0, 200, "application/json",
        R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":")" + version +
            R"(","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"w","version":"1"}}})",
        session);
    REQUIRE(http.sent.size() == 2);  // notifications/initialized
    http.answer(1, 202, "", "");
    loop.runDue();
  }
  // The handshake of child `i`: initialize answered, initialized sent.
  void handshake(size_t i, const std::string& init = kInit) {
    REQUIRE(spawner.children.size() == i + 1);
    spawner.out(i, init);
    loop.runDue();
    auto lines = spawner.lines(i);
    REQUIRE(lines.size() == 2);
    CHECK(lines[1] == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  }
};

}  // namespace

TEST_CASE(
    "a watched stdio server keeps its process, a burst of list_changed is one re-list and later "
    "ones wait for min_relist_interval") {
  Fixture f;
  auto w = f.watch();
  f.handshake(0);
  CHECK_FALSE(f.spawner.children[0]->detached);  // kept open, no tools/list sent
  f.spawner.out(0, kListChanged);
  f.loop.advance(100);
  f.spawner.out(0, kListChanged + kListChanged);
  f.loop.advance(399);
  CHECK(f.changes == 0);
  f.loop.advance(1);
  CHECK(f.changes == 1);  // 500 ms after the first of the burst
  f.spawner.out(0, R"({"jsonrpc":"2.0","id":"s1","method":"ping"})"
                   "\n");
  CHECK(f.spawner.lines(0).back() == R"({"jsonrpc":"2.0","id":"s1","result":{}})");
  // Later notifications: at most one re-list per min_relist_interval (5 s), however many.
  for (int i = 0; i < 50; ++i) {
    f.spawner.out(0, kListChanged);
    f.loop.advance(10);
  }
  f.loop.advance(4'499);  // 4,999 ms after the first re-list
  CHECK(f.changes == 1);
  f.loop.advance(1);
  CHECK(f.changes == 2);
  f.spawner.out(0, kListChanged);
  f.loop.advance(4'999);
  CHECK(f.changes == 2);
  f.loop.advance(1);
  CHECK(f.changes == 3);
  // Quiet for longer than the interval: the next one is answered within 500 ms again.
  f.loop.advance(20'000);
  f.spawner.out(0, kListChanged);
  f.loop.advance(500);
  CHECK(f.changes == 4);
  w.reset();
  CHECK(f.spawner.children[0]->detached);  // the process goes when the watch goes
}

TEST_CASE("a watch reconnects with backoff when its session ends") {
  Fixture f;
  auto w = f.watch();
  f.handshake(0);
  f.spawner.exit(0, 1);
  f.loop.runDue();
  f.loop.advance(999);
  CHECK(f.spawner.children.size() == 1);
  f.loop.advance(1);
  REQUIRE(f.spawner.children.size() == 2);  // 1 s later
  f.spawner.exit(1, 1);                     // dies again before its handshake
  f.loop.runDue();
  f.loop.advance(1999);
  CHECK(f.spawner.children.size() == 2);
  f.loop.advance(1);
  REQUIRE(f.spawner.children.size() == 3);  // 2 s later
  f.handshake(2);
  f.loop.advance(kWatchStableMs);
  f.spawner.exit(2, 0);  // a session that lasted resets the backoff
  f.loop.runDue();
  f.loop.advance(1000);
  CHECK(f.spawner.children.size() == 4);
}

TEST_CASE("a server that does not advertise tools.listChanged is not watched") {
  Fixture f;
  auto w = f.watch();
  f.handshake(
      0,
      R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"w","version":"1"}}})"
      "\n");
  CHECK(f.spawner.children[0]->detached);
  f.loop.advance(kWatchBackoffMaxMs * 2);
  CHECK(f.spawner.children.size() == 1);  // no reconnect
}

TEST_CASE("a Streamable HTTP watch opens the session's GET stream and stops on 405") {
  Fixture f;
  f.spec.transport = registry::Transport::kStreamableHttp;
  f.spec.url = "http://h:1/mcp";
  auto w = f.watch();
  f.httpHandshake("sess-1");
  REQUIRE(f.http.sent.size() == 3);
  const auto& get = f.http.sent[2]->request;
  CHECK(get.method == "GET");
  CHECK(get.longLived);
  CHECK(f.http.hasHeader(2, "Mcp-Session-Id: sess-1"));
  CHECK(f.http.hasHeader(2, "Accept: text/event-stream"));
  http::Response head;
  head.status = 200;
  head.contentType = "text/event-stream";
  REQUIRE(get.onChunk);
  CHECK(get.onChunk(head, "event: message\ndata: " + kListChanged + "\n"));
  f.loop.advance(500);
  CHECK(f.changes == 1);

  // A server without a GET stream: no reconnect loop.
  Fixture g;
  g.spec = f.spec;
  auto w2 = g.watch();
  g.httpHandshake("sess-2");
  g.http.answer(2, 405, "", "");
  g.loop.advance(kWatchBackoffMaxMs * 2);
  // No reconnect; the session it opened is ended.
  REQUIRE(g.http.sent.size() == 4);
  CHECK(g.http.sent[3]->request.method == "DELETE");
  CHECK(g.http.hasHeader(3, "Mcp-Session-Id: sess-2"));
}

TEST_CASE("a watch that goes ends its Streamable HTTP session with a DELETE nobody waits for") {
  Fixture f;
  f.spec.transport = registry::Transport::kStreamableHttp;
  f.spec.url = "http://h:1/mcp";
  f.spec.headers = {{"X-Team", "a"}};
  auto w = f.watch();
  f.httpHandshake("sess-9", "2025-06-18");
  REQUIRE(f.http.sent.size() == 3);  // the GET stream
  w.reset();                         // e.g. the server's settings changed
  CHECK(f.http.sent[2]->cancelled);
  REQUIRE(f.http.sent.size() == 4);
  const auto& del = f.http.sent[3]->request;
  CHECK(del.method == "DELETE");
  CHECK(del.url == "http://h:1/mcp");
  CHECK(f.http.hasHeader(3, "Mcp-Session-Id: sess-9"));
  CHECK(f.http.hasHeader(3, "MCP-Protocol-Version: 2025-06-18"));
  CHECK(f.http.hasHeader(3, "X-Team: a"));
  CHECK(del.timeoutMs <= mcp::kSessionDeleteTimeoutMs);
  CHECK_FALSE(f.http.sent[3]->cancelled);  // outlives the watch ...
  f.http.answer(3, 200, "", "");           // ... until it is answered
  CHECK(f.prober.detachedInFlight() == 0);
}

TEST_CASE("a watched process that dies right after its handshake is reconnected") {
  Fixture f;
  auto w = f.watch();
  f.spawner.out(0, kInit);  // the handshake is reported on the next loop iteration ...
  f.spawner.exit(0, 1);     // ... but the process is gone before that
  f.loop.runDue();
  f.loop.advance(1'000);
  CHECK(f.spawner.children.size() == 2);
}

TEST_CASE(
    "a legacy SSE watch hears a list_changed that comes before the POST of initialized is "
    "answered") {
  Fixture f;
  f.spec.transport = registry::Transport::kSse;
  f.spec.url = "http://h:1/sse";
  auto w = f.watch();
  REQUIRE(f.http.sent.size() == 1);
  const auto& stream = f.http.sent[0]->request;
  REQUIRE(stream.onChunk);
  CHECK(stream.longLived);
  http::Response head;
  head.status = 200;
  head.contentType = "text/event-stream";
  REQUIRE(stream.onChunk(head, "event: endpoint\ndata: /messages?sessionId=s1\n\n"));
  REQUIRE(f.http.sent.size() == 2);  // POST initialize
  f.http.answer(1, 202, "", "");
  REQUIRE(stream.onChunk(head, "event: message\ndata: " + kInit + "\n"));
  REQUIRE(f.http.sent.size() == 3);  // POST notifications/initialized
  CHECK(f.http.sent[2]->request.body.find("notifications/initialized") != std::string::npos);
  // server-everything sends list_changed while it handles initialized: on the stream, before
  // the POST's own 202.
  REQUIRE(stream.onChunk(head, "event: message\ndata: " + kListChanged + "\n"));
  f.http.answer(2, 202, "", "");
  f.loop.advance(500);
  CHECK(f.changes == 1);
  CHECK_FALSE(f.http.sent[0]->cancelled);  // the stream is kept
}

TEST_CASE("a watch that reconnects re-lists once: a change made while it was away reached nobody") {
  Fixture f;
  auto w = f.watch();
  f.handshake(0);
  f.loop.advance(kWatchBackoffMaxMs);
  CHECK(f.changes == 0);  // the first session follows a check: nothing to catch up on
  f.spawner.exit(0, 1);
  f.loop.runDue();
  f.loop.advance(1000);
  f.handshake(1);
  f.loop.advance(200);
  f.spawner.out(1, kListChanged);  // joins the re-list
  f.loop.advance(299);
  CHECK(f.changes == 0);
  f.loop.advance(1);
  CHECK(f.changes == 1);  // 500 ms after the handshake
  f.loop.advance(kWatchBackoffMaxMs);
  CHECK(f.changes == 1);
}
