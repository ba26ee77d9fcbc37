#include "baseline/baseline.hpp"

#include <simdjson.h>

#include <algorithm>

#include "auth/key_ring.hpp"
#include "common/json_writer.hpp"
#include "common/sha256.hpp"
#include "mcp/probe_result.hpp"

namespace mcphd::baseline {

namespace {

constexpr size_t kMaxApprovedBy = 128;

void appendPart(std::string& out, std::string_view part) {
  out += std::to_string(part.size());
  out += ':';
  out += part;
}

std::string toolsJson(const std::vector<std::pair<std::string, std::string>>& tools) {
  std::string out = "[";
  for (size_t i = 0; i < tools.size(); ++i) {
    out += i == 0 ? "[" : ",[";
    json::appendString(out, tools[i].first);
    out += ',';
    json::appendString(out, tools[i].second);
    out += ']';
  }
  out += ']';
  return out;
}

// tools_hash as mcp::computeToolsHash computes it, from (name, hex hash) pairs in that order.
std::string toolsHashOf(const std::vector<std::pair<std::string, std::string>>& tools) {
  std::string material;
  for (const auto& [name, hash] : tools) {
    material += name;
    material += '\0';
    material += hash;
    material += '\n';
  }
  return sha256Hex(material);
}

bool isHexHash(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<std::vector<std::pair<std::string, std::string>>> parseTools(std::string_view text) {
  simdjson::dom::parser parser;
  simdjson::dom::array arr;
  if (parser.parse(text.data(), text.size()).get(arr) != simdjson::SUCCESS) {
    return makeError("its tools field is not a JSON array");
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto item : arr) {
    simdjson::dom::array pair;
    std::string_view name;
    std::string_view hash;
    if (item.get(pair) != simdjson::SUCCESS || pair.size() != 2 ||
        pair.at(0).get(name) != simdjson::SUCCESS || pair.at(1).get(hash) != simdjson::SUCCESS ||
        !isHexHash(hash)) {
      return makeError("its tools field holds something other than [name, sha256 hex] pairs");
    }
    out.emplace_back(std::string(name), std::string(hash));
  }
  if (!std::is_sorted(out.begin(), out.end())) {
    return makeError("its tools are not sorted by name");
  }
  return out;
}

}  // namespace

Result<Policy> parsePolicy(std::string_view text) {
  if (text == "off") {
    return Policy::kOff;
  }
  if (text == "tofu") {
    return Policy::kTofu;
  }
  if (text == "manual") {
    return Policy::kManual;
  }
  return makeError("must be off, tofu or manual");
}

Result<Action> parseAction(std::string_view text) {
  if (text == "flag") {
    return Action::kFlag;
  }
  if (text == "quarantine") {
    return Action::kQuarantine;
  }
  return makeError("must be flag or quarantine");
}

const char* policyName(Policy p) {
  switch (p) {
    case Policy::kOff:
      return "off";
    case Policy::kTofu:
      return "tofu";
    case Policy::kManual:
      return "manual";
  }
  return "?";
}

const char* actionName(Action a) { return a == Action::kQuarantine ? "quarantine" : "flag"; }

Baseline fromTools(const std::vector<mcp::Tool>& tools, std::string approvedAt,
                   std::string approvedBy) {
  Baseline b;
  for (const mcp::Tool* t : mcp::sortedByName(tools)) {
    std::string hex;
    appendHex(hex, t->hash);
    b.tools.emplace_back(t->name, std::move(hex));
    b.definitions.emplace(t->name, std::string(t->raw()));  // a name listed twice: its first
  }
  b.toolsHash = toolsHashOf(b.tools);
  b.approvedAt = std::move(approvedAt);
  b.approvedBy = std::move(approvedBy);
  return b;
}

std::string macMessage(std::string_view serverId, const Baseline& b) {
  std::string out = "mcp-healthd baseline v1\n";
  appendPart(out, serverId);
  appendPart(out, b.toolsHash);
  appendPart(out, toolsJson(b.tools));
  appendPart(out, b.approvedAt);
  appendPart(out, b.approvedBy);
  return out;
}

std::string snapshotMacMessage(std::string_view serverId, std::string_view toolsHash) {
  std::string out = "mcp-healthd tool snapshot v1\n";
  appendPart(out, serverId);
  appendPart(out, toolsHash);
  return out;
}

Result<void> sign(std::string_view serverId, Baseline& b, const auth::KeyRing& keys) {
  auto tag = keys.mac(kMacContext, macMessage(serverId, b));
  if (!tag) {
    return tag.error();
  }
  b.mac = std::move(*tag);
  return {};
}

size_t recordBytes(const Baseline& b) {
  size_t bytes = std::string_view("v1tools_hashtoolsapproved_atapproved_bymac").size() +
                 b.toolsHash.size() + toolsJson(b.tools).size() + b.approvedAt.size() +
                 b.approvedBy.size() + b.mac.size();
  for (const auto& [name, definition] : b.definitions) {
    bytes += kDefinitionPrefix.size() + name.size() + definition.size();
  }
  return bytes;
}

std::vector<std::pair<std::string, std::string>> toFields(const Baseline& b) {
  std::vector<std::pair<std::string, std::string>> out = {
      {"v", "1"},
      {"tools_hash", b.toolsHash},
      {"tools", toolsJson(b.tools)},
      {"approved_at", b.approvedAt},
      {"approved_by", b.approvedBy},
      {"mac", b.mac},
  };
  for (const auto& [name, definition] : b.definitions) {
    out.emplace_back(std::string(kDefinitionPrefix) + name, definition);
  }
  return out;
}

Result<Baseline> fromFields(std::string_view serverId,
                            const std::map<std::string, std::string>& fields,
                            const auth::KeyRing* keys) {
  const auto get = [&](const char* k) -> const std::string* {
    auto it = fields.find(k);
    return it == fields.end() ? nullptr : &it->second;
  };
  const std::string* v = get("v");
  if (v == nullptr || *v != "1") {
    return makeError("it is not a version 1 baseline (field v)");
  }
  Baseline b;
  const std::string* hash = get("tools_hash");
  const std::string* tools = get("tools");
  const std::string* at = get("approved_at");
  const std::string* by = get("approved_by");
  if (hash == nullptr || tools == nullptr || at == nullptr || by == nullptr) {
    return makeError("it lacks one of tools_hash, tools, approved_at, approved_by");
  }
  auto parsed = parseTools(*tools);
  if (!parsed) {
    return parsed.error();
  }
  b.tools = std::move(*parsed);
  b.toolsHash = *hash;
  if (toolsHashOf(b.tools) != b.toolsHash) {
    return makeError("its tools_hash is not the hash of its tools");
  }
  if (!json::parseRfc3339Millis(*at) || by->empty() || by->size() > kMaxApprovedBy) {
    return makeError("its approved_at or approved_by is malformed");
  }
  b.approvedAt = *at;
  b.approvedBy = *by;
  if (const std::string* mac = get("mac")) {
    b.mac = *mac;
  }
  if (keys != nullptr) {
    if (b.mac.empty()) {
      return makeError("it is not signed");
    }
    if (auto ok = keys->verifyMac(kMacContext, macMessage(serverId, b), b.mac); !ok) {
      return makeError(ok.error().message);
    }
  }
  for (const auto& [field, value] : fields) {
    if (field.rfind(kDefinitionPrefix, 0) != 0) {
      continue;
    }
    const std::string name = field.substr(kDefinitionPrefix.size());
    std::string hex;
    appendHex(hex, sha256(value));
    auto it = std::lower_bound(b.tools.begin(), b.tools.end(), std::make_pair(name, hex));
    if (it == b.tools.end() || it->first != name || it->second != hex) {
      return makeError("the definition of tool '" + name.substr(0, 128) +
                       "' is not the one approved");
    }
    b.definitions.emplace(name, value);
  }
  return b;
}

}  // namespace mcphd::baseline
