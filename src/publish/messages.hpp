#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::publish {

// The health message of schema v1 (docs/PROTOCOL.md) for `report` with sequence number `seq`.
std::string healthJson(const scheduler::CheckReport& report, uint64_t seq);

// A health message split around its seq, so it can be rendered once and numbered (and given the
// command ids it answers) when written: healthJson(r, n) == join(n, r.commandIds).
struct HealthParts {
  std::string head;
  std::string tail;  // ends with '}'
  // `truncated`: `check *` ids left out ("command_ids_truncated"; 0: the field is absent).
  std::string join(uint64_t seq, const std::vector<std::string>& commandIds,
                   size_t truncated = 0) const;
};

// ,"command_id":"<first>","command_ids":[...] or nothing when `ids` is empty, then
// ,"command_ids_truncated":N when `truncated` > 0.
void appendCommandIds(std::string& out, const std::vector<std::string>& ids, size_t truncated = 0);
HealthParts healthParts(const scheduler::CheckReport& report);

struct ToolsDiff {
  std::vector<std::string> added, removed, changed;
};
// The tools of one server as remembered between checks: names and per-tool hashes, sorted by
// name (the raw lists live in Redis only). Packed (one string of names, their end offsets, the
// hashes): 10,000 servers of 20 tools keep 200,000 entries.
class ToolHashes {
 public:
  ToolHashes() = default;
  explicit ToolHashes(const std::vector<mcp::Tool>& tools);

  size_t size() const { return hashes_.size(); }
  std::string_view name(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(names_).substr(begin, ends_[i] - begin);
  }
  const Sha256& hash(size_t i) const { return hashes_[i]; }

 private:
  std::string names_;
  std::vector<uint32_t> ends_;
  std::vector<Sha256> hashes_;
};
ToolsDiff diffTools(const ToolHashes& before, const ToolHashes& after);

std::string toolsEventJson(const std::string& serverId, uint64_t seq, const std::string& toolsHash,
                           size_t toolCount, const ToolsDiff& diff, int64_t discoveredAtWallMs);
std::string toolsSnapshotJson(const std::string& serverId, uint64_t seq,
                              const std::string& toolsHash, int64_t discoveredAtWallMs,
                              const std::vector<mcp::Tool>& tools);
std::string removedJson(const std::string& serverId, uint64_t seq, int64_t atWallMs,
                        const std::vector<std::string>& commandIds, size_t truncated = 0);
// Answers a `check *` once every server it named has a result (or was removed).
std::string commandDoneJson(const std::string& commandId, const std::string& op, size_t servers,
                            int64_t atWallMs);
// The answer to a command that could not be carried out.
std::string commandErrorJson(const std::string& commandId, const std::string& op,
                             const std::string& serverId, const std::string& message,
                             int64_t atWallMs);

}  // namespace mcphd::publish
