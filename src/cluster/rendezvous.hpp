#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mcphd::cluster {

// Rendezvous (highest random weight) hashing: every member computes the same owner for a server
// from the same list of members, with nothing to agree on but the list. When a member leaves,
// only its servers move (each to the member with its next highest weight); when one joins, it
// takes about 1/N of them and nothing else moves.
//
// weight = SipHash-2-4 (libsodium's crypto_shorthash) with the 16-byte key "mcp-healthd/hrw1"
// of <member id> 0x00 <server id>, read as a little-endian 64-bit number (docs/PROTOCOL.md).
uint64_t rendezvousWeight(std::string_view memberId, std::string_view serverId);

// The member of `members` with the highest weight for `serverId` (a tie, which takes a hash
// collision: the smaller id); empty when `members` is empty.
std::string ownerOf(std::string_view serverId, const std::vector<std::string>& members);

}  // namespace mcphd::cluster
