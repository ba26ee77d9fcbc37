#pragma once

#include <string>

namespace mcphd::control {

// The Lua scripts that move commands between members of a cluster (docs/PROTOCOL.md, "Commands
// in a cluster"). Each one acknowledges the entry it takes (XACK) in the same step as it passes
// it on: an entry is either still pending where it was, or moved, never both, so a member that
// claims the entries of a dead one cannot carry out what was already passed on.

// KEYS: the source stream, <prefix>members. ARGV: 1 group, 2 entry id, 3 server id, 4 member-config
// key prefix
// ("" to take the first candidate as it is), 5 member-commands key prefix, 6 n, 7..6+n candidate
// member ids, then the fields of the forwarded entry. With a member-config prefix the target is
// the first candidate whose config declares the server. XADDs the fields to the target's stream
// and acknowledges (and, from a member stream, deletes) the source entry. Only to a member whose
// announcement has not expired (on Redis's clock): the one that takes over a member that left
// reads its stream after it expired, so nothing lands there after. Answers 1, 0 when the entry
// was acknowledged already (answered or moved by someone else), -1 when no candidate fits, -2
// when the ones that fit are not live (ask again once the members are known again).
const std::string& forwardScript();

// KEYS: the source stream, <prefix>command-parts:<command id>, <prefix>members. ARGV: 1 group,
// 2 entry id, 3 the command id, 4 member-commands key prefix, 5 n, 6..5+n member ids. A `check *`
// split among the members that are live: one part to each stream, the count in the parts hash
// (expires after a day). Answers the number of parts, 0 when the entry was acknowledged already,
// -2 when none of them is live.
const std::string& splitScript();

// KEYS: the part's stream, the parts hash. ARGV: 1 group, 2 entry id, 3 servers this part
// checked, 4 health channel, 5/6 command_done head/tail. Acknowledges (and deletes) the part and
// adds it up; the last part publishes command_done with every part's servers and deletes the
// hash. Answers 2 (published), 1 (counted), 0 (acknowledged already), -1 (no parts hash).
const std::string& partDoneScript();

}  // namespace mcphd::control
