#include "mcp/tool_pages.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::mcp;

namespace {

std::string page(int first, int count, const std::string& next, size_t descriptionBytes = 1) {
  std::string out = R"({"tools":[)";
  for (int i = first; i < first + count; ++i) {
    out += (i > first ? "," : "") + std::string(R"({"name":"t)") + std::to_string(i) +
           R"(","description":")" + std::string(descriptionBytes, 'd') +
           R"(","inputSchema":{"type":"object"}})";
  }
  out += "]";
  if (!next.empty()) {
    out += R"(,"nextCursor":")" + next + "\"";
  }
  return out + "}";
}

}  // namespace

TEST_CASE("a tool list may not exceed max_tools or max_tools_bytes, whatever the pages") {
  ToolPages pages;
  pages.setLimits(ToolLimits{5, 1024 * 1024});
  REQUIRE(pages.add(page(0, 3, "p1")).ok());
  auto over = pages.add(page(3, 3, ""));
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().message == "tools/list returned more than max_tools (5) tools");
  CHECK(pages.tools().empty());  // nothing of it is kept

  ToolPages fat;
  fat.setLimits(ToolLimits{100, 2048});
  REQUIRE(fat.add(page(0, 1, "p1", 1000)).ok());
  auto big = fat.add(page(1, 1, "p2", 1100));
  REQUIRE_FALSE(big.ok());
  CHECK(big.error().message ==
        "tools/list returned more than max_tools_bytes (2 KiB) of tool "
        "definitions");

  ToolPages exact;
  exact.setLimits(ToolLimits{5, 1024 * 1024});
  REQUIRE(exact.add(page(0, 5, "")).ok());
  CHECK(exact.tools().size() == 5);
}

TEST_CASE("snippets keep valid UTF-8 (so a redaction still matches) and blank control bytes") {
  CHECK(snippet("caf\xc3\xa9\n\x01ok") == "caf\xc3\xa9  ok");
  CHECK(snippet("bad \xff\xfe bytes") == "bad    bytes");
  CHECK(snippet("ab\xe2\x82\xac", 4) == "ab");  // never cut inside a character
}

TEST_CASE("a name that comes twice is kept, across pages, for the lint to report") {
  ToolPages pages;
  REQUIRE(pages.add(R"({"tools":[{"name":"z"},{"name":"a"}],"nextCursor":"2"})").ok());
  auto twice = pages.add(R"({"tools":[{"name":"z","description":"again"}]})");
  REQUIRE(twice.ok());
  CHECK_FALSE(twice.value().has_value());  // complete
  REQUIRE(pages.tools().size() == 3);
  CHECK(pages.tools()[2].name == "z");
}

TEST_CASE("tools are views into their page, and outlive the text they were decoded from") {
  std::vector<Tool> kept;
  {
    // A page padded with 200 KiB of other fields: its tools move to a compact page of their own.
    std::string padded = R"({"_meta":{"pad":")" + std::string(200 * 1024, 'p') +
                         R"("},"tools":[{"name":"echo","x":1},{"name":"add"}]})";
    ToolPages pages;
    REQUIRE(pages.add(padded).ok());
    kept = pages.tools();
    std::fill(padded.begin(), padded.end(), '#');  // the source text is gone
  }
  REQUIRE(kept.size() == 2);
  CHECK(kept[0].raw() == R"({"name":"echo","x":1})");
  CHECK(kept[0].hash == mcphd::sha256(R"({"name":"echo","x":1})"));
  CHECK(kept[1].raw() == R"({"name":"add"})");
  CHECK(kept[1].hash == mcphd::sha256(R"({"name":"add"})"));
  // A page that is mostly its tools is kept as it is, and so are copies of its tools.
  std::vector<Tool> copies;
  {
    ToolPages pages;
    REQUIRE(pages.add(page(0, 3, "")).ok());
    copies = std::vector<Tool>(pages.tools().begin(), pages.tools().end());
  }
  CHECK(copies[2].raw() == R"({"name":"t2","description":"d","inputSchema":{"type":"object"}})");
}
