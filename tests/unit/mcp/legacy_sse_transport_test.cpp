#include "mcp/legacy_sse_transport.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"
#include "mcp/recording_listener.hpp"
#include "mcp/session.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeHttp;
using mcphd::testing::notification;
using mcphd::testing::RecordingListener;
using mcphd::testing::request;

namespace {

std::string event(const std::string& json) { return "event: message\ndata: " + json + "\n\n"; }

struct Wire {
  loop::SimLoop clock;
  FakeHttp http;
  RecordingListener listener;
  std::unique_ptr<LegacySseTransport> t;
  explicit Wire(bool keepOpen = false) {
    HttpTransportOptions o;
    o.url = "http://h:1/sse";
    o.headers = {"Authorization: Bearer tok"};
    o.keepOpen = keepOpen;
    t = std::make_unique<LegacySseTransport>(http, clock, o);
    t->open(listener);
  }
  // Delivers SSE text on the open GET stream (request 0) without ending it; what onChunk said.
  bool push(const std::string& text) {
    auto& s = http.sent[0];
    http::Response head;
    head.status = 200;
    head.contentType = "text/event-stream";
    REQUIRE(s->request.onChunk);
    return s->request.onChunk(head, text);
  }
};

}  // namespace

TEST_CASE("the endpoint event is resolved against the SSE URL, never to another origin") {
  CHECK(resolveEndpoint("http://h:1/sse", "/message?sessionId=abc") ==
        "http://h:1/message?sessionId=abc");
  CHECK(resolveEndpoint("http://h:1/a/sse", "messages?s=1") == "http://h:1/a/messages?s=1");
  CHECK(resolveEndpoint("http://h:1/sse", "http://h:1/m") == "http://h:1/m");
  CHECK(resolveEndpoint("http://h:1/sse", "http://evil:1/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "//evil/m").empty());
  // Forms that other parsers read as another origin.
  CHECK(resolveEndpoint("http://h:1/sse", "evil:2/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "\\\\evil/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "/\\evil/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "http:evil/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "http://h:1@evil/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "http://h:12/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "http://h:1.evil/m").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "/m\tx").empty());
  CHECK(resolveEndpoint("http://h:1/sse", "m?x=a:b") == "http://h:1/m?x=a:b");
  CHECK(resolveEndpoint("http://h:1/sse", "").empty());
}

TEST_CASE("legacy SSE: GET the stream, open at the endpoint event, POST there, read the stream") {
  Wire w;
  REQUIRE(w.http.sent.size() == 1);
  CHECK(w.http.sent[0]->request.method == "GET");
  CHECK(w.http.hasHeader(0, "Accept: text/event-stream"));
  CHECK(w.http.hasHeader(0, "Authorization: Bearer tok"));
  CHECK_FALSE(w.http.sent[0]->request.longLived);
  CHECK(w.t->offeredProtocolVersion() == "2024-11-05");
  CHECK(w.listener.opened == 0);
  CHECK(w.push("event: endpoint\ndata: /message?sessionId=s1\n\n"));
  CHECK(w.listener.opened == 1);
  w.t->send(request("1", "initialize", "initialize"));
  REQUIRE(w.http.sent.size() == 2);
  CHECK(w.http.sent[1]->request.url == "http://h:1/message?sessionId=s1");
  CHECK(w.http.hasHeader(1, "Authorization: Bearer tok"));
  w.http.answer(1, 202, "text/plain", "Accepted");
  CHECK(w.listener.sent.empty());  // a request's POST is an ack only
  CHECK(w.push(event(R"({"jsonrpc":"2.0","id":"p","method":"ping"})") +
               event(R"({"jsonrpc":"2.0","id":1,"result":{}})")));
  REQUIRE(w.listener.messages.size() == 2);
  CHECK(w.listener.messages[0].method == "ping");
  CHECK(w.listener.messages[1].id == "1");
  w.t->send(notification("notifications/initialized"));
  w.http.answer(2, 202, "text/plain", "Accepted");
  CHECK(w.listener.sent == std::vector<std::string>{"notifications/initialized"});
  CHECK(w.listener.errors.empty());
}

TEST_CASE("an endpoint on another origin is refused before anything is posted") {
  Wire w;
  CHECK_FALSE(w.push("event: endpoint\ndata: http://elsewhere/steal\n\n"));
  REQUIRE(w.listener.errors.size() == 1);
  CHECK(w.listener.errors[0].error.kind == ErrorKind::kProtocol);
  CHECK(w.listener.opened == 0);
  w.t->send(request("1", "initialize", "initialize"));
  CHECK(w.http.sent.size() == 1);
}

TEST_CASE("an SSE URL that fails, or a stream that ends first, says so") {
  {
    Wire w;
    w.http.answer(0, 404, "text/html", "nope");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.kind == ErrorKind::kHttp);
    CHECK(w.listener.errors[0].error.httpStatus == 404);
  }
  {
    Wire w;
    w.http.answer(0, 200, "text/event-stream", ": nothing\n\n");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.message ==
          "the SSE stream ended while waiting for the endpoint event");
  }
  {
    Wire w;
    w.http.answer(0, 200, "application/json", "{}");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.message.find("not text/event-stream") != std::string::npos);
  }
  {
    Wire w;
    w.push("event: endpoint\ndata: /m\n\n");
    w.t->send(request("1", "tools/list", "tools/list"));
    w.http.answer(1, 500, "", "");
    REQUIRE(w.listener.errors.size() == 1);
    CHECK(w.listener.errors[0].error.message == "HTTP 500 posting tools/list");
    CHECK(w.listener.errors[0].retriable);
  }
}

TEST_CASE("a kept stream stays open, its end is a loss") {
  Wire w(/*keepOpen=*/true);
  CHECK(w.http.sent[0]->request.longLived);
  w.push("event: endpoint\ndata: /m\n\n");
  w.t->listen();
  w.http.answer(0, 200, "text/event-stream", "");
  REQUIRE(w.listener.lost.size() == 1);
  CHECK(w.listener.lost[0].first == "the SSE stream ended");
  CHECK(w.listener.errors.empty());
}

TEST_CASE("closing from inside the stream's callback stops it, then runs done") {
  Wire w;
  bool done = false;
  w.listener.react = [&](const Message&) { w.t->close([&] { done = true; }); };
  w.push("event: endpoint\ndata: /m\n\n");
  CHECK_FALSE(w.push(event(R"({"jsonrpc":"2.0","id":1,"result":{}})")));
  CHECK_FALSE(done);
  CHECK_FALSE(w.http.sent[0]->cancelled);
  w.http.answer(0, 200, "text/event-stream", "");
  CHECK(done);
  CHECK(w.listener.errors.empty());
}

TEST_CASE("a stream error closes the session without destroying the stream inside its callback") {
  // The session closes the transport as it fails; the stream's call is inside its own chunk
  // callback then, and must only stop (destroying it there is a use after free in libcurl).
  loop::SimLoop clock;
  FakeHttp http;
  HttpTransportOptions o;
  o.url = "http://h:1/sse";
  o.maxBody = 1024;
  std::optional<ProbeResult> result;
  McpSession session(std::make_unique<LegacySseTransport>(http, clock, o), clock, clock, {},
                     [&](ProbeResult r) { result = std::move(r); });
  session.start();
  http::Response head;
  head.status = 200;
  head.contentType = "text/event-stream";
  CHECK_FALSE(http.sent[0]->request.onChunk(head, "data: " + std::string(4096, 'x')));
  CHECK_FALSE(http.sent[0]->cancelled);  // still ours: it completes as stopped
  http.answer(0, 200, "text/event-stream", "");
  clock.runDue();
  REQUIRE(result);
  CHECK(result->error->kind == ErrorKind::kProtocol);
  CHECK(result->error->message.find("bad SSE stream") == 0);
}
