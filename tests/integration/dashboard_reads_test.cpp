// The dashboard's bounded reads (Lua scripts) on a real loop against a real redis-server.
#include <catch2/catch.hpp>
#include <optional>

#include "common/clock.hpp"
#include "dashboard/dashboard.hpp"
#include "harness.hpp"
#include "loop/uv_loop.hpp"
#include "redis/redis_client.hpp"
#include "redis/redis_url.hpp"

using namespace mcphd;
using namespace mcphd::itest;

namespace {

struct Answer final : http::Exchange {
  std::optional<http::ServerResponse> response;
  loop::UvLoop* loop = nullptr;
  void respond(http::ServerResponse r) override {
    response = std::move(r);
    loop->stop();
  }
  bool openStream(http::ServerResponse) override { return false; }
  bool write(std::string_view) override { return false; }
  void close() override {}
  bool open() const override { return true; }
  std::string body() const { return response->sharedBody ? *response->sharedBody : response->body; }
};

}  // namespace

TEST_CASE("the dashboard reads the status hash and tool snapshots from Redis within its limits") {
  TempDir dir;
  RedisServer server(dir);
  server.query(
      {"HSET", "mcp:status", "a", R"({"seq":1})", "big", std::string(200, 'x'), "bad", "nope"});
  server.query({"SET", "mcp:tools:a", R"({"server_id":"a","tools":[]})"});
  server.query({"SET", "mcp:tools:huge", std::string(100, 'x')});

  auto endpoint = redis::parseUrl(server.url());
  REQUIRE(endpoint);
  loop::UvLoop loop;
  SystemRandom random;
  {
    redis::RedisClient reads(loop, *endpoint, random, "reads");
    redis::RedisClient events(loop, *endpoint, random, "events");
    dashboard::Options o;
    o.listen = "127.0.0.1:9465";
    o.maxStatusEntryBytes = 100;
    o.maxStatusBytes = 1000;
    o.maxToolsBytes = 50;
    dashboard::Dashboard dash(reads, events, loop, o);
    auto guard = loop.createTimer();
    auto get = [&](const std::string& path) {
      http::ServerRequest r;
      r.method = "GET";
      r.path = r.target = path;
      r.headers = {{"host", "127.0.0.1:9465"}};
      auto answer = std::make_shared<Answer>();
      answer->loop = &loop;
      dash.handle(r, answer);
      guard->start(5000, [&] { loop.stop(); });
      if (!answer->response) {
        loop.run();
      }
      REQUIRE(answer->response);
      return answer;
    };
    reads.onReadyChange([&](bool ready) {
      if (ready) {
        loop.stop();
      }
    });
    reads.start();
    guard->start(5000, [&] { loop.stop(); });
    loop.run();
    REQUIRE(reads.ready());

    auto status = get("/api/status");
    CHECK(status->response->status == 200);
    CHECK(status->body().find(R"("servers":{"a":{"seq":1}})") != std::string::npos);
    CHECK(status->body().find(R"({"server_id":"big","error":"over 100 bytes"})") !=
          std::string::npos);
    CHECK(status->body().find(R"({"server_id":"bad","error":)") != std::string::npos);
    CHECK(status->body().find("xxxx") == std::string::npos);

    auto tools = get("/api/tools/a");
    CHECK(tools->response->status == 200);
    CHECK(tools->body() == R"({"server_id":"a","tools":[]})");
    auto huge = get("/api/tools/huge");
    CHECK(huge->response->status == 502);
    CHECK(huge->body().find("the tool snapshot is 100 bytes, over the limit of 50") !=
          std::string::npos);
    CHECK(get("/api/tools/none")->response->status == 404);

    // The whole hash over its limit, and a key of another type, are answered with what is wrong.
    for (int i = 0; i < 20; ++i) {
      server.query({"HSET", "mcp:status", "s" + std::to_string(i), std::string(90, 'y')});
    }
    auto over = get("/api/status");
    CHECK(over->response->status == 502);
    CHECK(over->body().find("the status hash is over 1000 bytes") != std::string::npos);
    server.query({"SET", "mcp:tools:wrong", "x"});
    server.query({"DEL", "mcp:tools:wrong"});
    server.query({"HSET", "mcp:tools:wrong", "a", "b"});
    auto wrong = get("/api/tools/wrong");
    CHECK(wrong->response->status == 502);
    CHECK(wrong->body().find("WRONGTYPE") != std::string::npos);
    guard->stop();
  }
  REQUIRE(loop.close());
}
