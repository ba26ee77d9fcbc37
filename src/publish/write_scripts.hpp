#pragma once

#include <string>

namespace mcphd::publish {

// The Lua scripts that are the only writers of a server's published state (docs/PROTOCOL.md,
// "One sequence per server"). Every one takes KEYS = <prefix>seq, <prefix>status,
// <prefix>tools:<id> and ARGV[1] = the server id, and numbers what it writes with
// seq = max(<prefix>seq[id], the seq stored in <prefix>status[id]) + 1 (or a seq it is given),
// so that the seq of one server strictly increases whoever writes, and whichever of the two a
// Redis lost.

// ARGV: 2 the highest seq the writer knows for the server (numbering continues after it also
// when Redis lost both keys), 3 health channel, 4/5 health message head/tail; with tools also
// 6 tools channel, 7/8 tools event head/tail, 9/10 tool snapshot head/tail. Stores the counter,
// the tool snapshot and the status, publishes the health message then the tools event. Returns
// the seq.
const std::string& publishScript();

// ARGV: 2 the highest seq the writer knows, 3 health channel, 4/5 removed message head/tail.
// Deletes the status and the tool snapshot, keeps the counter (a server registered again
// continues), publishes. Returns the seq.
const std::string& removeScript();

// ARGV: 2/3 health message head/tail, 4 its seq (0: its write was never confirmed), 5 the highest
// seq the writer knows for the server. After a reconnect: stores the message again, without an
// event, unless the stored status is as new or newer, or there is none and the counter is past
// the message (the server was removed since); with seq 0 only where neither the status nor the
// counter is past what the writer knows, numbered after both. Returns the seq written, or 0.
const std::string& refillScript();

}  // namespace mcphd::publish
