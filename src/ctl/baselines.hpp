#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "baseline/baseline.hpp"
#include "baseline/verdict.hpp"
#include "ctl/context.hpp"
#include "mcp/jsonrpc.hpp"

// mcp-healthctl tools approve | diff | lint: what they read and show, as pure functions of what
// Redis holds (whoever writes Redis may write anything: every name is shown printable).
namespace mcphd::ctl {

// A server's tool snapshot (<prefix>tools:<id>) read back: its tools_hash and its tools, each
// hashed again from the definition as stored.
struct SnapshotTools {
  std::string toolsHash;
  std::string mac;  // the daemon's MAC of (id, tools_hash); "" when it has none
  std::vector<mcp::Tool> tools;
};
Outcome<SnapshotTools> snapshotTools(std::string_view id, std::string_view json);

// What `tools diff` and `tools approve` show: the baseline (or why there is none) against the
// current tool list, one line per added, removed or changed tool.
std::string driftText(std::string_view id, const baseline::Drift& drift);
// {"added":[…],"removed":[…],"changed":[{"name":…,"keys":[…]}]}
std::string driftJson(const baseline::Drift& drift);
// The definitions of the added and changed tools of `drift`, as `tools` holds them: each on a
// line of its own, printable, cut at 2,000 bytes — what the operator approves.
std::string definitionsText(const baseline::Drift& drift, const std::vector<mcp::Tool>& tools);
// One line per finding: "  tool  code  detail".
std::string findingsText(const std::vector<baseline::Finding>& findings);
// [{"tool":…,"code":…,"detail":…}]
std::string findingsJson(const std::vector<baseline::Finding>& findings);

}  // namespace mcphd::ctl
