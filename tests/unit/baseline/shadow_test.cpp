#include "baseline/shadow.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;

namespace {

std::vector<mcp::Tool> named(std::initializer_list<const char*> names) {
  std::vector<mcp::Tool> out;
  for (const char* n : names) {
    out.push_back(mcp::makeTool(n, std::string(R"({"name":")") + n + "\"}"));
  }
  return out;
}

std::vector<std::string> shadowed(const baseline::ShadowIndex& index, const std::string& id,
                                  const std::vector<mcp::Tool>& tools) {
  std::vector<std::string> out;
  for (const auto& f : index.findings(id, tools)) {
    CHECK(f.code == "shadowed_name");
    out.push_back(f.tool);
  }
  return out;
}

}  // namespace

TEST_CASE("shadow index: names offered by two servers, and who must be judged again") {
  baseline::ShadowIndex index;
  const auto a = named({"search", "fetch", "only-a"});
  const auto b = named({"search", "only-b"});
  const auto c = named({"search", "fetch"});
  CHECK(index.set("a", a).empty());
  CHECK(shadowed(index, "a", a).empty());
  // b shares "search" with a: a must be judged again, b sees it at once.
  CHECK(index.set("b", b) == std::vector<std::string>{"a"});
  CHECK(shadowed(index, "b", b) == std::vector<std::string>{"search"});
  CHECK(shadowed(index, "a", a) == std::vector<std::string>{"search"});
  // c shares "search" (a and b already know it is shadowed) and "fetch" (a's alone until now).
  CHECK(index.set("c", c) == std::vector<std::string>{"a"});
  CHECK(shadowed(index, "a", a) == std::vector<std::string>{"search", "fetch"});
  // Set again unchanged: nobody is affected.
  CHECK(index.set("c", c).empty());
  // c goes: "fetch" is a's alone again; "search" is still a's and b's.
  CHECK(index.remove("c") == std::vector<std::string>{"a"});
  CHECK(shadowed(index, "a", a) == std::vector<std::string>{"search"});
  CHECK(index.remove("c").empty());
  // b changes its list: "search" leaves it, a is alone with it.
  CHECK(index.set("b", named({"only-b"})) == std::vector<std::string>{"a"});
  CHECK(shadowed(index, "a", a).empty());
  CHECK(index.servers() == 2);
}

TEST_CASE(
    "shadow index: a name twice in one server is not shadowed by itself, and slots are reused") {
  baseline::ShadowIndex index;
  const auto twice = named({"x", "x"});
  CHECK(index.set("s", twice).empty());
  CHECK(shadowed(index, "s", twice).empty());
  for (int round = 0; round < 3; ++round) {
    CHECK(index.set("t", named({"x"})) == std::vector<std::string>{"s"});
    CHECK(shadowed(index, "s", twice) == std::vector<std::string>{"x"});  // once, not twice
    CHECK(index.remove("t") == std::vector<std::string>{"s"});
  }
  CHECK(index.servers() == 1);
  CHECK(index.findings("unknown", twice).empty());
}
