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
// and 10,000 servers of 20 tools cost about 5 MB (the table, and each server's sorted names), not a
// copy of every name.
class ShadowIndex {
 public:
  // A server's place in the index, kept by the caller with the rest of what it knows of the
  // server (the index keeps no map of ids: 10,000 of them cost 1.2 MB). kNoSlot: not in it.
  using Slot = uint32_t;
  static constexpr Slot kNoSlot = 0xFFFF'FFFFU;

  ShadowIndex();

  // The server `*serverId` now offers these tools; `slot` is its place (kNoSlot: it gets one).
  // `serverId` is kept by pointer until remove(): it must stay where it is until then. Returns
  // the other servers whose shadowed names changed with it (a name they offer is now offered by
  // a second server, or no longer): their findings must be judged again.
  std::vector<std::string> set(Slot& slot, const std::string* serverId,
                               const std::vector<mcp::Tool>& tools);
  // The server at `slot` is no longer checked (slot becomes kNoSlot); as set().
  std::vector<std::string> remove(Slot& slot);
  // The shadowed_name findings of `tools` (the list the server at `slot` offers), in its order,
  // one per name. Never quarantining (judge()).
  std::vector<Finding> findings(Slot slot, const std::vector<mcp::Tool>& tools) const;
  size_t servers() const { return ids_.size() - free_.size(); }
  size_t names() const { return used_; }  // distinct names offered
  size_t capacity() const { return table_.size(); }

 private:
  uint64_t key(std::string_view name) const;
  // One name of the table: its hash (two halves, so an entry is 12 bytes, not 16), and the slot
  // of the first server that offers it, with kShared set when others do too (they are in
  // more_). hash 0 is an empty entry (key() never returns 0).
  struct Entry {
    uint32_t lo = 0;
    uint32_t hi = 0;
    uint32_t first = 0;
    uint64_t name() const { return (uint64_t{hi} << 32) | lo; }
    bool empty() const { return lo == 0 && hi == 0; }
  };
  static constexpr uint32_t kShared = 0x8000'0000U;
  // Open addressing with linear probing, a power-of-two size, at most 4/5 full, and deletion by
  // shifting back (no tombstones). 200,000 names take 3 MB; std::unordered_map took 7.6 (a node
  // and a bucket per name).
  Entry* find(uint64_t name);
  const Entry* find(uint64_t name) const;
  Entry& insert(uint64_t name, uint32_t slot);  // name not in the table
  void erase(Entry& e);
  void resize(size_t capacity);
  std::vector<std::string> change(uint32_t slot, std::vector<uint64_t> names);
  void add(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected);
  void drop(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected);

  std::array<unsigned char, crypto_shorthash_KEYBYTES> key_{};
  std::vector<Entry> table_;
  size_t used_ = 0;
  // name -> the other slots offering it (one vector per shared name: a name that 10,000
  // servers share costs 40 KB, not 10,000 nodes)
  std::unordered_map<uint64_t, std::vector<uint32_t>> more_;
  std::vector<const std::string*> ids_;       // slot -> server id (null when free)
  std::vector<std::vector<uint64_t>> names_;  // slot -> its names, sorted, unique
  std::vector<uint32_t> free_;
};

}  // namespace mcphd::baseline
