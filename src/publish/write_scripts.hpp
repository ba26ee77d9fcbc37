#pragma once

#include <string>

namespace mcphd::publish {

// The Lua scripts that are the only writers of a server's published state (docs/PROTOCOL.md,
// "One sequence per server"). Every one takes KEYS = <prefix>seq, <prefix>status,
// <prefix>tools:<id> and ARGV[1] = the server id, and numbers what it writes with
// seq = max(<prefix>seq[id], the seq stored in <prefix>status[id]) + 1 (or a seq it is given),
// so that the seq of one server strictly increases whoever writes, and whichever of the two a
// Redis lost.

// The publish and remove scripts also answer commands, and acknowledge them in the same step
// (docs/PROTOCOL.md, "Commands, exactly once"): their message is ARGV 4 head, the seq, 5 body,
// the command ids, 6 end (publish::Answering). ARGV 7 is the number k of command entries; entry i
// has its stream in KEYS[2 + 2i] and its answered marker (Keyspace::answered) in KEYS[3 + 2i],
// and four ARGV: consumer group, entry id, "1" to XDEL the entry once acknowledged (a member's
// stream), the command id as JSON. The message names a command only when this is its first
// answer: its XACK acknowledged it, or found it not pending while no marker says it was
// answered (Redis lost it). An entry answered already, by this member or by one that claimed it,
// is not answered again. Then the number b of ids named as they are (`check *` commands,
// answered by command_done), and b ids as JSON. Both return [seq, the command ids' JSON as
// written into the message, an error to log ("" for none: XACK or SET refused, e.g. by an ACL)].

// ARGV: 2 the highest seq the writer knows for the server (numbering continues after it also
// when Redis lost both keys), 3 health channel, 4-6 and the answers above; with tools after
// them, 5 more: tools channel, tools event head/tail, tool snapshot head/tail. Stores the
// counter, the tool snapshot and the status, publishes the health message then the tools event.
const std::string& publishScript();

// ARGV: 2 the highest seq the writer knows, 3 health channel, 4-6 and the answers above.
// Deletes the status and the tool snapshot, keeps the counter (a server registered again
// continues), publishes.
const std::string& removeScript();

// ARGV: 2/3 health message head/tail, 4 its seq (0: its write was never confirmed), 5 the highest
// seq the writer knows for the server. After a reconnect: stores the message again, without an
// event, unless the stored status is as new or newer, or there is none and the counter is past
// the message (the server was removed since); with seq 0 only where neither the status nor the
// counter is past what the writer knows, numbered after both. Returns the seq written, or 0.
const std::string& refillScript();

// A command_error or command_done answering one entry. KEYS[1] its stream, KEYS[2] its answered
// marker; ARGV 1 consumer group, 2 entry id, 3 "1" to XDEL it once acknowledged, 4 channel, 5 the
// message. Publishes only when this is the entry's first answer (as above). Returns [1 when it
// published, else 0; an error to log, or ""].
const std::string& answerScript();

}  // namespace mcphd::publish
