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
  const Trust trust = GENERATE(Trust::kUnchecked, Trust::kValidated);
  const std::string tool =
      R"({ "name":"echo", "title":"Echo","inputSchema":{"type":"object"},"icons":[{"src":"x"}],"_meta":{"k":1},"x-unknown":true })";
  auto page = decodeToolsListResult(R"({"tools":[)" + tool + R"(],"nextCursor":"abc"})", trust);
  REQUIRE(page.ok());
  REQUIRE(page->tools.size() == 1);
  CHECK(page->tools[0].name == "echo");
  CHECK(page->tools[0].raw() == tool);
  CHECK(page->tools[0].hash == mcphd::sha256(tool));
  CHECK(page->nextCursor == "abc");
}

TEST_CASE("a tool's name is its own, not a nested one, fields come in any order") {
  const Trust trust = GENERATE(Trust::kUnchecked, Trust::kValidated);
  const std::string first =
      R"({"inputSchema":{"properties":{"name":{"type":"string"}},"name":"nested"},"name":"echo"})";
  const std::string second = R"({"name":"add","description":"a \"name\": here"})";
  auto page = decodeToolsListResult(
      R"({"nextCursor":"p2","_meta":{},"tools":[)" + first + "," + second + "]}", trust);
  REQUIRE(page.ok());
  REQUIRE(page->tools.size() == 2);
  CHECK(page->tools[0].name == "echo");
  CHECK(page->tools[0].raw() == first);
  CHECK(page->tools[1].name == "add");
  CHECK(page->nextCursor == "p2");
  auto last = decodeToolsListResult(R"({"tools":[],"nextCursor":null})", trust);
  REQUIRE(last.ok());
  CHECK_FALSE(last->nextCursor.has_value());
}

TEST_CASE("a tools/list result without tools or with a nameless tool is refused") {
  const Trust trust = GENERATE(Trust::kUnchecked, Trust::kValidated);
  CHECK_FALSE(decodeToolsListResult(R"({})", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"([])", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":{}})", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[{"description":"x"}]})", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[{"name":""}]})", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[{"name":7}]})", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[1]})", trust).ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[],"nextCursor":5})", trust).ok());
}

TEST_CASE("unchecked tools/list text is validated in full") {
  // Inside a tool, where the validated path does not look again.
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[{"name":"a","x":tru}]})").ok());
  CHECK_FALSE(decodeToolsListResult(R"({"tools":[{"name":"a","x":01}]})").ok());
}
