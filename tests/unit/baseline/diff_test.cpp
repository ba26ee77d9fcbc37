#include "baseline/diff.hpp"

#include <catch2/catch.hpp>

#include "mcp/probe_result.hpp"

using namespace mcphd;

namespace {

mcp::Tool tool(const std::string& name, const std::string& description,
               const std::string& schema = R"({"type":"object"})") {
  return mcp::makeTool(name, R"({"name":")" + name + R"(","description":")" + description +
                                 R"(","inputSchema":)" + schema + "}");
}

}  // namespace

TEST_CASE("diff: added, removed and changed tools, with the keys that changed") {
  const std::vector<mcp::Tool> approved = {tool("a", "A"), tool("b", "B"), tool("c", "C")};
  const baseline::Baseline b = baseline::fromTools(approved, "2026-12-06T10:00:00.000Z", "ops");
  CHECK(baseline::diff(b, approved).empty());
  // The server's order does not matter.
  CHECK(baseline::diff(b, {approved[2], approved[0], approved[1]}).empty());

  auto d = baseline::diff(b, {tool("a", "A, now with a hidden instruction"),
                              tool("c", "C", R"({"type":"array"})"), tool("d", "D")});
  CHECK(d.added == std::vector<std::string>{"d"});
  CHECK(d.removed == std::vector<std::string>{"b"});
  CHECK(d.changed ==
        std::vector<baseline::ChangedTool>{{"a", {"description"}}, {"c", {"inputSchema"}}});
}

TEST_CASE("diff: keys present on one side only, formatting alone, no definition at hand") {
  CHECK(baseline::changedKeys(R"({"name":"a","title":"x"})", R"({"name":"a","annotations":{}})") ==
        std::vector<std::string>{"annotations", "title"});
  CHECK(baseline::changedKeys(R"({"name":"a","x":[1, 2]})", R"({ "x":[1,2], "name" : "a" })")
            .empty());
  CHECK(baseline::changedKeys("not json", R"({"name":"a"})") == std::vector<std::string>{"name"});

  baseline::Baseline b = baseline::fromTools({tool("a", "A")}, "2026-12-06T10:00:00.000Z", "ops");
  b.definitions.clear();  // read without them
  auto d = baseline::diff(b, {tool("a", "changed")});
  CHECK(d.changed == std::vector<baseline::ChangedTool>{{"a", {}}});
}

TEST_CASE("diff: a name listed twice is unchanged only when both definitions are") {
  const std::vector<mcp::Tool> twice = {tool("a", "one"), tool("a", "two")};
  const baseline::Baseline b = baseline::fromTools(twice, "2026-12-06T10:00:00.000Z", "ops");
  CHECK(baseline::diff(b, {twice[1], twice[0]}).empty());
  CHECK(baseline::diff(b, {twice[0]}).changed.size() == 1);
  CHECK(b.toolsHash == mcp::computeToolsHash({twice[1], twice[0]}));
  CHECK(b.toolsHash == mcp::computeToolsHash(twice));
}
