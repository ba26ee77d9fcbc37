#include "mcp/streamable_http_transport.hpp"

#include <catch2/catch.hpp>

#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"
#include "mcp/recording_listener.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeHttp;
using mcphd::testing::notification;
using mcphd::testing::RecordingListener;
using mcphd::testing::request;

namespace {

const std::string kInitResult =
    R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{}}})";

std::string sse(const std::string& json) { return "event: message\nid: 7\ndata: " + json + "\n\n"; }

struct Wire {
  loop::SimLoop clock;
  FakeHttp http;
  http::DetachedCalls detached{http};
  RecordingListener listener;
  std::unique_ptr<StreamableHttpTransport> t;
  explicit Wire(int64_t timeoutMs = 10'000, bool keepOpen = false) {
    HttpTransportOptions o;
    o.url = "http://srv/mcp";
    o.headers = {"Authorization: Bearer secret-token", "X-Team: a"};
    o.timeoutMs = timeoutMs;
    o.keepOpen = keepOpen;
    o.detached = keepOpen ? &detached : nullptr;
    t = std::make_unique<StreamableHttpTransport>(http, clock, clock, o);
    t->open(listener);
  }
  // initialize sent and answered with `session` (JSON), the version negotiated.
  void initialize(const std::string& session = "sess-1") {
    t->send(request("1", "initialize", "initialize"));
    http.answer(http.sent.size() - 1, 200, "application/json", kInitResult, session);
    t->negotiated("2025-11-25");
  }
};

}  // namespace

TEST_CASE("every message is a POST with the credentials, after initialize the session headers") {
  Wire w;
  CHECK(w.listener.opened == 1);  // nothing to connect first
  w.t->send(request("1", "initialize", "initialize"));
  REQUIRE(w.http.sent.size() == 1);
  const auto& init = w.http.sent[0]->request;
  CHECK(init.method == "POST");
  CHECK(init.url == "http://srv/mcp");
  CHECK(w.http.hasHeader(0, "Accept: application/json, text/event-stream"));
  CHECK(w.http.hasHeader(0, "Content-Type: application/json"));
  CHECK(w.http.hasHeader(0, "Authorization: Bearer secret-token"));
  CHECK(w.http.hasHeader(0, "X-Team: a"));
  CHECK_FALSE(w.http.hasHeader(0, "MCP-Protocol-Version: 2025-11-25"));
  w.http.answer(0, 200, "application/json", kInitResult, "sess-1");
  REQUIRE(w.listener.messages.size() == 1);
  CHECK(w.listener.messages[0].id == "1");
  w.t->negotiated("2025-11-25");
  w.t->send(notification("notifications/initialized"));
  CHECK(w.http.hasHeader(1, "Mcp-Session-Id: sess-1"));
  CHECK(w.http.hasHeader(1, "MCP-Protocol-Version: 2025-11-25"));
  CHECK(w.listener.sent.empty());
  w.http.answer(1, 202, "", "");
  CHECK(w.listener.sent == std::vector<std::string>{"notifications/initialized"});
  CHECK(w.listener.errors.empty());
}

TEST_CASE("an SSE answer: priming events skipped, the server's messages passed on in order") {
  Wire w;
  // The session answers the ping at once: within the session the stream's head named.
  w.listener.react = [&](const Message& m) {
    if (m.kind == MessageKind::kRequest) {
      w.t->send(Outgoing{
          Outgoing::Kind::kReply, R"({"jsonrpc":"2.0","id":"srv-1","result":{}})", {}, "a reply"});
    }
  };
  w.t->send(request("1", "initialize", "initialize"));
  std::string body = ": keepalive\n\nid: p1\ndata: \n\n" +
                     sse(R"({"jsonrpc":"2.0","id":"srv-1","method":"ping"})") +
                     sse(R"({"jsonrpc":"2.0","method":"notifications/message","params":{}})") +
                     sse(kInitResult) + sse(R"({"jsonrpc":"2.0","method":"after/response"})");
  w.http.answer(0, 200, "text/event-stream", body, "s");
  REQUIRE(w.listener.messages.size() == 3);  // the stream stops at the response
  CHECK(w.listener.messages[0].method == "ping");
  CHECK(w.listener.messages[1].method == "notifications/message");
  CHECK(w.listener.messages[2].kind == MessageKind::kResponse);
  REQUIRE(w.http.sent.size() == 2);
  CHECK(w.http.hasHeader(1, "Mcp-Session-Id: s"));
  CHECK(w.listener.errors.empty());
  // Nobody waits for the answer to a reply.
  w.http.answer(1, 500, "", "");
  CHECK(w.listener.errors.empty());
}

TEST_CASE("an answer's HTTP status becomes the error: 5xx retriable, 401 auth, 404 not") {
  {
    Wire w;
    w.t->send(request("1", "initialize", "initialize"));
    w.http.answer(0, 503, "text/plain", "busy", "", "120");
    REQUIRE(w.listener.errors.size() == 1);
    const auto& e = w.listener.errors[0];
    CHECK(e.error.kind == ErrorKind::kHttp);
    CHECK(e.error.httpStatus == 503);
    CHECK(e.error.message == "HTTP 503 during initialize: busy");
    CHECK(e.retriable);
    CHECK(e.retryAfterMs == 120'000);
  }
  {
    Wire w;
    w.t->send(request("1", "initialize", "initialize"));
    w.http.answer(0, 401, "application/json", R"({"error":"invalid_token"})");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kAuth);
    CHECK_FALSE(w.listener.errors[0].retriable);
  }
  {
    Wire w;
    w.t->send(request("1", "initialize", "initialize"));
    w.http.answer(0, 404, "text/html", "<html>");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kHttp);
    CHECK_FALSE(w.listener.errors[0].retriable);
  }
}

TEST_CASE("network failures map to their error kinds and are retriable") {
  for (auto [failure, kind] : {std::pair{http::Failure::kDns, ErrorKind::kDns},
                               std::pair{http::Failure::kConnect, ErrorKind::kConnect},
                               std::pair{http::Failure::kTls, ErrorKind::kTls},
                               std::pair{http::Failure::kTimeout, ErrorKind::kTimeout},
                               std::pair{http::Failure::kDenied, ErrorKind::kConfig}}) {
    Wire w;
    w.t->send(request("1", "initialize", "initialize"));
    w.http.fail(0, failure, "boom");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == kind);
    CHECK(w.listener.errors[0].retriable == (failure != http::Failure::kDenied));
  }
}

TEST_CASE("answers that carry no usable response are protocol errors naming the step") {
  auto errorOf = [](long status, const std::string& type, const std::string& body,
                    const std::string& session = "") {
    Wire w;
    w.t->send(request("1", "initialize", "initialize"));
    w.http.answer(0, status, type, body, session);
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.messages.empty());
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kProtocol);
    return w.listener.errors[0].error.message;
  };
  CHECK(errorOf(200, "text/html", "<html></html>").find("unexpected Content-Type 'text/html'") ==
        0);
  CHECK(errorOf(200, "text/event-stream", ": no id\n\nevent: message\ndata: \n\n") ==
        "SSE stream ended without the response during initialize, not resumed: the stream gave no "
        "event id to resume it from");
  CHECK(errorOf(200, "application/json", R"({"jsonrpc":"2.0","id":9,"result":{}})") ==
        "response id does not match the request during initialize");
  CHECK(errorOf(200, "application/json", "{not json").find("during initialize") !=
        std::string::npos);
  CHECK(errorOf(200, "application/json", kInitResult, "bad id\x01") ==
        "server sent an invalid Mcp-Session-Id");
}

TEST_CASE("a JSON-RPC error answering a POST is passed on as the response, whatever its id") {
  Wire w;
  w.t->send(request("1", "initialize", "initialize"));
  w.http.answer(0, 200, "application/json",
                R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse"}})");
  REQUIRE(w.listener.messages.size() == 1);
  CHECK(w.listener.messages[0].kind == MessageKind::kErrorResponse);
  CHECK(w.listener.messages[0].id == "1");
}

TEST_CASE("each request gets only the time left of the whole check") {
  Wire w(1'000);
  w.t->send(request("1", "initialize", "initialize"));
  CHECK(w.http.sent[0]->request.timeoutMs == 1'000);
  w.clock.advance(400);
  w.t->send(notification("notifications/initialized"));
  CHECK(w.http.sent[1]->request.timeoutMs == 600);
  CHECK(w.http.sent[1]->request.connectTimeoutMs <= 600);
}

TEST_CASE("close DELETEs the session with its headers and runs done when it is answered") {
  Wire w;
  w.initialize();
  bool done = false;
  w.t->close([&] { done = true; });
  REQUIRE(w.http.sent.size() == 2);
  CHECK(w.http.sent[1]->request.method == "DELETE");
  CHECK(w.http.hasHeader(1, "Mcp-Session-Id: sess-1"));
  CHECK(w.http.hasHeader(1, "MCP-Protocol-Version: 2025-11-25"));
  CHECK_FALSE(done);
  w.http.answer(1, 405, "", "");  // any answer will do
  CHECK(done);
  // Without a session id there is nothing to end.
  Wire none;
  none.initialize("");
  bool closed = false;
  none.t->close([&] { closed = true; });
  CHECK(closed);
  CHECK(none.http.sent.size() == 1);
}

TEST_CASE(
    "a kept session listens on the GET stream, 405 is a loss for good, an end without an event "
    "id is not") {
  Wire w(10'000, /*keepOpen=*/true);
  w.initialize("sess-9");
  w.t->listen();
  REQUIRE(w.http.sent.size() == 2);
  const auto& get = w.http.sent[1]->request;
  CHECK(get.method == "GET");
  CHECK(get.longLived);
  CHECK(w.http.hasHeader(1, "Accept: text/event-stream"));
  CHECK(w.http.hasHeader(1, "Mcp-Session-Id: sess-9"));
  http::Response head;
  head.status = 200;
  head.contentType = "text/event-stream";
  REQUIRE(get.onChunk);
  CHECK(get.onChunk(head,
                    "event: message\ndata: "
                    R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})"
                    "\n\n"));
  REQUIRE(w.listener.messages.size() == 2);
  CHECK(w.listener.messages[1].method == "notifications/tools/list_changed");
  w.http.answer(1, 200, "text/event-stream", "");
  REQUIRE(w.listener.lost.size() == 1);
  CHECK(w.listener.lost[0] == std::pair<std::string, bool>{"the GET stream ended", false});

  Wire g(10'000, true);
  g.initialize();
  g.t->listen();
  g.http.answer(1, 405, "", "");
  REQUIRE(g.listener.lost.size() == 1);
  CHECK(g.listener.lost[0].second);
}

TEST_CASE("a kept session closed without waiting sends a DELETE that outlives the transport") {
  Wire w(10'000, /*keepOpen=*/true);
  w.initialize("sess-9");
  w.t->listen();
  w.t->close(nullptr);
  w.t.reset();
  CHECK(w.http.sent[1]->cancelled);  // the GET stream
  REQUIRE(w.http.sent.size() == 3);
  const auto& del = w.http.sent[2]->request;
  CHECK(del.method == "DELETE");
  CHECK(del.timeoutMs <= kSessionDeleteTimeoutMs);
  CHECK(w.http.hasHeader(2, "Mcp-Session-Id: sess-9"));
  CHECK(w.http.hasHeader(2, "X-Team: a"));
  CHECK_FALSE(w.http.sent[2]->cancelled);
  CHECK(w.detached.inFlight() == 1);
  w.http.answer(2, 200, "", "");
  CHECK(w.detached.inFlight() == 0);
}

TEST_CASE("a server that pings without end gets answers for the last few only") {
  Wire w;
  w.initialize();
  for (int i = 0; i < 20; ++i) {
    w.t->send(Outgoing{Outgoing::Kind::kReply, "{}", {}, "a reply"});
  }
  size_t live = 0;
  for (size_t i = 1; i < w.http.sent.size(); ++i) {
    live += w.http.sent[i]->cancelled ? 0 : 1;
  }
  CHECK(live == 4);
}

TEST_CASE("destroying the transport cancels its requests and nothing is reported") {
  Wire w;
  w.t->send(request("1", "initialize", "initialize"));
  w.t.reset();
  CHECK(w.http.sent[0]->cancelled);
  CHECK(w.listener.errors.empty());
}

namespace {

const std::string kToolsResult = R"({"jsonrpc":"2.0","id":2,"result":{"tools":[]}})";

// A session whose tools/list stream the server ends after a priming event (2025-11-25 polling).
struct Polled : Wire {
  explicit Polled(const std::string& priming, int64_t timeoutMs = 10'000) : Wire(timeoutMs) {
    initialize();
    t->send(request("2", "tools/list", "tools/list"));
    http.answer(http.sent.size() - 1, 200, "text/event-stream", priming);
  }
  size_t last() const { return http.sent.size() - 1; }
};

}  // namespace

TEST_CASE("a response stream ended early is resumed with GET and Last-Event-ID after its retry") {
  Polled w("id: ev-1\nretry: 300\ndata: \n\n");
  REQUIRE(w.http.sent.size() == 2);  // nothing yet: the server's retry delay first
  CHECK(w.listener.errors.empty());
  w.clock.advance(299);
  CHECK(w.http.sent.size() == 2);
  w.clock.advance(1);
  REQUIRE(w.http.sent.size() == 3);
  const auto& get = w.http.sent[2]->request;
  CHECK(get.method == "GET");
  CHECK(w.http.hasHeader(2, "Last-Event-ID: ev-1"));
  CHECK(w.http.hasHeader(2, "Mcp-Session-Id: sess-1"));
  CHECK(w.http.hasHeader(2, "Authorization: Bearer secret-token"));
  CHECK(w.http.hasHeader(2, "Accept: text/event-stream"));
  // The resumed stream ends early too, with a new id and no retry: the one before still holds.
  w.http.answer(2, 200, "text/event-stream", "id: ev-2\ndata: \n\n");
  w.clock.advance(299);
  CHECK(w.http.sent.size() == 3);
  w.clock.advance(1);
  REQUIRE(w.http.sent.size() == 4);
  CHECK(w.http.hasHeader(3, "Last-Event-ID: ev-2"));
  // ... and the response comes on the next one.
  w.http.answer(3, 200, "text/event-stream",
                "id: ev-3\nevent: message\ndata: " + kToolsResult + "\n\n");
  CHECK(w.listener.errors.empty());
  REQUIRE(w.listener.messages.size() == 2);  // initialize's response, then this one
  CHECK(w.listener.messages[1].kind == MessageKind::kResponse);
  CHECK(w.listener.messages[1].id == "2");
}

TEST_CASE("resumption delays: 1 s without retry, at least 100 ms, and within the time left") {
  {
    Polled w("id: a\ndata: \n\n");
    w.clock.advance(999);
    CHECK(w.http.sent.size() == 2);
    w.clock.advance(1);
    CHECK(w.http.sent.size() == 3);
  }
  {
    Polled w("id: a\nretry: 0\ndata: \n\n");
    w.clock.advance(99);
    CHECK(w.http.sent.size() == 2);
    w.clock.advance(1);
    CHECK(w.http.sent.size() == 3);
  }
  {
    // 4 s asked with 3 s of the check left: not waited for.
    Polled w("id: a\nretry: 4000\ndata: \n\n", 3'000);
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kProtocol);
    CHECK(w.listener.errors[0].error.message ==
          "SSE stream ended without the response during tools/list, not resumed: its retry delay "
          "of 4000 ms is not shorter than the 3000 ms left");
    CHECK(w.clock.armedTimers() == 0);
  }
}

TEST_CASE("at most 5 resumptions per request, then a protocol error that says so") {
  Polled w("id: a\nretry: 100\ndata: \n\n");
  for (int i = 0; i < 5; ++i) {
    w.clock.advance(100);
    REQUIRE(w.http.sent.size() == 3 + static_cast<size_t>(i));
    CHECK(w.http.sent[w.last()]->request.method == "GET");
    w.http.answer(w.last(), 200, "text/event-stream", "id: b" + std::to_string(i) + "\n\n");
  }
  w.clock.advance(10'000);
  CHECK(w.http.sent.size() == 7);
  REQUIRE(w.listener.errors.size() == 1);
  CHECK(w.listener.errors[0].error.message ==
        "SSE stream ended without the response during tools/list (the GET resuming its response "
        "stream, attempt 5), not resumed: it ended early again after 5 resumptions");
}

TEST_CASE(
    "a resumption answered with an error, or not with a stream, fails naming the resumption") {
  {
    Polled w("id: a\nretry: 100\ndata: \n\n");
    w.clock.advance(100);
    w.http.answer(w.last(), 405, "text/plain", "no GET here");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kHttp);
    CHECK(w.listener.errors[0].error.message ==
          "HTTP 405 during tools/list (the GET resuming its response stream, attempt 1): no GET "
          "here");
  }
  {
    Polled w("id: a\nretry: 100\ndata: \n\n");
    w.clock.advance(100);
    w.http.answer(w.last(), 200, "application/json", kToolsResult);
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kProtocol);
    CHECK(w.listener.errors[0].error.message.find("unexpected Content-Type 'application/json' "
                                                  "during tools/list (the GET resuming") == 0);
    CHECK(w.listener.messages.size() == 1);  // initialize's only
  }
}

TEST_CASE("an event id that cannot go back as a header is not resumed from") {
  for (const std::string& id : {std::string("a\x01b"), std::string(1025, 'x')}) {
    Polled w("id: " + id + "\nretry: 100\ndata: \n\n");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.message.find(
              "not resumed: its event id is not usable as Last-Event-ID") != std::string::npos);
    CHECK(w.listener.errors[0].error.message.find(id) == std::string::npos);
  }
  // 1024 printable bytes are.
  Polled w("id: " + std::string(1024, 'x') + "\nretry: 100\ndata: \n\n");
  CHECK(w.listener.errors.empty());
  w.clock.advance(100);
  CHECK(w.http.hasHeader(w.last(), "Last-Event-ID: " + std::string(1024, 'x')));
}

TEST_CASE("a transport closed or destroyed while a resumption waits sends nothing more") {
  {
    Polled w("id: a\nretry: 300\ndata: \n\n");
    w.t->close({});
    w.clock.advance(1'000);
    CHECK(w.http.sent.size() == 2);  // no GET (and no DELETE: nobody to send it for a check)
    CHECK(w.listener.errors.empty());
  }
  {
    Polled w("id: a\nretry: 300\ndata: \n\n");
    w.t.reset();
    CHECK(w.clock.armedTimers() == 0);
    w.clock.advance(1'000);
    CHECK(w.http.sent.size() == 2);
  }
}

namespace {

// A kept session listening on its GET stream.
struct Watched : Wire {
  Watched() : Wire(10'000, /*keepOpen=*/true) {
    initialize("sess-9");
    t->listen();
  }
  size_t last() const { return http.sent.size() - 1; }
  // The GET stream last opened answers `body` and ends.
  void streamEnds(const std::string& body) { http.answer(last(), 200, "text/event-stream", body); }
};

const std::string kListChanged = R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})";

}  // namespace

TEST_CASE(
    "a kept session's GET stream ended after an event id is resumed on the same session with "
    "Last-Event-ID after its retry (at least 1 s, at most 60 s)") {
  Watched w;
  REQUIRE(w.http.sent.size() == 2);
  // Priming event with an id and a short retry, then the server ends the stream (SSE polling).
  w.streamEnds("id: e1\nretry: 200\ndata: \n\n");
  CHECK(w.listener.lost.empty());
  w.clock.advance(999);  // a watch waits at least 1 s, whatever retry says
  CHECK(w.http.sent.size() == 2);
  w.clock.advance(1);
  REQUIRE(w.http.sent.size() == 3);
  const auto& get = w.http.sent[2]->request;
  CHECK(get.method == "GET");
  CHECK(get.longLived);
  CHECK(w.http.hasHeader(2, "Last-Event-ID: e1"));
  CHECK(w.http.hasHeader(2, "Mcp-Session-Id: sess-9"));
  CHECK(w.http.hasHeader(2, "Authorization: Bearer secret-token"));
  // The resumed stream carries a notification, then ends with a long retry: capped at 60 s.
  w.streamEnds("id: e2\nretry: 3600000\nevent: message\ndata: " + kListChanged + "\n\n");
  REQUIRE(w.listener.messages.size() == 2);
  CHECK(w.listener.messages[1].method == "notifications/tools/list_changed");
  CHECK(w.listener.lost.empty());
  w.clock.advance(59'999);
  CHECK(w.http.sent.size() == 3);
  w.clock.advance(1);
  REQUIRE(w.http.sent.size() == 4);
  CHECK(w.http.hasHeader(3, "Last-Event-ID: e2"));
  // No POST went out meanwhile: the session was not initialized again.
  int posts = 0;
  for (const auto& sent : w.http.sent) {
    posts += sent->request.method == "POST" ? 1 : 0;
  }
  CHECK(posts == 1);
  // Closed while a resumption waits: nothing more is sent (but the DELETE).
  w.streamEnds("id: e3\ndata: \n\n");
  w.t->close(nullptr);
  const size_t sent = w.http.sent.size();
  w.clock.advance(120'000);
  CHECK(w.http.sent.size() == sent);
  CHECK(w.listener.lost.empty());
}

TEST_CASE(
    "a kept session's GET stream that keeps ending at once waits twice as long each time, "
    "messages or not, up to 60 s, and from retry: again after a stream that lasted 10 s") {
  Watched w;
  // When the next GET goes out after the stream last opened ends: `waitMs` later, not before.
  auto resumedAfter = [&](int64_t waitMs) {
    const size_t before = w.http.sent.size();
    w.clock.advance(waitMs - 1);
    if (w.http.sent.size() != before) {
      return false;
    }
    w.clock.advance(1);
    return w.http.sent.size() == before + 1 && w.http.sent.back()->request.method == "GET";
  };
  w.streamEnds("id: a\ndata: \n\n");
  CHECK(resumedAfter(1'000));
  w.streamEnds("id: b\ndata: \n\n");
  CHECK(resumedAfter(2'000));
  // A message on a stream that ends at once does not start the count again.
  w.streamEnds("id: c\nevent: message\ndata: " + kListChanged + "\n\n");
  CHECK(resumedAfter(4'000));
  for (int64_t wait : {8'000, 16'000, 32'000, 60'000, 60'000}) {
    w.streamEnds("id: d\ndata: \n\n");
    CHECK(resumedAfter(wait));
  }
  CHECK(w.listener.lost.empty());  // the session goes on throughout
  // A stream that stayed open 10 s: the next wait is its retry: again (at least 1 s).
  w.clock.advance(10'000);
  w.streamEnds("id: e\nretry: 1500\ndata: \n\n");
  CHECK(resumedAfter(1'500));
  CHECK(w.listener.lost.empty());
}

TEST_CASE(
    "a resumed GET stream answered 405 is lost as any end (the watch tries again later), and a "
    "transport destroyed while a resumption waits sends nothing") {
  {
    Watched w;
    w.streamEnds("id: a\ndata: \n\n");
    w.clock.advance(1'000);
    REQUIRE(w.http.sent.size() == 3);
    w.http.answer(2, 405, "", "");
    REQUIRE(w.listener.lost.size() == 1);
    CHECK(w.listener.lost[0] ==
          std::pair<std::string, bool>{"the GET stream answered HTTP 405", false});
  }
  {
    Watched w;
    w.streamEnds("id: a\ndata: \n\n");
    const size_t sent = w.http.sent.size();
    w.t.reset();
    w.clock.advance(60'000);
    CHECK(w.http.sent.size() == sent);
    CHECK(w.listener.lost.empty());
  }
}

TEST_CASE("a kept session's GET stream is not resumed from an event id unfit for a header") {
  Watched w;
  w.streamEnds("id: " + std::string(1025, 'x') + "\ndata: \n\n");
  REQUIRE(w.listener.lost.size() == 1);
  CHECK(w.listener.lost[0].first ==
        "the GET stream ended (its event id is not usable as Last-Event-ID)");
  const size_t sent = w.http.sent.size();
  w.clock.advance(60'000);
  CHECK(w.http.sent.size() == sent);
}
