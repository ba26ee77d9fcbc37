#pragma once

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "baseline/verdict.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::baseline {

// shadowed_name: which tool names more than one of the servers this daemon checks offers (the
// last complete list of each). Names are kept as 64-bit keyed hashes (SipHash, crypto_shorthash,
// a random key per process): a server cannot make its names collide with another's on purpose,
// and 10,000 servers of 20 tools cost about 2 MB, not a copy of every name.
class ShadowIndex {
 public:
  ShadowIndex();

  // `serverId` now offers these tools. Returns the other servers whose shadowed names changed
  // with it (a name they offer is now offered by a second server, or no longer): their findings
  // must be judged again.
  std::vector<std::string> set(const std::string& serverId, const std::vector<mcp::Tool>& tools);
  // `serverId` is no longer checked; as set().
  std::vector<std::string> remove(const std::string& serverId);
  // The shadowed_name findings of `tools` (the list `serverId` offers), in its order, one per
  // name. Never quarantining (judge()).
  std::vector<Finding> findings(const std::string& serverId,
                                const std::vector<mcp::Tool>& tools) const;
  size_t servers() const { return slots_.size(); }

 private:
  uint64_t key(std::string_view name) const;
  // The servers (slots) that offer a name; most names have one.
  struct Offered {
    uint32_t first;
    uint32_t more = 0;  // how many others are in more_
  };
  std::vector<std::string> change(uint32_t slot, std::vector<uint64_t> names);
  void add(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected);
  void drop(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected);

  std::array<unsigned char, crypto_shorthash_KEYBYTES> key_{};
  std::unordered_map<uint64_t, Offered> byName_;
  // name -> the other slots offering it (one vector per shared name: a name that 10,000
  // servers share costs 40 KB, not 10,000 nodes)
  std::unordered_map<uint64_t, std::vector<uint32_t>> more_;
  std::unordered_map<std::string, uint32_t> slots_;  // server id -> slot
  std::vector<std::string> ids_;                     // slot -> server id ("" when free)
  std::vector<std::vector<uint64_t>> names_;         // slot -> its names, sorted, unique
  std::vector<uint32_t> free_;
};

}  // namespace mcphd::baseline
