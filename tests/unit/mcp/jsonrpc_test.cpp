#include "mcp/jsonrpc.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::mcp;

TEST_CASE("JSON-RPC messages are classified by their members") {
  auto resp = decodeMessage(R"({"jsonrpc":"2.0","id":7,"result":{"x" : [1, 2]}})");
  REQUIRE(resp.ok());
  CHECK(resp->kind == MessageKind::kResponse);
  CHECK(resp->id == "7");
  CHECK(resp->result == R"({"x" : [1, 2]})");
  auto req = decodeMessage(R"({"jsonrpc":"2.0","id":"a","method":"ping"})");
  REQUIRE(req.ok());
  CHECK(req->kind == MessageKind::kRequest);
  CHECK(req->id == "\"a\"");
  auto note = decodeMessage(R"({"jsonrpc":"2.0","method":"notifications/tools/list_changed"})");
  REQUIRE(note.ok());
  CHECK(note->kind == MessageKind::kNotification);
  auto err = decodeMessage(
      R"({"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"Method not found"}})");
  REQUIRE(err.ok());
  CHECK(err->kind == MessageKind::kErrorResponse);
  CHECK(err->errorCode == -32601);
}

TEST_CASE("malformed JSON-RPC gets a specific error") {
  CHECK_FALSE(decodeMessage(R"({"jsonrpc":"2.0","id":1,"result":)").ok());       // truncated
  CHECK_FALSE(decodeMessage(R"({"id":1,"result":{}})").ok());                    // no version
  CHECK_FALSE(decodeMessage(R"([{"jsonrpc":"2.0","id":1,"result":{}}])").ok());  // batch
  CHECK_FALSE(decodeMessage(R"({"jsonrpc":"2.0","id":{},"result":{}})").ok());   // bad id
  CHECK_FALSE(decodeMessage(R"({"jsonrpc":"2.0","id":1})").ok());                // nothing
  CHECK_FALSE(decodeMessage("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":\"\xff\"}}")
                  .ok());  // bad UTF-8
  CHECK_FALSE(decodeMessage("").ok());
  std::string deep = R"({"jsonrpc":"2.0","id":1,"result":)" + std::string(10'000, '[') +
                     std::string(10'000, ']') + "}";
  CHECK_FALSE(decodeMessage(deep).ok());
}

TEST_CASE("tools keep their raw JSON exactly as received, unknown fields included") {
  const std::string tool =
      R"({ "name":"echo", "title":"Echo","inputSchema":{"type":"object"},"icons":[{"src":"x"}],"_meta":{"k":1},"x-unknown":true })";
  auto page = decodeToolsListResult(R"({"tools":[)" + tool + R"(],"nextCursor":"abc"})");
  REQUIRE(page.ok());
  REQUIRE(page->tools.size() == 1);
  CHECK(page->tools[0].name == "echo");
  CHECK(page->tools[0].raw == tool);
  CHECK(page->nextCursor == "abc");
}

TEST_CASE("a tools/list result without tools or with a nameless tool is refused") {
  CHECK_FALSE(decodeToolsListResult(R"({})").ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[{"description":"x"}]})").ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[1]})").ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[],"nextCursor":5})").ok());
}
