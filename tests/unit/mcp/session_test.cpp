#include "mcp/session.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "loop/sim_loop.hpp"
#include "mcp/fake_transport.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeTransport;
using mcphd::testing::Wire;

namespace {

std::string initResult(const std::string& version = "2025-11-25", bool listChanged = true) {
  return R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":")" + version +
         R"(","capabilities":{"tools":{"listChanged":)" + (listChanged ? "true" : "false") +
         R"(}},"serverInfo":{"name":"srv","version":"1.2"}}})";
}

std::string toolsPage(const std::string& id, const std::vector<std::string>& names,
                      const std::string& cursor = "") {
  std::string s = R"({"jsonrpc":"2.0","id":)" + id + R"(,"result":{"tools":[)";
  for (size_t i = 0; i < names.size(); ++i) {
    s += (i ? "," : "") + std::string(R"({"name":")") + names[i] +
         R"(","inputSchema":{"type":"object"}})";
  }
  s += "]";
  if (!cursor.empty()) {
    s += R"(,"nextCursor":")" + cursor + "\"";
  }
  return s + "}}";
}

struct Run {
  loop::SimLoop loop;
  std::shared_ptr<Wire> wire = std::make_shared<Wire>();
  std::optional<ProbeResult> result;
  int results = 0;
  std::vector<std::string> notifications;
  std::vector<std::pair<std::string, bool>> losses;
  std::unique_ptr<McpSession> session;

  explicit Run(SessionOptions o = {}, bool keepOpen = false) {
    if (o.secrets.empty()) {
      o.secrets = {"Authorization: Bearer secret-token"};
    }
    if (keepOpen) {
      o.onNotification = [this](const std::string& m) { notifications.push_back(m); };
      o.onLost = [this](const std::string& why, bool permanent) {
        losses.emplace_back(why, permanent);
      };
    }
    session = std::make_unique<McpSession>(std::make_unique<FakeTransport>(wire), loop, loop,
                                           std::move(o), [this](ProbeResult r) {
                                             result = std::move(r);
                                             ++results;
                                           });
    session->start();
    REQUIRE(wire->opened);
    wire->listener->onOpen();
  }
  // initialize answered, initialized taken: the first tools/list page is asked for.
  void handshake(const std::string& init = initResult()) {
    wire->message(init);
    wire->sentOk("notifications/initialized");
  }
};

}  // namespace

TEST_CASE("a check: initialize, initialized once taken, every tools/list page, then close") {
  Run run;
  REQUIRE(run.wire->sent.size() == 1);
  const Outgoing& init = run.wire->sent[0];
  CHECK(init.kind == Outgoing::Kind::kRequest);
  CHECK(init.id == "1");
  CHECK(init.what == "initialize");
  CHECK(init.json.find(R"("method":"initialize")") != std::string::npos);
  CHECK(init.json.find(R"("protocolVersion":"2025-11-25")") != std::string::npos);
  CHECK(init.json.find(R"("clientInfo":{"name":"mcp-healthd")") != std::string::npos);
  CHECK(run.session->state() == McpSession::State::kInitializing);

  run.wire->message(initResult());
  CHECK(run.wire->negotiated == "2025-11-25");
  REQUIRE(run.wire->sent.size() == 2);
  CHECK(run.wire->sent[1].kind == Outgoing::Kind::kNotification);
  CHECK(run.wire->sent[1].json == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(run.session->state() == McpSession::State::kInitialized);
  // tools/list waits until the server took the notification.
  run.loop.runDue();
  CHECK(run.wire->sent.size() == 2);
  run.wire->sentOk("notifications/initialized");
  REQUIRE(run.wire->sent.size() == 3);
  CHECK(run.wire->sent[2].id == "2");
  CHECK(run.wire->sent[2].json.find(R"("method":"tools/list","params":{})") != std::string::npos);

  run.wire->message(toolsPage("2", {"b"}, "c1"));
  REQUIRE(run.wire->sent.size() == 4);
  CHECK(run.wire->sent[3].json.find(R"("params":{"cursor":"c1"})") != std::string::npos);
  run.wire->message(toolsPage("3", {"a"}));
  CHECK(run.wire->closed);
  CHECK_FALSE(run.wire->closedDetached);
  CHECK_FALSE(run.result);  // never inline
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.results == 1);
  CHECK_FALSE(run.result->error);
  CHECK(run.result->initialized);
  CHECK(run.result->toolsComplete);
  CHECK(run.result->serverName == "srv");
  CHECK(run.result->serverVersion == "1.2");
  CHECK(run.result->protocolVersion == "2025-11-25");
  CHECK(run.result->toolsListChanged);
  REQUIRE(run.result->tools.size() == 2);
  CHECK(run.result->tools[0].name == "b");
  CHECK(run.result->toolsHash.size() == 64);
  CHECK(run.session->state() == McpSession::State::kDone);
}

TEST_CASE("server requests are answered, notifications and other responses are not for a check") {
  Run run;
  run.wire->message(R"({"jsonrpc":"2.0","id":"p1","method":"ping"})");
  run.wire->message(R"({"jsonrpc":"2.0","id":7,"method":"sampling/createMessage","params":{}})");
  run.wire->message(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  run.wire->message(R"({"jsonrpc":"2.0","id":99,"result":{}})");  // answers nothing we asked
  REQUIRE(run.wire->sent.size() == 3);
  CHECK(run.wire->sent[1].kind == Outgoing::Kind::kReply);
  CHECK(run.wire->sent[1].json == R"({"jsonrpc":"2.0","id":"p1","result":{}})");
  CHECK(run.wire->sent[2].json.find(R"("id":7,"error":{"code":-32601)") != std::string::npos);
  CHECK(run.session->state() == McpSession::State::kInitializing);
  run.handshake();
  run.wire->message(toolsPage("2", {"t"}));
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK_FALSE(run.result->error);
}

TEST_CASE("a JSON-RPC error from initialize is a protocol error, one from tools/list degrades") {
  {
    Run run;
    run.wire->message(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"nope"}})");
    run.loop.runDue();
    REQUIRE(run.result);
    CHECK(run.result->error->kind == ErrorKind::kProtocol);
    CHECK(run.result->error->message == "initialize failed: JSON-RPC error -32600 nope");
    CHECK_FALSE(run.result->initialized);
    CHECK(run.wire->closed);  // the session is still ended
  }
  {
    Run run;
    run.handshake();
    run.wire->message(R"({"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no tools"}})");
    run.loop.runDue();
    REQUIRE(run.result);
    CHECK(run.result->initialized);
    CHECK(run.result->error->kind == ErrorKind::kProtocol);
    CHECK(run.result->error->message.find("tools/list failed") == 0);
    CHECK(run.result->tools.empty());
  }
}

TEST_CASE("a repeated cursor degrades the server and keeps no partial list") {
  Run run;
  run.handshake();
  run.wire->message(toolsPage("2", {"a"}, "c1"));
  run.wire->message(toolsPage("3", {"b"}, "c1"));
  run.loop.runDue();
  REQUIRE(run.result);
  REQUIRE(run.result->error);
  CHECK(run.result->error->kind == ErrorKind::kProtocol);
  CHECK(run.result->error->message.find("repeated the cursor") != std::string::npos);
  CHECK(run.result->initialized);
  CHECK(run.result->tools.empty());
  CHECK_FALSE(run.result->toolsComplete);
}

TEST_CASE("tool limits from the options apply to the whole list") {
  SessionOptions o;
  o.toolLimits.maxTools = 2;
  Run run(o);
  run.handshake();
  run.wire->message(toolsPage("2", {"a", "b"}, "c1"));
  run.wire->message(toolsPage("3", {"c"}));
  run.loop.runDue();
  REQUIRE(run.result);
  REQUIRE(run.result->error);
  CHECK(run.result->error->message.find("max_tools") != std::string::npos);
}

TEST_CASE("the protocol version: the offered ones always, 2024-11-05 where the transport allows") {
  {
    Run run;
    run.wire->message(initResult("2024-11-05"));
    run.loop.runDue();
    REQUIRE(run.result);
    CHECK(run.result->error->kind == ErrorKind::kProtocol);
    CHECK(run.result->error->message == "server chose unsupported protocol version '2024-11-05'");
  }
  for (const char* v : {"2025-06-18", "2025-03-26"}) {
    Run run;
    run.wire->message(initResult(v));
    CHECK(run.wire->negotiated == v);
  }
  Run legacy;
  legacy.wire->legacy = true;
  legacy.session.reset();
  legacy.session = std::make_unique<McpSession>(std::make_unique<FakeTransport>(legacy.wire),
                                                legacy.loop, legacy.loop, SessionOptions{},
                                                [&](ProbeResult r) { legacy.result = r; });
  legacy.session->start();
  legacy.wire->sent.clear();
  legacy.wire->listener->onOpen();
  CHECK(legacy.wire->last().json.find(R"("protocolVersion":"2024-11-05")") != std::string::npos);
  legacy.wire->message(initResult("2024-11-05"));
  CHECK(legacy.wire->negotiated == "2024-11-05");
}

TEST_CASE("a transport error fails the check with its kind, and the session is still closed") {
  Run run;
  TransportError e;
  e.error = {ErrorKind::kHttp, "HTTP 503 during initialize", 503};
  e.retriable = true;
  e.retryAfterMs = 120'000;
  run.wire->listener->onError(e);
  CHECK(run.wire->closed);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->kind == ErrorKind::kHttp);
  CHECK(run.result->error->httpStatus == 503);
  CHECK(run.result->retriable);
  CHECK(run.result->retryAfterMs == 120'000);
  CHECK_FALSE(run.result->initialized);
  // Whatever comes after the decision changes nothing.
  run.wire->message(initResult());
  run.wire->error(ErrorKind::kConnect, "late");
  run.loop.runDue();
  CHECK(run.results == 1);
  CHECK(run.result->error->kind == ErrorKind::kHttp);
}

TEST_CASE("the check times out at its timeout in any phase, without a goodbye") {
  SessionOptions o;
  o.timeoutMs = 5'000;
  Run run(o);
  run.handshake();
  run.loop.advance(4'999);
  CHECK_FALSE(run.result);
  run.loop.advance(1);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->kind == ErrorKind::kTimeout);
  CHECK(run.result->error->message == "check timed out after 5000 ms waiting for tools/list");
  CHECK(run.result->retriable);
  CHECK(run.result->initialized);
  // Time is up: no goodbye to wait for (no DELETE for a check), but nothing is kept either.
  CHECK(run.wire->closedDetached);
}

TEST_CASE("the result waits for the close, and comes exactly once") {
  Run run;
  run.wire->holdClose = true;
  run.handshake();
  run.wire->message(toolsPage("2", {"t"}));
  CHECK(run.session->state() == McpSession::State::kClosing);
  run.loop.advance(60'000);  // the deadline no longer applies
  CHECK_FALSE(run.result);
  run.wire->finishClose();
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK_FALSE(run.result->error);
  run.loop.advance(60'000);
  CHECK(run.results == 1);
}

TEST_CASE("destroying a session cancels it: no callback, and no goodbye for a check") {
  Run run;
  run.wire->message(initResult());
  run.session.reset();
  CHECK(run.wire->destroyed);
  CHECK_FALSE(run.wire->closed);
  run.loop.advance(60'000);
  CHECK_FALSE(run.result);
}

TEST_CASE("a server that echoes our credentials cannot put them into the error") {
  Run run;
  run.wire->error(ErrorKind::kHttp,
                  "HTTP 400 during initialize: you sent Authorization: Bearer secret-token", 400);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->message.find("secret-token") == std::string::npos);
  CHECK(run.result->error->message.find("[redacted]") != std::string::npos);
}

TEST_CASE("an error message is cut to its published length after redaction") {
  Run run;
  run.wire->error(ErrorKind::kProtocol, std::string(2000, 'x'));
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->message.size() <= kMaxErrorMessage);
}

TEST_CASE("keep-open: the handshake is reported, notifications pass on, pings are answered") {
  Run run({}, /*keepOpen=*/true);
  run.wire->message(initResult());
  // Heard from the moment initialized is sent (before the server took it).
  run.wire->message(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  CHECK(run.notifications == std::vector<std::string>{"notifications/tools/list_changed"});
  run.wire->sentOk("notifications/initialized");
  CHECK(run.wire->listening);
  CHECK(run.session->state() == McpSession::State::kWatching);
  REQUIRE(run.wire->sent.size() == 2);  // no tools/list
  CHECK_FALSE(run.result);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK_FALSE(run.result->error);
  CHECK(run.result->toolsListChanged);
  CHECK_FALSE(run.result->toolsComplete);
  run.loop.advance(60'000);  // no deadline once watching
  CHECK(run.losses.empty());
  run.wire->message(R"({"jsonrpc":"2.0","id":"s1","method":"ping"})");
  CHECK(run.wire->last().json == R"({"jsonrpc":"2.0","id":"s1","result":{}})");
  run.wire->message(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  CHECK(run.notifications.size() == 2);
  // Lost once, from the loop, with the credentials redacted.
  run.wire->listener->onLost("stream ended; Authorization: Bearer secret-token", false);
  run.wire->listener->onLost("again", true);
  CHECK(run.losses.empty());
  run.loop.runDue();
  REQUIRE(run.losses.size() == 1);
  CHECK(run.losses[0].first.find("secret-token") == std::string::npos);
  CHECK_FALSE(run.losses[0].second);
  CHECK(run.results == 1);
}

TEST_CASE("keep-open: destroying a kept session ends it without waiting") {
  Run run({}, /*keepOpen=*/true);
  run.handshake();
  run.loop.runDue();
  REQUIRE(run.result);
  run.session.reset();
  CHECK(run.wire->closedDetached);
  CHECK(run.wire->destroyed);
}

TEST_CASE("keep-open: a failed handshake is reported through done, not as a loss") {
  Run run({}, /*keepOpen=*/true);
  run.wire->error(ErrorKind::kAuth, "HTTP 401 during initialize", 401);
  run.loop.runDue();
  REQUIRE(run.result);
  CHECK(run.result->error->kind == ErrorKind::kAuth);
  CHECK(run.losses.empty());
}

TEST_CASE("keep-open: a session destroyed before its handshake is done is still ended") {
  Run run({}, /*keepOpen=*/true);
  run.wire->message(initResult());  // initialized sent, not yet taken
  run.session.reset();
  CHECK(run.wire->closedDetached);
}

TEST_CASE("a JSON-RPC error carries the HTTP status of the answer it came in") {
  struct StatusTransport final : mcp::Transport {
    explicit StatusTransport(std::shared_ptr<Wire> w) : inner(std::move(w)) {}
    std::string_view offeredProtocolVersion() const override {
      return inner.offeredProtocolVersion();
    }
    bool acceptsLegacyProtocol() const override { return false; }
    void open(TransportListener& l) override { inner.open(l); }
    void send(Outgoing m) override { inner.send(std::move(m)); }
    void listen() override {}
    void close(std::function<void()> done) override { inner.close(std::move(done)); }
    int64_t connectUs() const override { return 0; }
    long answerStatus() const override { return 200; }
    FakeTransport inner;
  };
  loop::SimLoop loop;
  auto wire = std::make_shared<Wire>();
  std::optional<ProbeResult> result;
  McpSession session(std::make_unique<StatusTransport>(wire), loop, loop, {},
                     [&](ProbeResult r) { result = std::move(r); });
  session.start();
  wire->listener->onOpen();
  wire->message(R"({"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"nope"}})");
  loop.runDue();
  REQUIRE(result);
  CHECK(result->error->httpStatus == 200);
}
