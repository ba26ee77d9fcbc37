#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "baseline/verdict.hpp"
#include "common/sha256.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::publish {

// A message split around its seq: `head` ends with "seq": and `tail` follows the number. Redis
// numbers it (the write script puts the seq between the two), so whoever writes, one server's
// messages carry one sequence.
struct Numbered {
  std::string head;
  std::string tail;
  std::string with(uint64_t seq) const { return head + std::to_string(seq) + tail; }
};

// The health message of schema v1 (docs/PROTOCOL.md) for `report` with sequence number `seq`,
// checked by member `checkedBy`.
std::string healthJson(const scheduler::CheckReport& report, uint64_t seq,
                       std::string_view checkedBy);

// A message that answers commands, split where the script that writes it puts the seq and the
// command ids: head + seq + body + ids + end, where ids is commandIdsJson() of the commands it
// answers (the script names a command only when it is the one that acknowledges its entry).
struct Answering {
  std::string head;  // ends with "seq":
  std::string body;
  std::string end;  // ,"command_ids_truncated":N when N > 0, then '}'
  // The message naming `ids` (each a JSON string, as the script is given them).
  Numbered with(const std::vector<std::string>& quotedIds) const;
};

// ,"command_id":<first>,"command_ids":[...] of ids already written as JSON strings, or nothing
// when there are none.
std::string commandIdsJson(const std::vector<std::string>& quotedIds);
std::string quotedId(const std::string& id);

// A health message without the command ids it answers, so it can be rendered once and given
// them when written: healthJson(r, n, m) == healthParts(r, m).answering().with(quoted ids).
// Bounds of what a health message says of its tool list's verdict (docs/PROTOCOL.md).
constexpr size_t kHealthDriftNames = 20;  // per list of tools_drift, with its count
constexpr size_t kHealthFindings = 10;    // of tools_findings, with tools_findings_count

struct HealthParts {
  std::string head;
  std::string tail;  // ends with '}'
  // `truncated`: `check *` ids left out ("command_ids_truncated"; 0: the field is absent).
  // Takes the parts over (no copy of the text: a publish per check).
  Answering answering(size_t truncated = 0) &&;
};
HealthParts healthParts(const scheduler::CheckReport& report, std::string_view checkedBy);

struct ToolsDiff {
  std::vector<std::string> added, removed, changed;
};
// The tools of one server as remembered between checks: names and per-tool digests, sorted by
// name (the raw lists live in Redis only). Packed (one string of names, their end offsets, the
// digests): 10,000 servers of 20 tools keep 200,000 entries. A digest is a 64-bit keyed hash
// (SipHash, a random key per process) of the tool's SHA-256, not the SHA-256 itself: 8 bytes, not
// 32 (4.8 MB at 200,000 tools), and a server cannot make a change collide without the key.
class ToolHashes {
 public:
  ToolHashes() = default;
  explicit ToolHashes(const std::vector<mcp::Tool>& tools);

  size_t size() const { return digests_.size(); }
  std::string_view name(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(names_).substr(begin, ends_[i] - begin);
  }
  uint64_t digest(size_t i) const { return digests_[i]; }

 private:
  std::string names_;
  std::vector<uint32_t> ends_;
  std::vector<uint64_t> digests_;
};
ToolsDiff diffTools(const ToolHashes& before, const ToolHashes& after);

Numbered toolsEventJson(const std::string& serverId, const std::string& toolsHash, size_t toolCount,
                        const ToolsDiff& diff, int64_t discoveredAtWallMs);
// `verdict`: the lint findings of this list (all that were kept: at most
// baseline::kMaxFindings, with their count), null without one.
// `mac`: the daemon's MAC of (server id, tools_hash) (baseline::snapshotMacMessage), "" for none.
Numbered toolsSnapshotJson(const std::string& serverId, const std::string& toolsHash,
                           int64_t discoveredAtWallMs, const std::vector<mcp::Tool>& tools,
                           const baseline::Verdict* verdict = nullptr, std::string_view mac = {});
// On <prefix>tools when a server's tool set enters `drifted`: the whole drift, numbered with
// the seq of the health message of the check that found it.
Numbered driftJson(const std::string& serverId, const std::string& toolsHash,
                   const baseline::Verdict& verdict, int64_t detectedAtWallMs);
Answering removedJson(const std::string& serverId, int64_t atWallMs, size_t truncated = 0);
// Answers a `check *` once every server it named has a result (or was removed).
std::string commandDoneJson(const std::string& commandId, const std::string& op, size_t servers,
                            int64_t atWallMs);
// The same message with `servers` left out, for a script that adds up the parts of a `check *`
// split among cluster members: head + servers + tail.
Numbered commandDoneParts(const std::string& commandId, const std::string& op, int64_t atWallMs);
// The answer to a command that could not be carried out.
std::string commandErrorJson(const std::string& commandId, const std::string& op,
                             const std::string& serverId, const std::string& message,
                             int64_t atWallMs);

}  // namespace mcphd::publish
