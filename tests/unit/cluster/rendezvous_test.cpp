#include "cluster/rendezvous.hpp"

#include <catch2/catch.hpp>
#include <map>

using namespace mcphd::cluster;

namespace {

std::vector<std::string> ids(const char* prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(prefix + std::to_string(i));
  }
  return out;
}

}  // namespace

TEST_CASE("rendezvous: every member computes the same owner, whatever the order of the list") {
  const std::vector<std::string> members = {"healthd-a", "healthd-b", "healthd-c"};
  const std::vector<std::string> reversed(members.rbegin(), members.rend());
  for (const auto& s : ids("server-", 200)) {
    CHECK(ownerOf(s, members) == ownerOf(s, reversed));
  }
  CHECK(ownerOf("x", {}).empty());
  CHECK(ownerOf("x", {"only"}) == "only");
  // The weight is pinned (other programs may compute owners too): values from an independent
  // SipHash-2-4 (Python, checked against the paper's vector) with the key "mcp-healthd/hrw1".
  CHECK(rendezvousWeight("a", "b") == 4321030309742456220ULL);
  CHECK(rendezvousWeight("healthd-a", "everything") == 8923973378278431325ULL);
  CHECK(rendezvousWeight("a", "b") != rendezvousWeight("b", "a"));
  CHECK(rendezvousWeight("ab", "c") != rendezvousWeight("a", "bc"));  // the 0x00 between
}

TEST_CASE("rendezvous: servers spread evenly, and only the servers of a member that leaves move") {
  const auto servers = ids("srv-", 3000);
  const std::vector<std::string> three = {"m-1", "m-2", "m-3"};
  std::map<std::string, std::string> before;
  std::map<std::string, int> count;
  for (const auto& s : servers) {
    before[s] = ownerOf(s, three);
    ++count[before[s]];
  }
  for (const auto& m : three) {
    INFO(m);
    CHECK(count[m] > 850);  // 1000 each, give or take what a fair hash gives (sd ~26)
    CHECK(count[m] < 1150);
  }
  // m-2 leaves: its servers go to the others, no other server moves.
  const std::vector<std::string> two = {"m-1", "m-3"};
  for (const auto& s : servers) {
    const std::string now = ownerOf(s, two);
    if (before[s] != "m-2") {
      CHECK(now == before[s]);
    }
  }
  // m-4 joins: it takes about a quarter, every moved server moves to it.
  const std::vector<std::string> four = {"m-1", "m-2", "m-3", "m-4"};
  int taken = 0;
  for (const auto& s : servers) {
    const std::string now = ownerOf(s, four);
    if (now != before[s]) {
      CHECK(now == "m-4");
      ++taken;
    }
  }
  CHECK(taken > 600);
  CHECK(taken < 900);
}
