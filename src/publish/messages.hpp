#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "scheduler/scheduler.hpp"

namespace mcphd::publish {

// The health message of schema v1 (docs/PROTOCOL.md) for `report` with sequence number `seq`.
std::string healthJson(const scheduler::CheckReport& report, uint64_t seq);

// A health message split around its seq, so it can be rendered once and numbered (and given the
// command ids it answers) when written: healthJson(r, n) == join(n, r.commandIds).
struct HealthParts {
  std::string head;
  std::string tail;  // ends with '}'
  std::string join(uint64_t seq, const std::vector<std::string>& commandIds) const;
};

// ,"command_id":"<first>","command_ids":[...] or nothing when `ids` is empty.
void appendCommandIds(std::string& out, const std::vector<std::string>& ids);
HealthParts healthParts(const scheduler::CheckReport& report);

struct ToolsDiff {
  std::vector<std::string> added, removed, changed;
};
// name -> per-tool hash
using ToolHashes = std::map<std::string, std::string>;
ToolsDiff diffTools(const ToolHashes& before, const ToolHashes& after);

std::string toolsEventJson(const std::string& serverId, uint64_t seq, const std::string& toolsHash,
                           size_t toolCount, const ToolsDiff& diff, int64_t discoveredAtWallMs);
std::string toolsSnapshotJson(const std::string& serverId, uint64_t seq,
                              const std::string& toolsHash, int64_t discoveredAtWallMs,
                              const std::vector<mcp::Tool>& tools);
std::string removedJson(const std::string& serverId, uint64_t seq, int64_t atWallMs,
                        const std::vector<std::string>& commandIds);
// The answer to a command that could not be carried out.
std::string commandErrorJson(const std::string& commandId, const std::string& op, const std::string& serverId,
                             const std::string& message, int64_t atWallMs);

}  // namespace mcphd::publish
