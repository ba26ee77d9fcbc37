#include "baseline/shadow.hpp"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>

using namespace mcphd;

namespace {

std::vector<mcp::Tool> named(std::initializer_list<const char*> names) {
  std::vector<mcp::Tool> out;
  for (const char* n : names) {
    out.push_back(mcp::makeTool(n, std::string(R"({"name":")") + n + "\"}"));
  }
  return out;
}

// The index as ApprovingProber holds it: each server's slot kept beside its id, whose key stays
// put (std::map).
class Indexed {
 public:
  std::vector<std::string> set(const std::string& id, const std::vector<mcp::Tool>& tools) {
    auto it = slots_.try_emplace(id, baseline::ShadowIndex::kNoSlot).first;
    return index_.set(it->second, &it->first, tools);
  }
  std::vector<std::string> remove(const std::string& id) {
    auto it = slots_.find(id);
    if (it == slots_.end()) {
      baseline::ShadowIndex::Slot none = baseline::ShadowIndex::kNoSlot;
      return index_.remove(none);
    }
    auto affected = index_.remove(it->second);
    CHECK(it->second == baseline::ShadowIndex::kNoSlot);
    slots_.erase(it);
    return affected;
  }
  std::vector<baseline::Finding> findings(const std::string& id,
                                          const std::vector<mcp::Tool>& tools) const {
    auto it = slots_.find(id);
    return index_.findings(it == slots_.end() ? baseline::ShadowIndex::kNoSlot : it->second, tools);
  }
  size_t servers() const { return index_.servers(); }
  size_t names() const { return index_.names(); }
  size_t capacity() const { return index_.capacity(); }

 private:
  baseline::ShadowIndex index_;
  std::map<std::string, baseline::ShadowIndex::Slot> slots_;
};

std::vector<std::string> shadowed(const Indexed& index, const std::string& id,
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
  Indexed index;
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
  Indexed index;
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

// The index against a plain model (name -> the servers offering it), through thousands of random
// changes: the table grows, shrinks, and deletes from the middle of its runs.
TEST_CASE("shadow index: agrees with a plain model through random changes, growth and shrinking") {
  Indexed index;
  std::mt19937 random(20261207);
  std::vector<std::string> pool;
  for (int i = 0; i < 3000; ++i) {
    pool.push_back("tool-" + std::to_string(i));
  }
  // The model: server -> its names, and name -> the servers offering it.
  std::map<std::string, std::set<std::string>> lists;
  std::map<std::string, std::set<std::string>> offering;
  auto offeredBy = [&](const std::string& name) {
    auto it = offering.find(name);
    return it == offering.end() ? size_t{0} : it->second.size();
  };
  auto toolsOf = [](const std::set<std::string>& names) {
    std::vector<mcp::Tool> out;
    for (const auto& n : names) {
      out.push_back(mcp::makeTool(n, "{\"name\":\"" + n + "\"}"));
    }
    return out;
  };
  size_t largest = 0;
  for (int step = 0; step < 4000; ++step) {
    const std::string id = "srv-" + std::to_string(random() % 150);
    const std::set<std::string> was = lists.count(id) != 0 ? lists[id] : std::set<std::string>{};
    std::set<std::string> now;
    std::vector<std::string> affected;
    // Mostly growth first, then mostly removals: the table grows and then shrinks.
    const bool removing = random() % 10 < (step < 2000 ? 2U : 8U);
    if (removing) {
      affected = index.remove(id);
      lists.erase(id);
    } else {
      const size_t n = random() % 60;
      for (size_t i = 0; i < n; ++i) {
        now.insert(pool[random() % pool.size()]);
      }
      affected = index.set(id, toolsOf(now));
      lists[id] = now;
    }
    // Who must be judged again: every other server offering a name whose "shadowed" changed
    // (only names this server dropped or added can change).
    std::set<std::string> expected;
    std::set<std::string> touched = was;
    touched.insert(now.begin(), now.end());
    for (const auto& name : touched) {
      const size_t before = offeredBy(name);
      auto& servers = offering[name];
      if (was.count(name) != 0 && now.count(name) == 0) {
        servers.erase(id);
      } else if (was.count(name) == 0 && now.count(name) != 0) {
        servers.insert(id);
      }
      if ((before > 1) != (servers.size() > 1)) {
        for (const auto& other : servers) {
          if (other != id) {
            expected.insert(other);
          }
        }
      }
      if (servers.empty()) {
        offering.erase(name);
      }
    }
    largest = std::max(largest, index.capacity());
    REQUIRE(std::set<std::string>(affected.begin(), affected.end()) == expected);
    REQUIRE(affected.size() == expected.size());  // each once
    if (step % 100 == 0 || step == 3999) {
      for (const auto& [other, names] : lists) {
        std::vector<std::string> want;
        for (const auto& name : names) {
          if (offeredBy(name) > 1) {
            want.push_back(name);
          }
        }
        REQUIRE(shadowed(index, other, toolsOf(names)) == want);
      }
      REQUIRE(index.names() == offering.size());
      REQUIRE(index.servers() == lists.size());
    }
  }
  CHECK(index.names() * 5 <= index.capacity() * 4);
  CHECK(largest >= 2048);  // it grew ...
  const std::map<std::string, std::set<std::string>> last = lists;
  for (const auto& [id, names] : last) {
    index.remove(id);
  }
  CHECK(index.names() == 0);
  CHECK(index.servers() == 0);
  CHECK(index.capacity() == 64);  // ... and gave the memory back
}
