#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "baseline/baseline.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::baseline {

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

// The top-level keys whose values differ between two tool definitions (JSON objects), compared
// minified. A text that is not a JSON object compares as an object without keys.
std::vector<std::string> changedKeys(std::string_view approved, std::string_view current);

// `current` against `b`, by name (a name listed twice counts once, with its first definition).
// `keys` come from b.definitions, when it has the tool's.
Drift diff(const Baseline& b, const std::vector<mcp::Tool>& current);

}  // namespace mcphd::baseline
