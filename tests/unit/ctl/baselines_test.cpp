#include "ctl/baselines.hpp"

#include <catch2/catch.hpp>

#include "baseline/baseline.hpp"
#include "common/json_writer.hpp"

using namespace mcphd;

namespace {

// A tool snapshot as the publisher writes it, of (name, raw definition) pairs.
std::string snapshotOf(const std::vector<std::pair<std::string, std::string>>& tools,
                       std::string hash = "") {
  std::vector<mcp::Tool> list;
  std::string raw = "[";
  for (const auto& [name, def] : tools) {
    list.push_back(mcp::makeTool(name, def));
    raw += (raw.size() > 1 ? "," : "") + def;
  }
  if (hash.empty()) {
    hash = baseline::fromTools(list, "", "").toolsHash;
  }
  return R"({"server_id":"s1","seq":4,"tools_hash":")" + hash +
         R"(","discovered_at":"2026-12-07T00:00:00.000Z","tools":)" + raw +
         R"(],"findings":null,"findings_count":null})";
}

}  // namespace

TEST_CASE("tools approve reads the tool set from the snapshot, only when it gives its tools_hash") {
  const std::string a = R"({"name":"a","description":"adds","inputSchema":{"type":"object"}})";
  const std::string b = R"({"name":"b","inputSchema":{"type":"object"}})";
  auto ok = ctl::snapshotTools("s1", snapshotOf({{"a", a}, {"b", b}}));
  REQUIRE(ok);
  CHECK(ok->tools.size() == 2);
  CHECK(ok->tools[0].raw() == a);
  CHECK(ok->toolsHash == baseline::fromTools(ok->tools, "", "").toolsHash);

  // Whoever can write to Redis swapped a definition under the published hash: not approved.
  auto forged = ctl::snapshotTools("s1", snapshotOf({{"a", a}}, ok->toolsHash));
  REQUIRE_FALSE(forged);
  CHECK(forged.error().message.find("does not match its tools_hash") != std::string::npos);

  CHECK_FALSE(ctl::snapshotTools("s1", "not json"));
  CHECK_FALSE(ctl::snapshotTools("s1", R"({"tools":[]})"));                          // no hash
  CHECK_FALSE(ctl::snapshotTools("s1", R"({"tools_hash":"x","tools":[{"x":1}]})"));  // no name
}

TEST_CASE("tools diff shows added, removed and changed tools, printable") {
  baseline::Drift d;
  d.added = {"new\x1b[31m"};
  d.removed = {"gone"};
  d.changed = {{"c", {"description", "inputSchema"}}, {"d", {}}};
  const std::string text = ctl::driftText("s1", d);
  CHECK(text.find("+ new\\x1b[31m  (added)") != std::string::npos);
  CHECK(text.find("- gone  (removed)") != std::string::npos);
  CHECK(text.find("~ c  (changed: description, inputSchema)") != std::string::npos);
  CHECK(text.find("~ d  (changed: the approved definition is not at hand)") != std::string::npos);
  CHECK(ctl::driftText("s1", baseline::Drift{}) == "s1: the tools are the approved ones\n");
  CHECK(
      ctl::driftJson(d) ==
      R"({"added":["new\u001b[31m"],"removed":["gone"],"changed":[{"name":"c","keys":["description","inputSchema"]},{"name":"d","keys":[]}]})");
}

TEST_CASE("tools lint lists each finding on a line of its own") {
  std::vector<baseline::Finding> f = {{"t\x07", "hidden_unicode", "a tag character U+E0041"}};
  CHECK(ctl::findingsText(f) == "  t\\x07  hidden_unicode  a tag character U+E0041\n");
  CHECK(ctl::findingsJson(f) ==
        R"([{"tool":"t\u0007","code":"hidden_unicode","detail":"a tag character U+E0041"}])");
}
