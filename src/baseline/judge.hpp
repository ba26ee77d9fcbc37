#pragma once

#include <optional>
#include <string>
#include <vector>

#include "baseline/baseline.hpp"
#include "baseline/verdict.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::baseline {

// The baseline record of a server as read from Redis.
struct Record {
  enum class State {
    kAbsent,   // no such key
    kInvalid,  // present, but malformed or its MAC does not verify: treated as absent, and as
               // proof that there was one
    kValid,
  };
  State state = State::kAbsent;
  Baseline baseline;   // kValid
  std::string reason;  // kInvalid: what is wrong with it
};

// What the stage knows of a server besides its record.
struct History {
  // A baseline existed: this daemon saw one (since Redis last lost its data), or the server's
  // published state says tools_approval was "approved" or "drifted" ("unapproved" proves
  // nothing: a manual server never approved says it too).
  bool hadBaseline = false;
  // This daemon saw a baseline of the server before Redis lost its data (a restart without
  // persistence): re-learning under tofu says so.
  bool lostWithRedis = false;
  Verdict previous;  // of the server's previous complete tool list
};

// The verdict on a complete tool list, and what follows from it.
struct Judgement {
  Verdict verdict;
  std::optional<Baseline> learn;  // tofu: the baseline to write (unsigned: the caller signs)
  std::string log;                // a line for the log when something worth saying happened
  std::string logLevel;           // "notice" or "warning" when `log` is set
};

// Judges `tools` (complete, with their tools_hash) of server `serverId`: compared with the
// record, linted (`findings` as lintTools gave them, with `findingsTotal`), and the quarantine
// decided by `settings`. Pure: the caller reads the record, writes what is learned, logs.
Judgement judge(const std::string& serverId, const Settings& settings,
                const std::vector<mcp::Tool>& tools, const std::string& toolsHash,
                const Record& record, const History& history, std::vector<Finding> findings,
                size_t findingsTotal, std::string nowRfc3339);

}  // namespace mcphd::baseline
