#include "dashboard/dashboard.hpp"

#include <simdjson.h>

#include <catch2/catch.hpp>
#include <map>
#include <optional>

#include "loop/sim_loop.hpp"
#include "mcp/sse_parser.hpp"
#include "redis/fake_redis.hpp"
#include "redis/fake_subscriber.hpp"

using namespace mcphd;
using mcphd::testing::FakeRedis;
using mcphd::testing::FakeSubscriber;

namespace {

// What the dashboard answered: one response, or a stream and what was written to it.
struct FakeExchange : http::Exchange {
  std::optional<http::ServerResponse> response;
  std::optional<http::ServerResponse> streamHead;
  std::string written;
  bool isOpen = true;
  bool streamAllowed = true;

  void respond(http::ServerResponse r) override {
    if (isOpen && !response && !streamHead) {
      response = std::move(r);
    }
  }
  bool openStream(http::ServerResponse head) override {
    if (!isOpen || response || streamHead || !streamAllowed) {
      return false;
    }
    streamHead = std::move(head);
    written = streamHead->body;
    return true;
  }
  bool write(std::string_view data) override {
    if (!isOpen || !streamHead) {
      return false;
    }
    written += data;
    return true;
  }
  void close() override { isOpen = false; }
  bool open() const override { return isOpen; }

  const std::string* header(std::string_view name) const {
    const auto& h = response ? response->headers : streamHead->headers;
    for (const auto& [n, v] : h) {
      if (n == name) {
        return &v;
      }
    }
    return nullptr;
  }
  // The events written to the stream, as a browser's parser reads them.
  std::vector<mcp::SseEvent> events() const {
    std::vector<mcp::SseEvent> out;
    mcp::SseParser parser(1 << 22);
    REQUIRE(parser.feed(written, [&](mcp::SseEvent& e) {
      out.push_back(e);
      return true;
    }));
    return out;
  }
};

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

struct Fixture {
  loop::SimLoop loop;
  FakeRedis redis;
  FakeSubscriber events;
  std::unique_ptr<dashboard::Dashboard> dash;

  explicit Fixture(bool withToken = true, std::vector<std::string> allowed = {}) {
    redis.up = true;
    dashboard::Options o;
    o.listen = "127.0.0.1:9465";
    o.allowedHosts = std::move(allowed);
    if (withToken) {
      o.token = Secret(kToken);
    }
    dash = std::make_unique<dashboard::Dashboard>(redis, events, loop, std::move(o));
    dash->start();
  }

  std::shared_ptr<FakeExchange> request(const std::string& method, const std::string& target,
                                        http::HeaderList headers = {{"host", "127.0.0.1:9465"}}) {
    http::ServerRequest r;
    r.method = method;
    r.target = target;
    r.path = target.substr(0, target.find('?'));
    r.headers = std::move(headers);
    auto ex = std::make_shared<FakeExchange>();
    dash->handle(r, ex);
    return ex;
  }

  size_t xadds() const {
    size_t n = 0;
    for (const auto& c : redis.log) {
      n += c[0] == "XADD" ? 1 : 0;
    }
    return n;
  }
};

http::HeaderList withAuth(std::string value, http::HeaderList more = {}) {
  http::HeaderList h = {{"host", "127.0.0.1:9465"}, {"authorization", std::move(value)}};
  h.insert(h.end(), more.begin(), more.end());
  return h;
}

}  // namespace

TEST_CASE("the page's files are served with a strict Content-Security-Policy and nosniff") {
  Fixture f;
  auto page = f.request("GET", "/");
  REQUIRE(page->response);
  CHECK(page->response->status == 200);
  CHECK(page->response->contentType == "text/html; charset=utf-8");
  CHECK(page->response->body.find("<script src=\"/app.js\"") != std::string::npos);
  // No inline script: every <script> of the page has a src.
  const std::string& html = page->response->body;
  for (size_t at = html.find("<script"); at != std::string::npos;
       at = html.find("<script", at + 1)) {
    CHECK(html.substr(at, html.find('>', at) - at).find("src=") != std::string::npos);
  }
  // The listener sends these with every answer (tests/integration/dashboard_test.cpp sees them).
  std::map<std::string, std::string> headers(dashboard::securityHeaders().begin(),
                                             dashboard::securityHeaders().end());
  const std::string& csp = headers["Content-Security-Policy"];
  CHECK(csp.find("default-src 'none'") != std::string::npos);
  CHECK(csp.find("script-src 'self';") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(headers["X-Content-Type-Options"] == "nosniff");
  CHECK(headers.count("Access-Control-Allow-Origin") == 0);

  auto js = f.request("GET", "/app.js");
  REQUIRE(js->response);
  CHECK(js->response->contentType == "text/javascript; charset=utf-8");
  CHECK(js->response->body.find("innerHTML") == std::string::npos);
  auto css = f.request("GET", "/app.css");
  CHECK(css->response->contentType == "text/css; charset=utf-8");

  for (const char* other : {"/../CMakeLists.txt", "/etc/passwd", "/app.js/", "/metrics"}) {
    auto r = f.request("GET", other);
    REQUIRE(r->response);
    CHECK(r->response->status == 404);
  }
}

TEST_CASE("a Host header that is not the dashboard's address is refused (DNS rebinding)") {
  Fixture f(true, {"localhost", "dash.example:8443"});
  auto evil = f.request("GET", "/api/status", {{"host", "attacker.example:9465"}});
  CHECK(evil->response->status == 403);
  CHECK(evil->response->body.find("dashboard.allowed_hosts") != std::string::npos);
  CHECK(f.redis.log.empty());                                 // nothing was read for it
  CHECK(f.request("GET", "/", {})->response->status == 403);  // no Host at all
  CHECK(f.request("GET", "/", {{"host", "127.0.0.1:9465"}})->response->status == 200);
  CHECK(f.request("GET", "/", {{"host", "LOCALHOST:9465"}})->response->status == 200);
  CHECK(f.request("GET", "/", {{"host", "dash.example:8443"}})->response->status == 200);
  CHECK(f.request("GET", "/", {{"host", "dash.example:9465"}})->response->status == 403);
  CHECK(f.request("GET", "/", {{"host", "127.0.0.1:9466"}})->response->status == 403);
}

TEST_CASE(
    "hostAllowed: the listen address, a default port left out, allowed names with or without a "
    "port") {
  using dashboard::hostAllowed;
  CHECK(hostAllowed("127.0.0.1:9465", "127.0.0.1:9465", {}));
  CHECK_FALSE(hostAllowed("127.0.0.1", "127.0.0.1:9465", {}));
  CHECK(hostAllowed("127.0.0.1", "127.0.0.1:80", {}));
  CHECK(hostAllowed("[::1]:9465", "[::1]:9465", {}));
  CHECK_FALSE(hostAllowed("[::1]:9465", "[::1]:9466", {}));
  // Every address: only the names the operator lists.
  CHECK_FALSE(hostAllowed(":9465", ":9465", {}));
  CHECK_FALSE(hostAllowed("10.0.0.5:9465", ":9465", {}));
  CHECK(hostAllowed("mon.internal:9465", ":9465", {"mon.internal"}));
  CHECK(hostAllowed("[fd00::5]:9465", ":9465", {"[fd00::5]"}));
  CHECK_FALSE(hostAllowed("mon.internal.attacker.example:9465", ":9465", {"mon.internal"}));
  CHECK_FALSE(hostAllowed("", "127.0.0.1:9465", {"localhost"}));
}

TEST_CASE(
    "a recheck needs the bearer token: 401 with WWW-Authenticate without it or with a wrong one") {
  Fixture f;
  for (const http::HeaderList& h :
       {http::HeaderList{{"host", "127.0.0.1:9465"}}, withAuth("Bearer wrong"),
        withAuth(std::string("Bearer ") + kToken + "0"), withAuth(std::string("Basic ") + kToken),
        withAuth(std::string("Bearer ") + std::string(kToken).substr(1))}) {
    auto r = f.request("POST", "/api/check/everything", h);
    REQUIRE(r->response);
    CHECK(r->response->status == 401);
    REQUIRE(r->header("WWW-Authenticate") != nullptr);
    CHECK(r->header("WWW-Authenticate")->rfind("Bearer", 0) == 0);
    CHECK(r->response->body.find(kToken) == std::string::npos);
  }
  CHECK(f.xadds() == 0);

  auto ok = f.request("POST", "/api/check/everything", withAuth(std::string("bearer ") + kToken));
  REQUIRE(ok->response);
  CHECK(ok->response->status == 202);
  REQUIRE(f.xadds() == 1);
  const auto& xadd = f.redis.log.back();
  CHECK(xadd == std::vector<std::string>{"XADD", "mcp:commands", "MAXLEN", "~", "10000", "*", "op",
                                         "check", "server_id", "everything"});
  CHECK(ok->response->body.find("\"command_id\":\"") != std::string::npos);
  CHECK(ok->response->body.find("\"server_id\":\"everything\"") != std::string::npos);

  // Every server: "*" as written or percent-encoded.
  for (const char* all : {"/api/check/*", "/api/check/%2A"}) {
    auto r = f.request("POST", all, withAuth(std::string("Bearer ") + kToken));
    CHECK(r->response->status == 202);
    CHECK(f.redis.log.back().back() == "*");
  }
  // A new token file (SIGHUP): the old token is refused from then on.
  f.dash->setToken(Secret("fedcba9876543210fedcba9876543210"));
  CHECK(f.request("POST", "/api/check/everything", withAuth(std::string("Bearer ") + kToken))
            ->response->status == 401);
  CHECK(f.request("POST", "/api/check/everything",
                  withAuth("Bearer fedcba9876543210fedcba9876543210"))
            ->response->status == 202);
  f.dash->setToken(Secret(kToken));
  auto bad = f.request("POST", "/api/check/a%20b", withAuth(std::string("Bearer ") + kToken));
  CHECK(bad->response->status == 400);
  auto get = f.request("GET", "/api/check/everything", withAuth(std::string("Bearer ") + kToken));
  CHECK(get->response->status == 405);
  CHECK(f.xadds() == 4);
}

TEST_CASE("without a token file the dashboard is read-only: rechecks get 403 and hello says so") {
  Fixture f(false);
  auto r = f.request("POST", "/api/check/everything", withAuth(std::string("Bearer ") + kToken));
  CHECK(r->response->status == 403);
  CHECK(r->response->body.find("dashboard.token_file") != std::string::npos);
  CHECK(f.xadds() == 0);
  auto s = f.request("GET", "/api/events");
  REQUIRE(s->streamHead);
  auto ev = s->events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].type == "hello");
  CHECK(ev[0].data == R"({"redis":"disconnected","writable":false})");
}

TEST_CASE("a recheck from another site's page is refused even with the token") {
  Fixture f;
  const std::string bearer = std::string("Bearer ") + kToken;
  for (const http::HeaderList& more :
       {http::HeaderList{{"origin", "http://attacker.example"}},
        http::HeaderList{{"origin", "null"}},
        http::HeaderList{{"origin", "http://127.0.0.1:9465.attacker.example"}},
        http::HeaderList{{"sec-fetch-site", "cross-site"}},
        http::HeaderList{{"origin", "http://127.0.0.1:9465"}, {"sec-fetch-site", "same-site"}}}) {
    auto r = f.request("POST", "/api/check/everything", withAuth(bearer, more));
    CHECK(r->response->status == 403);
  }
  CHECK(f.xadds() == 0);
  auto same = f.request(
      "POST", "/api/check/everything",
      withAuth(bearer, {{"origin", "http://127.0.0.1:9465"}, {"sec-fetch-site", "same-origin"}}));
  CHECK(same->response->status == 202);
  // Behind a TLS proxy the page's origin is https://.
  auto proxied = f.request("POST", "/api/check/everything",
                           withAuth(bearer, {{"origin", "https://127.0.0.1:9465"}}));
  CHECK(proxied->response->status == 202);
  CHECK(f.xadds() == 2);
}

TEST_CASE(
    "GET /api/status is the status hash, with entries that are not JSON objects listed apart") {
  Fixture f;
  f.redis.hashes["mcp:status"]["a"] = R"({"v":1,"type":"health","server_id":"a","seq":3})";
  f.redis.hashes["mcp:status"]["b"] = "<not json>";
  f.redis.hashes["mcp:status"]["c"] = "[1,2]";
  auto r = f.request("GET", "/api/status");
  REQUIRE(r->response);
  CHECK(r->response->status == 200);
  CHECK(r->response->contentType == "application/json");
  const std::string& b = r->response->body;
  CHECK(b.find(R"("servers":{"a":{"v":1,"type":"health","server_id":"a","seq":3}})") !=
        std::string::npos);
  CHECK(b.find(R"({"server_id":"b","error":)") != std::string::npos);
  CHECK(b.find(R"({"server_id":"c","error":"not a JSON object"})") != std::string::npos);
  CHECK(b.find("<not json>") == std::string::npos);
  CHECK(b.find(R"("writable":true)") != std::string::npos);

  f.redis.up = false;
  auto down = f.request("GET", "/api/status");
  CHECK(down->response->status == 503);
}

TEST_CASE("hostile values in the status hash cannot break out of the /api/status JSON") {
  Fixture f;
  auto& h = f.redis.hashes["mcp:status"];
  h["trailing"] = R"({"a":1} , "x":{"b":2})";
  h["control"] = "{\"a\":\"line\nbreak\"}";
  h["utf8"] = "{\"a\":\"\xff\"}";
  h["nul"] = std::string("{\"a\":1}\0{", 9);
  h["big"] = "{\"pad\":\"" + std::string(64 * 1024, 'p') + "\"}";
  h["__proto__"] = R"({"server_id":"__proto__"})";
  h["quote\"id"] = R"({"ok":true})";
  auto r = f.request("GET", "/api/status");
  REQUIRE(r->response->status == 200);
  const std::string& b = r->response->body;
  // The answer is one valid JSON document whose servers are exactly the two good entries.
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(b).get(doc) == simdjson::SUCCESS);
  simdjson::dom::object servers;
  REQUIRE(doc["servers"].get(servers) == simdjson::SUCCESS);
  std::vector<std::string> ids;
  for (auto field : servers) {
    ids.emplace_back(field.key);
  }
  CHECK(ids == std::vector<std::string>{"__proto__", "quote\"id"});
  simdjson::dom::array invalid;
  REQUIRE(doc["invalid"].get(invalid) == simdjson::SUCCESS);
  CHECK(invalid.size() == 5);
  CHECK(b.find(R"({"server_id":"big","error":"over 65536 bytes"})") != std::string::npos);
  CHECK(b.find("pppp") == std::string::npos);
}

TEST_CASE("a status hash over 32 MiB or a tool snapshot over 32 MiB is not read") {
  Fixture f;
  for (int i = 0; i < 600; ++i) {
    f.redis.hashes["mcp:status"]["s" + std::to_string(i)] = std::string(60 * 1024, 'x');
  }
  auto r = f.request("GET", "/api/status");
  CHECK(r->response->status == 502);
  CHECK(r->response->body.find("over 33554432 bytes") != std::string::npos);
  f.redis.strings["mcp:tools:big"] = std::string((32 << 20) + 1, 'x');
  CHECK(f.request("GET", "/api/tools/big")->response->status == 502);
}

TEST_CASE("GET /api/tools/<id> is the tool snapshot, 404 without one, 400 for what is not an id") {
  Fixture f;
  f.redis.strings["mcp:tools:a"] = R"({"server_id":"a","seq":1,"tools":[]})";
  f.redis.strings["mcp:tools:bad"] = "garbage";
  auto ok = f.request("GET", "/api/tools/a");
  CHECK(ok->response->status == 200);
  CHECK(ok->response->body == R"({"server_id":"a","seq":1,"tools":[]})");
  CHECK(f.request("GET", "/api/tools/none")->response->status == 404);
  CHECK(f.request("GET", "/api/tools/bad")->response->status == 502);
  CHECK(f.request("GET", "/api/tools/a%2Fb")->response->status == 400);
  CHECK(f.request("GET", "/api/tools/")->response->status == 400);
}

TEST_CASE(
    "the event stream relays every health and tools message once the subscription is confirmed") {
  Fixture f;
  auto s = f.request("GET", "/api/events");
  REQUIRE(s->streamHead);
  CHECK(s->streamHead->contentType == "text/event-stream");
  CHECK(s->written.rfind("retry: 1000\n\n", 0) == 0);

  f.events.setUp(true);
  CHECK(f.events.channels == std::vector<std::string>{"mcp:health", "mcp:tools"});
  CHECK(s->events().size() == 1);  // hello only: not "connected" before Redis confirmed
  f.events.confirm();
  f.events.publish("mcp:health", R"({"type":"health","server_id":"a","seq":4})");
  f.events.publish("mcp:tools", R"({"type":"tools","server_id":"a","seq":4})");
  auto ev = s->events();
  REQUIRE(ev.size() == 4);
  CHECK(ev[1].type == "redis");
  CHECK(ev[1].data == R"({"redis":"connected"})");
  CHECK(ev[2].type == "health");
  CHECK(ev[2].data == R"({"type":"health","server_id":"a","seq":4})");
  CHECK(ev[3].type == "tools");

  // A late page's hello says what holds now.
  auto late = f.request("GET", "/api/events");
  CHECK(late->events()[0].data == R"({"redis":"connected","writable":true})");

  f.events.setUp(false);
  ev = s->events();
  REQUIRE(ev.size() == 5);
  CHECK(ev[4].type == "redis");
  CHECK(ev[4].data == R"({"redis":"disconnected"})");
  CHECK(f.dash->streams() == 2);
}

TEST_CASE("pages are told to re-read the snapshot when the daemon's state is back in Redis") {
  Fixture f;
  auto s = f.request("GET", "/api/events");
  const std::string resync = "event: resync\ndata: {}\n\n";
  // Not subscribed yet: the pages re-read it when the subscription is confirmed.
  size_t before = s->written.size();
  f.dash->resyncPages();
  CHECK(s->written.size() == before);
  f.events.setUp(true);
  f.events.confirm();
  before = s->written.size();
  f.dash->resyncPages();
  CHECK(s->written.substr(before) == resync);
}

TEST_CASE("a published payload cannot start an event of its own on the stream") {
  Fixture f;
  auto s = f.request("GET", "/api/events");
  f.events.setUp(true);
  f.events.confirm();
  f.events.publish("mcp:health", "{\"a\":1}\n\nevent: tools\ndata: forged\r\rid: 9\r\n");
  auto ev = s->events();
  REQUIRE(ev.size() == 3);
  CHECK(ev[2].type == "health");
  CHECK(ev[2].id.empty());
  CHECK(ev[2].data == "{\"a\":1}\n\nevent: tools\ndata: forged\n\nid: 9\n");
}

TEST_CASE(
    "an event over 1 MiB as framed is not relayed, and the streams carry a keepalive every 15 s") {
  Fixture f;
  auto s = f.request("GET", "/api/events");
  f.events.setUp(true);
  f.events.confirm();
  const size_t before = s->written.size();
  f.events.publish("mcp:health", std::string(1 << 20, 'x'));  // the framing makes it larger
  // Line breaks become "data: " lines: 150,000 of them would make a 1 MiB event of 150 KB.
  f.events.publish("mcp:health", std::string(150'000, '\n'));
  // Neither is relayed; the pages are told to read the snapshot again instead.
  const std::string resync = "event: resync\ndata: {}\n\n";
  CHECK(s->written.substr(before) == resync + resync);
  const size_t afterDrops = s->written.size();
  f.events.publish("mcp:health", std::string(512 * 1024, 'x'));
  CHECK(s->written.size() ==
        afterDrops + 512 * 1024 + std::string("event: health\ndata: \n\n").size());
  const size_t after = s->written.size();
  f.loop.advance(14'999);
  CHECK(s->written.size() == after);
  f.loop.advance(1);
  CHECK(s->written.substr(after) == ": keepalive\n\n");
}

TEST_CASE("a closed stream is dropped, and a stream refused for the limit is not kept") {
  Fixture f;
  auto s = f.request("GET", "/api/events");
  auto t = f.request("GET", "/api/events");
  CHECK(f.dash->streams() == 2);
  s->isOpen = false;
  f.loop.advance(15'000);
  CHECK(f.dash->streams() == 1);

  http::ServerRequest r;
  r.method = "GET";
  r.path = r.target = "/api/events";
  r.headers = {{"host", "127.0.0.1:9465"}};
  auto refused = std::make_shared<FakeExchange>();
  refused->streamAllowed = false;
  f.dash->handle(r, refused);
  CHECK(f.dash->streams() == 1);
  REQUIRE(refused->response);
  CHECK(refused->response->status == 503);
  CHECK(refused->response->body.find("dashboard.max_streams") != std::string::npos);
}

TEST_CASE("sseEvent splits a payload at every line end") {
  CHECK(dashboard::sseEvent("health", "{}") == "event: health\ndata: {}\n\n");
  CHECK(dashboard::sseEvent("h", "a\r\nb\rc\nd") ==
        "event: h\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
  CHECK(dashboard::sseEvent("h", "") == "event: h\ndata: \n\n");
}

TEST_CASE(
    "another site's page can link to the dashboard but not read its API or hold its streams") {
  Fixture f;
  const http::HeaderList crossSite = {{"host", "127.0.0.1:9465"}, {"sec-fetch-site", "cross-site"}};
  const http::HeaderList foreign = {{"host", "127.0.0.1:9465"},
                                    {"origin", "http://attacker.example"}};
  for (const char* path : {"/api/status", "/api/events", "/api/tools/a"}) {
    CHECK(f.request("GET", path, crossSite)->response->status == 403);
    CHECK(f.request("GET", path, foreign)->response->status == 403);
  }
  CHECK(f.dash->streams() == 0);
  CHECK(f.redis.log.empty());
  // A link from elsewhere opens the page.
  CHECK(f.request("GET", "/", crossSite)->response->status == 200);
  const http::HeaderList own = {{"host", "127.0.0.1:9465"},
                                {"origin", "http://127.0.0.1:9465"},
                                {"sec-fetch-site", "same-origin"}};
  CHECK(f.request("GET", "/api/events", own)->streamHead);
}

namespace {

// Redis whose replies the test gives: reads stay pending until answered.
struct HeldRedis : redis::Commands {
  std::vector<std::pair<std::vector<std::string>, std::function<void(Result<redis::Reply>)>>> held;
  bool ready() const override { return true; }
  void onReadyChange(std::function<void(bool)>) override {}
  bool command(std::vector<std::string> argv,
               std::function<void(Result<redis::Reply>)> done) override {
    held.emplace_back(std::move(argv), std::move(done));
    return true;
  }
};

}  // namespace

TEST_CASE("requests for a key being read wait for that read, and at most 4 reads wait at once") {
  loop::SimLoop loop;
  HeldRedis redis;
  FakeSubscriber events;
  dashboard::Options o;
  o.listen = "127.0.0.1:9465";
  dashboard::Dashboard dash(redis, events, loop, o);
  auto get = [&](const std::string& path) {
    http::ServerRequest r;
    r.method = "GET";
    r.path = r.target = path;
    r.headers = {{"host", "127.0.0.1:9465"}};
    auto ex = std::make_shared<FakeExchange>();
    dash.handle(r, ex);
    return ex;
  };
  auto a = get("/api/status");
  auto b = get("/api/status");
  auto c = get("/api/status");
  REQUIRE(redis.held.size() == 1);
  CHECK_FALSE(a->response);
  get("/api/tools/x");
  get("/api/tools/y");
  get("/api/tools/z");
  CHECK(redis.held.size() == 4);
  auto busy = get("/api/tools/w");
  REQUIRE(busy->response);
  CHECK(busy->response->status == 503);

  redis::Reply hash;
  hash.type = redis::Reply::Type::kArray;
  hash.elements = {{redis::Reply::Type::kString, "s", 0, {}},
                   {redis::Reply::Type::kString, R"({"seq":1})", 0, {}}};
  redis.held[0].second(hash);
  for (const auto& ex : {a, b, c}) {
    REQUIRE(ex->response);
    CHECK(ex->response->status == 200);
    REQUIRE(ex->response->sharedBody);  // one copy for the three
    CHECK(ex->response->sharedBody->find(R"("s":{"seq":1})") != std::string::npos);
  }
  CHECK(a->response->sharedBody == c->response->sharedBody);
  // The read is done: the next request reads again.
  get("/api/status");
  CHECK(redis.held.size() == 5);
}
