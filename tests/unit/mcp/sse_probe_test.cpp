#include "mcp/sse_probe.hpp"

#include <catch2/catch.hpp>

#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeHttp;

namespace {

// Delivers SSE text on the open GET stream (request 0) without ending it.
void push(FakeHttp& http, const std::string& text) {
  auto& s = http.sent[0];
  http::Response head;
  head.status = 200;
  head.contentType = "text/event-stream";
  REQUIRE(s->request.onChunk);
  s->request.onChunk(head, text);
}

std::string event(const std::string& json) { return "event: message\ndata: " + json + "\n\n"; }

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

TEST_CASE("a legacy HTTP+SSE check: endpoint, POSTs, responses read from the stream by id") {
  loop::SimLoop clock;
  FakeHttp http;
  std::optional<ProbeResult> result;
  ProbeOptions o;
  o.url = "http://h:1/sse";
  o.headers = {"Authorization: Bearer tok"};
  SseProbe probe(http, clock, o, [&](ProbeResult r) { result = std::move(r); });
  probe.start();
  REQUIRE(http.sent.size() == 1);
  CHECK(http.sent[0]->request.method == "GET");
  CHECK(http.hasHeader(0, "Accept: text/event-stream"));
  CHECK(http.hasHeader(0, "Authorization: Bearer tok"));
  push(http, "event: endpoint\ndata: /message?sessionId=s1\n\n");
  REQUIRE(http.sent.size() == 2);
  CHECK(http.sent[1]->request.url == "http://h:1/message?sessionId=s1");
  CHECK(http.sent[1]->request.body.find("\"protocolVersion\":\"2024-11-05\"") != std::string::npos);
  CHECK(http.hasHeader(1, "Authorization: Bearer tok"));
  http.answer(1, 202, "text/plain", "Accepted");
  // A server ping arrives first, then the answer.
  push(http, event(R"({"jsonrpc":"2.0","id":"p","method":"ping"})"));
  REQUIRE(http.sent.size() == 3);
  CHECK(http.sent[2]->request.body == R"({"jsonrpc":"2.0","id":"p","result":{}})");
  push(
      http,
      event(
          R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2024-11-05","capabilities":{"tools":{}},"serverInfo":{"name":"old","version":"1"}}})"));
  REQUIRE(http.sent.size() == 4);
  CHECK(http.sent[3]->request.body == R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  http.answer(3, 202, "text/plain", "Accepted");
  REQUIRE(http.sent.size() == 5);
  CHECK(http.sent[4]->request.body.find("tools/list") != std::string::npos);
  http.answer(4, 202, "text/plain", "Accepted");
  push(
      http,
      event(
          R"({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a","inputSchema":{"type":"object"}}],"nextCursor":"c"}})"));
  http.answer(5, 202, "text/plain", "Accepted");
  CHECK_FALSE(result);
  push(
      http,
      event(
          R"({"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b","inputSchema":{"type":"object"}}]}})"));
  // Decided inside the stream's chunk: delivered when the stream stops.
  http.answer(0, 200, "text/event-stream", "");
  REQUIRE(result);
  CHECK_FALSE(result->error);
  CHECK(result->protocolVersion == "2024-11-05");
  CHECK(result->tools.size() == 2);
}

TEST_CASE("an endpoint on another origin is refused before anything is posted") {
  loop::SimLoop clock;
  FakeHttp http;
  std::optional<ProbeResult> result;
  ProbeOptions o;
  o.url = "http://h:1/sse";
  SseProbe probe(http, clock, o, [&](ProbeResult r) { result = std::move(r); });
  probe.start();
  push(http, "event: endpoint\ndata: http://elsewhere/steal\n\n");
  http.answer(0, 200, "text/event-stream", "");
  REQUIRE(result);
  CHECK(result->error->kind == ErrorKind::kProtocol);
  CHECK(http.sent.size() == 1);
}

TEST_CASE("a stream that ends before the endpoint event, or a 404 SSE URL, fails clearly") {
  loop::SimLoop clock;
  FakeHttp http;
  std::optional<ProbeResult> result;
  ProbeOptions o;
  o.url = "http://h:1/sse";
  SseProbe probe(http, clock, o, [&](ProbeResult r) { result = std::move(r); });
  probe.start();
  http.answer(0, 404, "text/html", "nope");
  REQUIRE(result);
  CHECK(result->error->kind == ErrorKind::kHttp);
  CHECK(result->error->httpStatus == 404);
}
