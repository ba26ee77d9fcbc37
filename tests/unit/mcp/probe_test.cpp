#include "mcp/probe.hpp"

#include <catch2/catch.hpp>

#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"

using namespace mcphd;
using namespace mcphd::mcp;
using mcphd::testing::FakeHttp;

namespace {

const std::string kInitResult =
    R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"srv","version":"1.2"}}})";

std::string sse(const std::string& json) { return "event: message\nid: 7\ndata: " + json + "\n\n"; }

std::string toolsPage(int id, const std::vector<std::string>& names,
                      const std::string& cursor = "") {
  std::string s = R"({"jsonrpc":"2.0","id":)" + std::to_string(id) + R"(,"result":{"tools":[)";
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

struct Harness {
  loop::SimLoop clock;
  FakeHttp http;
  std::optional<ProbeResult> result;
  std::unique_ptr<Probe> probe;
  explicit Harness(int64_t timeoutMs = 10'000) {
    ProbeOptions o;
    o.url = "http://srv/mcp";
    o.headers = {"Authorization: Bearer secret-token"};
    o.timeoutMs = timeoutMs;
    probe =
        std::make_unique<Probe>(http, clock, o, [this](ProbeResult r) { result = std::move(r); });
    probe->start();
  }
};

}  // namespace

TEST_CASE("a full check over JSON responses: initialize, initialized, tools/list, DELETE") {
  Harness h;
  REQUIRE(h.http.sent.size() == 1);
  CHECK(h.http.sent[0]->request.method == "POST");
  CHECK(h.http.hasHeader(0, "Accept: application/json, text/event-stream"));
  CHECK(h.http.hasHeader(0, "Content-Type: application/json"));
  CHECK(h.http.hasHeader(0, "Authorization: Bearer secret-token"));
  CHECK(h.http.sent[0]->request.body.find("\"protocolVersion\":\"2025-11-25\"") !=
        std::string::npos);
  CHECK(h.http.sent[0]->request.body.find("\"clientInfo\":{\"name\":\"mcp-healthd\"") !=
        std::string::npos);
  h.http.answer(0, 200, "application/json", kInitResult, "sess-1");
  REQUIRE(h.http.sent.size() == 2);
  CHECK(h.http.sent[1]->request.body ==
        R"({"jsonrpc":"2.0","method":"notifications/initialized"})");
  CHECK(h.http.hasHeader(1, "Mcp-Session-Id: sess-1"));
  CHECK(h.http.hasHeader(1, "MCP-Protocol-Version: 2025-11-25"));
  h.http.answer(1, 202, "", "");
  REQUIRE(h.http.sent.size() == 3);
  CHECK(h.http.sent[2]->request.body.find("\"method\":\"tools/list\"") != std::string::npos);
  h.http.answer(2, 200, "application/json", toolsPage(2, {"b", "a"}));
  REQUIRE(h.http.sent.size() == 4);
  CHECK(h.http.sent[3]->request.method == "DELETE");
  CHECK(h.http.hasHeader(3, "Mcp-Session-Id: sess-1"));
  CHECK_FALSE(h.result);
  h.http.answer(3, 405, "", "");
  REQUIRE(h.result);
  CHECK_FALSE(h.result->error);
  CHECK(h.result->toolsComplete);
  CHECK(h.result->serverName == "srv");
  CHECK(h.result->serverVersion == "1.2");
  CHECK(h.result->toolsListChanged);
  REQUIRE(h.result->tools.size() == 2);
  CHECK(h.result->tools[0].name == "b");
  CHECK(h.result->tools[0].raw == R"({"name":"b","inputSchema":{"type":"object"}})");
  CHECK(h.result->toolsHash.size() == 64);
}

TEST_CASE("SSE responses: priming events and comments are skipped, a server ping is answered") {
  Harness h;
  std::string body = ": keepalive\n\nid: p1\ndata: \n\n" +
                     sse(R"({"jsonrpc":"2.0","id":"srv-1","method":"ping"})") +
                     sse(R"({"jsonrpc":"2.0","method":"notifications/message","params":{}})") +
                     sse(kInitResult);
  h.http.answer(0, 200, "text/event-stream", body, "s");
  // The ping answer goes out (in the session from the stream's headers), then initialized.
  REQUIRE(h.http.sent.size() == 3);
  CHECK(h.http.sent[1]->request.body == R"({"jsonrpc":"2.0","id":"srv-1","result":{}})");
  CHECK(h.http.hasHeader(1, "Mcp-Session-Id: s"));
  CHECK(h.http.sent[2]->request.body.find("notifications/initialized") != std::string::npos);
  h.http.answer(2, 202, "", "");
  h.http.answer(3, 200, "text/event-stream", "id: x\r\ndata: \r\n\r\n" + sse(toolsPage(2, {"t"})));
  h.http.answer(4, 200, "", "");
  REQUIRE(h.result);
  CHECK_FALSE(h.result->error);
  CHECK(h.result->tools.size() == 1);
}

TEST_CASE("tools/list follows nextCursor across pages") {
  Harness h;
  h.http.answer(0, 200, "application/json", kInitResult);
  h.http.answer(1, 202, "", "");
  h.http.answer(2, 200, "application/json", toolsPage(2, {"a"}, "c1"));
  CHECK(h.http.sent[3]->request.body.find(R"("params":{"cursor":"c1"})") != std::string::npos);
  h.http.answer(3, 200, "application/json", toolsPage(3, {"b"}, "c2"));
  h.http.answer(4, 200, "application/json", toolsPage(4, {"c"}));
  REQUIRE(h.result);  // no session id: no DELETE
  CHECK_FALSE(h.result->error);
  CHECK(h.result->tools.size() == 3);
}

TEST_CASE("a repeated cursor is a protocol error, never a silently truncated list") {
  Harness h;
  h.http.answer(0, 200, "application/json", kInitResult);
  h.http.answer(1, 202, "", "");
  h.http.answer(2, 200, "application/json", toolsPage(2, {"a"}, "c1"));
  h.http.answer(3, 200, "application/json", toolsPage(3, {"b"}, "c1"));
  REQUIRE(h.result);
  REQUIRE(h.result->error);
  CHECK(h.result->error->kind == ErrorKind::kProtocol);
  CHECK(h.result->error->message.find("repeated the cursor") != std::string::npos);
  CHECK(h.result->initialized);  // degraded
  CHECK(h.result->tools.empty());
}

TEST_CASE("more than 64 pages is a protocol error") {
  Harness h;
  h.http.answer(0, 200, "application/json", kInitResult);
  h.http.answer(1, 202, "", "");
  for (int i = 0; i < 64; ++i) {
    h.http.answer(2 + i, 200, "application/json",
                  toolsPage(2 + i, {"t" + std::to_string(i)}, "c" + std::to_string(i)));
  }
  REQUIRE(h.result);
  REQUIRE(h.result->error);
  CHECK(h.result->error->message.find("more than 64 pages") != std::string::npos);
}

TEST_CASE("HTTP 503 with Retry-After is a retriable http error") {
  Harness h;
  h.http.answer(0, 503, "text/plain", "busy", "", "120");
  REQUIRE(h.result);
  CHECK(h.result->error->kind == ErrorKind::kHttp);
  CHECK(h.result->error->httpStatus == 503);
  CHECK(h.result->retriable);
  CHECK(h.result->retryAfterMs == 120'000);
  CHECK_FALSE(h.result->initialized);
}

TEST_CASE("HTTP 401 is an auth error that applies at once, and the message holds no secret") {
  Harness h;
  h.http.answer(0, 401, "application/json", R"({"error":"invalid_token"})");
  REQUIRE(h.result);
  CHECK(h.result->error->kind == ErrorKind::kAuth);
  CHECK_FALSE(h.result->retriable);
  CHECK(h.result->error->message.find("secret-token") == std::string::npos);
}

TEST_CASE("HTTP 404 is a non-retriable http error") {
  Harness h;
  h.http.answer(0, 404, "text/html", "<html>");
  REQUIRE(h.result);
  CHECK(h.result->error->kind == ErrorKind::kHttp);
  CHECK_FALSE(h.result->retriable);
}

TEST_CASE("network failures map to their error kinds and are retriable") {
  for (auto [failure, kind] : {std::pair{http::Failure::kDns, ErrorKind::kDns},
                               std::pair{http::Failure::kConnect, ErrorKind::kConnect},
                               std::pair{http::Failure::kTls, ErrorKind::kTls},
                               std::pair{http::Failure::kTimeout, ErrorKind::kTimeout}}) {
    Harness h;
    h.http.fail(0, failure, "boom");
    REQUIRE(h.result);
    CHECK(h.result->error->kind == kind);
    CHECK(h.result->retriable);
  }
}

TEST_CASE("an unsupported protocol version or content type is a protocol error") {
  {
    Harness h;
    h.http.answer(
        0, 200, "application/json",
        R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2024-11-05","capabilities":{}}})");
    REQUIRE(h.result);
    CHECK(h.result->error->kind == ErrorKind::kProtocol);
    CHECK(h.result->error->message.find("2024-11-05") != std::string::npos);
  }
  {
    Harness h;
    h.http.answer(0, 200, "text/html", "<html></html>");
    REQUIRE(h.result);
    CHECK(h.result->error->kind == ErrorKind::kProtocol);
    CHECK(h.result->error->message.find("Content-Type") != std::string::npos);
  }
}

TEST_CASE("an SSE stream that ends without the response is a protocol error") {
  Harness h;
  h.http.answer(0, 200, "text/event-stream", "id: 1\ndata: \n\n");
  REQUIRE(h.result);
  CHECK(h.result->error->kind == ErrorKind::kProtocol);
  CHECK(h.result->error->message.find("without the response") != std::string::npos);
}

TEST_CASE("a JSON-RPC error from initialize is a protocol error, one from tools/list degrades") {
  {
    Harness h;
    h.http.answer(0, 200, "application/json",
                  R"({"jsonrpc":"2.0","id":1,"error":{"code":-32600,"message":"nope"}})");
    REQUIRE(h.result);
    CHECK(h.result->error->kind == ErrorKind::kProtocol);
    CHECK_FALSE(h.result->initialized);
  }
  {
    Harness h;
    h.http.answer(0, 200, "application/json", kInitResult, "s1");
    h.http.answer(1, 202, "", "");
    h.http.answer(2, 200, "application/json",
                  R"({"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"no tools"}})");
    REQUIRE(h.http.sent.size() == 4);  // the session is still ended
    CHECK(h.http.sent[3]->request.method == "DELETE");
    h.http.answer(3, 200, "", "");
    REQUIRE(h.result);
    CHECK(h.result->initialized);
    CHECK(h.result->error->kind == ErrorKind::kProtocol);
  }
}

TEST_CASE("each request gets only the time left of the whole check") {
  Harness h(1'000);
  CHECK(h.http.sent[0]->request.timeoutMs == 1'000);
  h.clock.advance(400);
  h.http.answer(0, 200, "application/json", kInitResult);
  CHECK(h.http.sent[1]->request.timeoutMs == 600);
  h.clock.advance(600);
  h.http.answer(1, 202, "", "");
  REQUIRE(h.result);
  CHECK(h.result->error->kind == ErrorKind::kTimeout);
}

TEST_CASE("destroying a probe cancels its request and its callback never runs") {
  Harness h;
  h.probe.reset();
  CHECK(h.http.sent[0]->cancelled);
  CHECK_FALSE(h.result);
}

TEST_CASE("a server that echoes our credentials cannot put them into the published error") {
  Harness h;
  h.http.answer(0, 400, "text/plain", "bad request; you sent Authorization: Bearer secret-token");
  REQUIRE(h.result);
  CHECK(h.result->error->message.find("secret-token") == std::string::npos);
  CHECK(h.result->error->message.find("[redacted]") != std::string::npos);
}
