#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "baseline/baseline.hpp"
#include "baseline/verdict.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::baseline {

// The top-level keys whose values differ between two tool definitions (JSON objects), compared
// minified. A text that is not a JSON object compares as an object without keys.
std::vector<std::string> changedKeys(std::string_view approved, std::string_view current);

// `current` against `b`, by name (a name listed twice counts once, with its first definition).
// `keys` come from b.definitions, when it has the tool's.
Drift diff(const Baseline& b, const std::vector<mcp::Tool>& current);

}  // namespace mcphd::baseline
