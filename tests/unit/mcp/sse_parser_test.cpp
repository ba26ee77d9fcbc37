#include "mcp/sse_parser.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::mcp;

namespace {

std::vector<SseEvent> parseIn(const std::string& text, size_t chunk, size_t max = 1 << 20) {
  SseParser p(max);
  std::vector<SseEvent> out;
  for (size_t off = 0; off < text.size(); off += chunk) {
    auto r = p.feed(std::string_view(text).substr(off, chunk), [&](SseEvent& e) {
      out.push_back(e);
      return true;
    });
    REQUIRE(r.ok());
  }
  return out;
}

}  // namespace

TEST_CASE("SSE events parse the same however the stream is split") {
  const std::string stream =
      ": comment\r\n\r\nid: 1\r\ndata: \r\n\r\nevent: message\nid: 2\ndata: {\"a\":\ndata: 1}\n\n"
      "data:no-space\r\rretry: 1500\ndata: x\n\n";
  for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
    auto events = parseIn(stream, chunk);
    REQUIRE(events.size() == 4);
    CHECK(events[0].data.empty());
    CHECK(events[0].id == "1");
    CHECK(events[1].data == "{\"a\":\n1}");
    CHECK(events[1].type == "message");
    CHECK(events[1].id == "2");
    CHECK(events[2].data == "no-space");
    CHECK(events[3].data == "x");
  }
}

TEST_CASE("an SSE line or event past the limit is an error, not unbounded memory") {
  SseParser p(64);
  auto r = p.feed(std::string(100, 'a'), [](SseEvent&) { return true; });
  CHECK_FALSE(r.ok());
  SseParser q(64);
  std::string many;
  for (int i = 0; i < 20; ++i) {
    many += "data: 0123456789\n";
  }
  auto r2 = q.feed(many, [](SseEvent&) { return true; });
  CHECK_FALSE(r2.ok());
}

TEST_CASE("an event without data lines is not dispatched, and retry is kept") {
  auto events = parseIn("event: foo\nid: 3\n\nretry: 250\n\n", 3);
  CHECK(events.empty());
  SseParser p(1024);
  REQUIRE(p.feed("retry: 250\n\nretry: x\n\n", [](SseEvent&) { return true; }).ok());
  CHECK(p.retryMs() == 250);
}

TEST_CASE("the consumer can stop parsing mid-chunk") {
  SseParser p(1024);
  int seen = 0;
  REQUIRE(p.feed("data: 1\n\ndata: 2\n\n", [&](SseEvent&) {
             ++seen;
             return false;
           }).ok());
  CHECK(seen == 1);
}
