#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::auth {
class KeyRing;
}

namespace mcphd::baseline {

// tool_baseline: how a server's approved tool set comes about.
enum class Policy {
  kOff,     // no baseline: tools_approval is null
  kTofu,    // the first complete tool list of a server never baselined becomes its baseline
  kManual,  // none until an operator approves one
};
// on_drift / on_finding: what a drift (or a lint finding) does to the server's status.
enum class Action { kFlag, kQuarantine };

Result<Policy> parsePolicy(std::string_view text);
Result<Action> parseAction(std::string_view text);
const char* policyName(Policy p);
const char* actionName(Action a);
// Orders by strictness: off < tofu < manual; flag < quarantine. A registry record may only ask
// for a value at least as strict as the config's (docs/PROTOCOL.md).
inline bool atLeastAsStrict(Policy a, Policy b) {
  return static_cast<int>(a) >= static_cast<int>(b);
}
inline bool atLeastAsStrict(Action a, Action b) {
  return static_cast<int>(a) >= static_cast<int>(b);
}

// The tool-baseline settings of one server.
struct Settings {
  Policy policy = Policy::kTofu;
  Action onDrift = Action::kFlag;
  Action onFinding = Action::kFlag;
  bool operator==(const Settings&) const = default;
};

// An approved tool set: <prefix>baseline:<id> (docs/PROTOCOL.md).
struct Baseline {
  std::string toolsHash;  // as in health messages: over the sorted (name, tool hash) pairs
  // (name, hex sha256 of the tool's JSON) sorted by name, then hash: what the MAC covers, and
  // what tools_hash is computed from.
  std::vector<std::pair<std::string, std::string>> tools;
  // name -> the approved definition (raw JSON), for a diff; may be left out when read.
  std::map<std::string, std::string> definitions;
  std::string approvedAt;  // RFC 3339, UTC
  std::string approvedBy;  // who approved it ("tofu" when learned)
  std::string mac;         // "<key_id>.<base64url>", empty when unsigned

  bool operator==(const Baseline&) const = default;
};

// The baseline of a complete tool list, not yet signed.
Baseline fromTools(const std::vector<mcp::Tool>& tools, std::string approvedAt,
                   std::string approvedBy);

// The text the MAC is computed over: the server id and every field but the definitions (each
// is bound by its tool hash), length-prefixed.
std::string macMessage(std::string_view serverId, const Baseline& b);
inline constexpr std::string_view kMacContext = "baseline";  // crypto_kdf context, 8 characters

// A tool snapshot (<prefix>tools:<id>) carries a MAC by the daemon over the server id and its
// tools_hash: mcp-healthctl tools approve approves only a tool set the daemon itself saw (one
// written by anyone else has no MAC that verifies).
inline constexpr std::string_view kSnapshotMacContext = "snapshot";
std::string snapshotMacMessage(std::string_view serverId, std::string_view toolsHash);

// Signs `b` with the ring's active key (sets b.mac).
Result<void> sign(std::string_view serverId, Baseline& b, const auth::KeyRing& keys);

// The hash fields of a baseline record (HSET <key> field value ...): v, tools_hash, tools
// (a JSON array of [name, hash]), approved_at, approved_by, mac, and def:<name> per definition.
std::vector<std::pair<std::string, std::string>> toFields(const Baseline& b);
inline constexpr std::string_view kDefinitionPrefix = "def:";
// The bytes of toFields(b), fields and values, without building them (the definitions are
// most of it, and are not copied to be counted).
size_t recordBytes(const Baseline& b);

// A record read back (field -> value), checked: its tools_hash matches its tools, every
// definition its hash, and the MAC verifies with `keys` (unless `keys` is null: unsigned, then
// a record that carries a MAC is still read, its MAC not checked). The error says what is wrong.
Result<Baseline> fromFields(std::string_view serverId,
                            const std::map<std::string, std::string>& fields,
                            const auth::KeyRing* keys);

}  // namespace mcphd::baseline
