#include "http/request_head.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;

TEST_CASE("a request head is parsed into method, target, path and lower-cased headers") {
  auto r = http::parseRequestHead(
      "POST /api/check/a?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9465\r\nAuthorization:  Bearer t \r\n"
      "X-Twice: 1\r\nx-twice: 2\r\n\r\n");
  REQUIRE(r.ok());
  CHECK(r->method == "POST");
  CHECK(r->target == "/api/check/a?x=1");
  CHECK(r->path == "/api/check/a");
  REQUIRE(r->header("authorization") != nullptr);
  CHECK(*r->header("authorization") == "Bearer t");
  CHECK(*r->header("host") == "127.0.0.1:9465");
  CHECK(*r->header("x-twice") == "1");
  CHECK(r->headers.size() == 4);
  CHECK(r->header("origin") == nullptr);
}

TEST_CASE("a request head that is not HTTP/1.x is refused with the status that says why") {
  auto status = [](std::string_view head) {
    auto r = http::parseRequestHead(head);
    REQUIRE_FALSE(r.ok());
    return r.error().status;
  };
  CHECK(status("GET /\r\n\r\n") == 400);
  CHECK(status("GET  / HTTP/1.1\r\n\r\n") == 400);
  CHECK(status("GET http://x/ HTTP/1.1\r\n\r\n") == 400);
  CHECK(status("G(T / HTTP/1.1\r\n\r\n") == 400);
  CHECK(status("GET / HTTP/2\r\n\r\n") == 505);
  CHECK(status("GET / HTTP/1.1\r\nNo colon here\r\n\r\n") == 400);
  CHECK(status("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n") == 400);
  CHECK(status("GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n") == 400);
  CHECK(status("GET /\x7f HTTP/1.1\r\n\r\n") == 400);
  CHECK(status("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n") == 501);
}
