#include "baseline/baseline.hpp"

#include <sodium.h>

#include <catch2/catch.hpp>

#include "auth/key_ring.hpp"
#include "mcp/probe_result.hpp"

using namespace mcphd;

namespace {

mcp::Tool tool(const std::string& name, const std::string& description) {
  return mcp::makeTool(name, R"({"name":")" + name + R"(","description":")" + description + "\"}");
}

std::map<std::string, std::string> fieldsOf(const baseline::Baseline& b) {
  std::map<std::string, std::string> out;
  for (auto& [k, v] : baseline::toFields(b)) {
    out[k] = v;
  }
  return out;
}

auth::KeyRing ring(const std::string& id) {
  REQUIRE(sodium_init() >= 0);
  auth::KeyRing keys;
  REQUIRE(keys.addKey(id, auth::generateKeyBase64()));
  REQUIRE(keys.setActive(id));
  return keys;
}

}  // namespace

TEST_CASE("baseline: a signed record reads back, and its tools_hash is the health message's") {
  const std::vector<mcp::Tool> tools = {tool("b", "B"), tool("a", "A")};
  auth::KeyRing keys = ring("k1");
  auto b = baseline::fromTools(tools, "2026-12-06T10:00:00.000Z", "alice");
  CHECK(b.toolsHash == mcp::computeToolsHash(tools));
  REQUIRE(baseline::sign("srv", b, keys));
  CHECK(b.mac.rfind("k1.", 0) == 0);
  auto back = baseline::fromFields("srv", fieldsOf(b), &keys);
  REQUIRE(back);
  CHECK(*back == b);
}

TEST_CASE("baseline: a record whoever can write to Redis made or changed does not verify") {
  const std::vector<mcp::Tool> tools = {tool("a", "A")};
  auth::KeyRing keys = ring("k1");
  auto b = baseline::fromTools(tools, "2026-12-06T10:00:00.000Z", "alice");
  REQUIRE(baseline::sign("srv", b, keys));
  auto f = fieldsOf(b);

  SECTION("copied to another server") {
    auto r = baseline::fromFields("other", f, &keys);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the signature does not match (key 'k1')");
  }
  SECTION("another tool set, its hash recomputed") {
    auto forged = baseline::fromTools({tool("a", "evil")}, b.approvedAt, b.approvedBy);
    forged.mac = b.mac;
    auto r = baseline::fromFields("srv", fieldsOf(forged), &keys);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the signature does not match (key 'k1')");
  }
  SECTION("a definition swapped under the approved hash") {
    f["def:a"] = R"({"name":"a","description":"evil"})";
    auto r = baseline::fromFields("srv", f, &keys);
    REQUIRE_FALSE(r);
    CHECK(r.error().message == "the definition of tool 'a' is not the one approved");
  }
  SECTION("the approver changed") {
    f["approved_by"] = "mallory";
    CHECK_FALSE(baseline::fromFields("srv", f, &keys));
  }
  SECTION("unsigned, or signed by a key this daemon does not have") {
    f["mac"] = "";
    CHECK(baseline::fromFields("srv", f, &keys).error().message == "it is not signed");
    auth::KeyRing other = ring("k2");
    auto b2 = b;
    REQUIRE(baseline::sign("srv", b2, other));
    CHECK(baseline::fromFields("srv", fieldsOf(b2), &keys).error().message ==
          "signed with key 'k2', which is not in secrets.keys");
    f["mac"] = "k1.notbase64!";
    CHECK(baseline::fromFields("srv", f, &keys).error().message ==
          "the signature is not a base64url tag of 32 bytes");
  }
  SECTION("a tools_hash that is not its tools'") {
    f["tools_hash"] = std::string(64, '0');
    CHECK(baseline::fromFields("srv", f, &keys).error().message ==
          "its tools_hash is not the hash of its tools");
  }
  SECTION("malformed fields") {
    auto g = f;
    g.erase("v");
    CHECK(baseline::fromFields("srv", g, &keys).error().message ==
          "it is not a version 1 baseline (field v)");
    g = f;
    g["tools"] = "{}";
    CHECK(baseline::fromFields("srv", g, &keys).error().message ==
          "its tools field is not a JSON array");
    g["tools"] = R"([["a","xyz"]])";
    CHECK_FALSE(baseline::fromFields("srv", g, &keys));
    g = f;
    g["approved_at"] = "yesterday";
    CHECK(baseline::fromFields("srv", g, &keys).error().message ==
          "its approved_at or approved_by is malformed");
  }
  SECTION("without keys (no secrets configured): read unsigned") {
    f["mac"] = "";
    CHECK(baseline::fromFields("srv", f, nullptr));
  }
}

TEST_CASE("baseline: policies parse, and strictness orders them") {
  CHECK(*baseline::parsePolicy("manual") == baseline::Policy::kManual);
  CHECK(baseline::parsePolicy("strict").error().message == "must be off, tofu or manual");
  CHECK(*baseline::parseAction("quarantine") == baseline::Action::kQuarantine);
  CHECK_FALSE(baseline::parseAction("block"));
  CHECK(baseline::atLeastAsStrict(baseline::Policy::kManual, baseline::Policy::kTofu));
  CHECK_FALSE(baseline::atLeastAsStrict(baseline::Policy::kOff, baseline::Policy::kTofu));
  CHECK(baseline::atLeastAsStrict(baseline::Action::kFlag, baseline::Action::kFlag));
  CHECK_FALSE(baseline::atLeastAsStrict(baseline::Action::kFlag, baseline::Action::kQuarantine));
}

TEST_CASE("baseline: recordBytes counts exactly what toFields writes") {
  auto b = baseline::fromTools({tool("a", "A"), tool("b", std::string(500, 'x'))},
                               "2026-12-07T00:00:00.000Z", "alice");
  b.mac = "k1.abc";
  size_t bytes = 0;
  for (const auto& [field, value] : baseline::toFields(b)) {
    bytes += field.size() + value.size();
  }
  CHECK(baseline::recordBytes(b) == bytes);
}
