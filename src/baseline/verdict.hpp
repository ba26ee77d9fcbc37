#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

// What the tool-baseline stage says of one check's tool list (docs/PROTOCOL.md, "Tool
// baselines"). Plain data, carried in mcp::ProbeResult: no dependency of its own.
namespace mcphd::baseline {

// One finding of the lint of a server's tool definitions.
struct Finding {
  std::string tool;    // the tool's name as the server sent it (cut to 128 bytes)
  std::string code;    // hidden_unicode, model_instruction, ... (lint.hpp)
  std::string detail;  // what and where, for a person; at most 200 bytes

  bool operator==(const Finding&) const = default;
};

struct ChangedTool {
  std::string name;
  // The top-level keys of the definition that differ (present in one only, or with different
  // values), sorted; empty when only the formatting differs, or when the approved definition is
  // not at hand.
  std::vector<std::string> keys;
  bool operator==(const ChangedTool&) const = default;
};

// A complete tool list against its baseline: each list sorted by name.
struct Drift {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<ChangedTool> changed;
  bool empty() const { return added.empty() && removed.empty() && changed.empty(); }
  bool operator==(const Drift&) const = default;
};

// tools_approval: null (kNone: tool_baseline off, or nothing known yet), or one of the others.
enum class Approval { kNone, kApproved, kDrifted, kUnapproved };
// "approved", "drifted", "unapproved"; "" for kNone (published as null).
const char* approvalName(Approval a);

struct Verdict {
  Approval approval = Approval::kNone;
  Drift drift;                    // while drifted
  bool enteredDrift = false;      // this check entered `drifted`: its drift message goes with it
  std::string baselineHash;       // the approved tools_hash, when there is a baseline
  std::vector<Finding> findings;  // at most kMaxFindings (lint.hpp)
  size_t findingsTotal = 0;
  std::map<std::string, size_t> findingCounts;  // every finding by code (the metrics)
  bool quarantine = false;  // on_drift / on_finding quarantine applies to this result
  bool operator==(const Verdict&) const = default;
};

}  // namespace mcphd::baseline
