#include "ctl/views.hpp"

#include <simdjson.h>

#include <catch2/catch.hpp>

using namespace mcphd::ctl;

namespace {

// 2026-11-26T15:00:00Z
constexpr std::time_t kNow = 1795705200;

bool validJson(const std::string& s) {
  simdjson::dom::parser p;
  simdjson::dom::element e;
  return p.parse(s).get(e) == simdjson::SUCCESS;
}

}  // namespace

TEST_CASE("ctl views: one line per published message, whatever its type") {
  CHECK(messageLine(R"({"type":"health","server_id":"ev","checked_at":"T","status":"unhealthy",)"
                    R"("changed":true,"previous_status":"healthy","latency_ms":{"total":12.5},)"
                    R"("tool_count":null,"error":{"kind":"connect","message":"refused"}})") ==
        "T  ev  unhealthy (was healthy)  12.5 ms  connect: refused");
  CHECK(messageLine(R"({"type":"health","server_id":"ev","checked_at":"T","status":"healthy",)"
                    R"("changed":false,"latency_ms":{"total":3},"tool_count":13,"error":null})") ==
        "T  ev  healthy  3 ms  13 tools");
  CHECK(messageLine(R"({"type":"removed","server_id":"ev","removed_at":"T"})") == "T  ev  removed");
  CHECK(messageLine(R"({"type":"tools","server_id":"ev","discovered_at":"T","added":["a"],)"
                    R"("removed":[],"changed":[]})") == R"(T  ev  tools: +["a"] -[] ~[])");
  CHECK(messageLine(R"({"type":"command_error","command_id":"1-0","error":"unknown server 'x'",)"
                    R"("at":"T"})") == "T  command 1-0 failed: unknown server 'x'");
  CHECK(messageLine("not json") == "not json");
  CHECK(messageLine(R"({"type":"future"})") == R"({"type":"future"})");
}

TEST_CASE("ctl views: ago counts seconds, minutes and hours, and keeps a bad time readable") {
  CHECK(ago("2026-11-26T14:59:30.000Z", kNow) == "30s ago");
  CHECK(ago("2026-11-26T14:50:00.000Z", kNow) == "10m ago");
  CHECK(ago("2026-11-26T10:00:00.000Z", kNow) == "5h ago");
  CHECK(ago("2026-11-26T15:00:10.000Z", kNow) == "0s ago");  // a clock ahead of ours
  CHECK(ago("", kNow) == "-");
  CHECK(ago("yesterday-ish at noon", kNow) == "yesterday-ish at noon");
}

TEST_CASE("ctl views: list shows every server, and its JSON stays JSON whatever Redis holds") {
  ServerRows rows;
  rows["a"] = {true, R"({"status":"healthy","status_since":"2026-11-26T14:00:00.000Z",)"
                     R"("checked_at":"2026-11-26T14:59:50.000Z","latency_ms":{"total":7},)"
                     R"("tool_count":2,"error":null})"};
  rows["b"] = {true, ""};                 // registered, not checked yet
  rows["c"] = {false, "{not json\n\"x"};  // written by someone else
  const std::string table = listTable(rows, kNow);
  CHECK(table.find("a                        healthy    60m ago   10s ago          7ms      2") !=
        std::string::npos);
  CHECK(table.find("b                        unknown") != std::string::npos);
  CHECK(table.find("(status is not JSON)") != std::string::npos);
  const std::string json = listJson(rows);
  CHECK(validJson(json));
  CHECK(json.find(R"({"server_id":"b","registered":true,"status":null})") != std::string::npos);
  CHECK(json.find(R"({"server_id":"c","registered":false,"status":"{not json\n\"x"})") !=
        std::string::npos);
}

TEST_CASE("ctl views: show redacts the credentials to their key id and size") {
  ServerView v;
  v.id = "inv";
  v.recordKey = "mcp:server:inv";
  v.record = {{"url", "http://x/mcp"}, {"credentials", "v2.k1.QUJDREVG"}};
  v.snapshot = R"({"status":"healthy"})";
  const std::string text = showText(v);
  CHECK(text.find("<encrypted, key k1, 14 bytes>") != std::string::npos);
  CHECK(text.find("QUJDREVG") == std::string::npos);
  const std::string json = showJson(v);
  CHECK(validJson(json));
  CHECK(json == R"({"server_id":"inv","record":{"url":"http://x/mcp","credentials":{"key_id":"k1",)"
                R"("bytes":14}},"status":{"status":"healthy"},"tools":null})");
  v.record = {{"credentials", "garbage.with.dots"}};
  CHECK(showJson(v).find(R"({"key_id":"?","bytes":17})") != std::string::npos);
  ServerView none;
  none.id = "cfg";
  CHECK(showJson(none) == R"({"server_id":"cfg","record":null,"status":null,"tools":null})");
  CHECK(showText(none).find("record: none in Redis") == 0);
}

TEST_CASE("ctl views: a tool list that is not one is refused, not printed half") {
  auto table = toolsTable(R"({"tools":[{"name":"echo","description":"says\nit back"}]})");
  REQUIRE(table.ok());
  CHECK(table.value().find("echo") == 0);
  CHECK(table.value().find("says it back") != std::string::npos);
  CHECK(toolsTable(R"({"tools":7})").error().message == "the stored tool list is not valid");
  CHECK(sealedKeyId("v2.k1.abc") == "k1");
  CHECK(sealedKeyId("v9.k1.abc") == "?");
  CHECK(asJson("[1, 2]") == "[1,2]");
  CHECK(asJson("x\"y") == R"("x\"y")");
}

TEST_CASE(
    "ctl views: whatever Redis holds, a view neither throws nor passes on control characters") {
  for (const char* odd : {"{}", "7", "[]", "null", R"({"latency_ms":7,"error":"x"})",
                          R"({"type":"health","latency_ms":[1]})"}) {
    ServerRows rows;
    rows["x"] = {true, odd};
    CHECK_NOTHROW(listTable(rows, kNow));
    CHECK(validJson(listJson(rows)));
    CHECK_NOTHROW(messageLine(odd));
  }
  CHECK(messageLine(R"({"type":"health"})") == "       ms");
  // An escape sequence that would move the cursor up and rewrite the line above it.
  const std::string evil = "\x1b[1A\x1b[2K  url: https://good.example/";
  CHECK(printable(evil) == "\\x1b[1A\\x1b[2K  url: https://good.example/");
  CHECK(printable("a\u0085b\x7f\n") == "a\\x85b\\x7f\\x0a");
  CHECK(printable("caf\u00e9") == "caf\u00e9");  // UTF-8 text stays as it is
  ServerRows rows;
  rows[evil] = {true, R"({"status":"healthy\u001b[2J","error":{"kind":"x","message":"a\nb"}})"};
  const std::string table = listTable(rows, kNow);
  CHECK(table.find('\x1b') == std::string::npos);
  CHECK(table.find("healthy\\x1b[2J") != std::string::npos);
  ServerView v;
  v.id = "inv";
  v.record = {{"audience", evil}};
  CHECK(showText(v).find('\x1b') == std::string::npos);
  CHECK(messageLine(R"({"type":"removed","server_id":"a\u001bb","removed_at":"T"})") ==
        "T  a\\x1bb  removed");
}

TEST_CASE("ctl views: members shows counts and heartbeat ages, and junk from Redis stays text") {
  const int64_t now = 1'796'550'000'000;
  std::vector<MemberRow> rows = {
      {"healthd-a", now + 5600, std::to_string(now - 400), std::to_string(now - 300'000), "300",
       "0.2.0"},
      {"healthd-b", now + 100, "soon\x1b[2J", "", "many", "\"}]"},
  };
  const std::string table = membersTable(rows, now);
  CHECK(table.find("healthd-a                            300 0.4s ago   5m ago   0.2.0") !=
        std::string::npos);
  CHECK(table.find("\x1b") == std::string::npos);  // escaped, not sent to the terminal
  CHECK(table.find("healthd-b                              - -          -") != std::string::npos);
  CHECK(membersTable({}, now).find("no live members") != std::string::npos);

  const std::string json = membersJson(rows, now);
  simdjson::dom::parser p;
  simdjson::dom::element e;
  REQUIRE(p.parse(json).get(e) == simdjson::SUCCESS);
  auto list = e["members"].get_array().value();
  REQUIRE(list.size() == 2);
  CHECK(int64_t(list.at(0)["owned"]) == 300);
  CHECK(std::string_view(list.at(0)["heartbeat_at"]) == "2026-12-06T09:39:59.600Z");
  CHECK(list.at(1)["owned"].is_null());
  CHECK(list.at(1)["heartbeat_at"].is_null());
  CHECK(std::string_view(list.at(1)["version"]) == "\"}]");
}
