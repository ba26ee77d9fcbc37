#include "publish/messages.hpp"

#include <sodium.h>

#include <array>

#include "baseline/lint.hpp"
#include "common/json_writer.hpp"
#include "common/utf8.hpp"
#include "mcp/probe_result.hpp"

namespace mcphd::publish {

namespace {

void appendStringOrNull(std::string& out, std::string_view s) {
  if (s.empty()) {
    out += "null";
  } else {
    json::appendString(out, s);
  }
}

// At most `max` names (a health message stays small; the drift message has them all).
// At most `max` names (a health message stays small; the drift message has them all), each cut
// to 128 bytes (a longer tool name is not valid anyway, and a server chooses them).
void appendSomeNames(std::string& out, const std::vector<std::string>& names, size_t max) {
  out += '[';
  for (size_t i = 0; i < names.size() && i < max; ++i) {
    if (i > 0) {
      out += ',';
    }
    json::appendString(out, truncateUtf8(std::string_view(names[i]), 128));
  }
  out += ']';
}

void appendNames(std::string& out, const std::vector<std::string>& names) {
  appendSomeNames(out, names, names.size());
}

// At most `max` changed tools, each with at most `maxKeys` keys (`keys_count` says how many).
void appendChanged(std::string& out, const std::vector<baseline::ChangedTool>& changed, size_t max,
                   size_t maxKeys) {
  out += '[';
  for (size_t i = 0; i < changed.size() && i < max; ++i) {
    if (i > 0) {
      out += ',';
    }
    out += "{\"name\":";
    json::appendString(out, truncateUtf8(std::string_view(changed[i].name), 128));
    out += ",\"keys\":";
    appendSomeNames(out, changed[i].keys, maxKeys);
    if (changed[i].keys.size() > maxKeys) {
      out += ",\"keys_count\":" + std::to_string(changed[i].keys.size());
    }
    out += '}';
  }
  out += ']';
}

// tools_approval, tools_drift (while drifted) and tools_findings of a health message.
void appendVerdict(std::string& o, const baseline::Verdict* v) {
  o += ",\"tools_approval\":";
  if (v == nullptr || v->approval == baseline::Approval::kNone) {
    o += "null";
  } else {
    json::appendString(o, baseline::approvalName(v->approval));
  }
  if (v != nullptr && v->approval == baseline::Approval::kDrifted) {
    const baseline::Drift& d = v->drift;
    o += ",\"tools_drift\":{\"added\":";
    appendSomeNames(o, d.added, kHealthDriftNames);
    o += ",\"added_count\":" + std::to_string(d.added.size());
    o += ",\"removed\":";
    appendSomeNames(o, d.removed, kHealthDriftNames);
    o += ",\"removed_count\":" + std::to_string(d.removed.size());
    o += ",\"changed\":";
    appendChanged(o, d.changed, kHealthDriftNames, kHealthDriftNames);
    o += ",\"changed_count\":" + std::to_string(d.changed.size());
    o += '}';
  }
  o += ",\"tools_findings\":";
  if (v == nullptr) {
    o += "null,\"tools_findings_count\":null";
    return;
  }
  baseline::appendFindingsJson(o, v->findings, kHealthFindings);
  o += ",\"tools_findings_count\":" + std::to_string(v->findingsTotal);
}

}  // namespace

HealthParts healthParts(const scheduler::CheckReport& r, std::string_view checkedBy) {
  const mcp::ProbeResult& p = r.probe;
  HealthParts parts;
  // Sized up front (the fixed text is about 500 bytes): built once per check, without regrowth.
  parts.head.reserve(48 + r.serverId.size());
  parts.tail.reserve(660 + r.name.size() + checkedBy.size() + p.protocolVersion.size() +
                     p.serverName.size() + p.serverVersion.size() +
                     (p.error ? p.error->message.size() : 0));
  parts.head = "{\"v\":1,\"type\":\"health\",\"server_id\":";
  json::appendString(parts.head, r.serverId);
  parts.head += ",\"seq\":";
  std::string& o = parts.tail;
  if (!r.name.empty()) {
    o += ",\"name\":";
    json::appendString(o, r.name);
  }
  o += ",\"status\":";
  json::appendString(o, scheduler::statusName(r.status));
  o += ",\"previous_status\":";
  json::appendString(o, scheduler::statusName(r.previousStatus));
  o += ",\"changed\":";
  o += r.changed ? "true" : "false";
  o += ",\"status_since\":";
  json::appendRfc3339Millis(o, r.statusSinceWallMs != 0 ? r.statusSinceWallMs : r.checkedAtWallMs);
  o += ",\"checked_at\":";
  json::appendRfc3339Millis(o, r.checkedAtWallMs);
  o += ",\"trigger\":";
  json::appendString(o, triggerName(r.trigger));
  o += ",\"checked_by\":";
  json::appendString(o, checkedBy);
  o += ",\"latency_ms\":{\"total\":";
  json::appendMillis(o, p.totalUs);
  o += ",\"connect\":";
  json::appendMillis(o, p.connectUs);
  o += ",\"initialize\":";
  json::appendMillis(o, p.initializeUs);
  o += ",\"tools_list\":";
  json::appendMillis(o, p.toolsListUs);
  o += "},\"protocol_version\":";
  appendStringOrNull(o, p.protocolVersion);
  o += ",\"server_info\":";
  if (p.initialized) {
    o += "{\"name\":";
    appendStringOrNull(o, p.serverName);
    o += ",\"version\":";
    appendStringOrNull(o, p.serverVersion);
    o += '}';
  } else {
    o += "null";
  }
  o += ",\"tool_count\":";
  o += p.toolsComplete ? std::to_string(p.tools.size()) : "null";
  o += ",\"tools_hash\":";
  appendStringOrNull(o, p.toolsComplete ? std::string_view(p.toolsHash) : std::string_view());
  // Appended in pieces: a literal + std::to_string() is a temporary that outgrows its inline
  // buffer, one allocation per field per check.
  appendVerdict(o, p.verdict.get());
  o += ",\"consecutive_failures\":";
  o += std::to_string(r.consecutiveFailures);
  o += ",\"consecutive_successes\":";
  o += std::to_string(r.consecutiveSuccesses);
  o += ",\"error\":";
  if (p.error) {
    o += "{\"kind\":";
    json::appendString(o, mcp::errorKindName(p.error->kind));
    o += ",\"message\":";
    // Probes cut messages after redacting them; this bound also holds for every other source.
    json::appendString(o, truncateUtf8(std::string_view(p.error->message), 512));
    o += ",\"http_status\":";
    o += p.error->httpStatus > 0 ? std::to_string(p.error->httpStatus) : "null";
    o += '}';
  } else {
    o += "null";
  }
  o += '}';
  return parts;
}

std::string quotedId(const std::string& id) {
  std::string out;
  json::appendString(out, id);
  return out;
}

std::string commandIdsJson(const std::vector<std::string>& quotedIds) {
  // The write scripts (write_scripts.cpp) build the same text in Lua.
  std::string out;
  if (quotedIds.empty()) {
    return out;
  }
  out += ",\"command_id\":";
  out += quotedIds.front();
  out += ",\"command_ids\":[";
  for (size_t i = 0; i < quotedIds.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += quotedIds[i];
  }
  out += ']';
  return out;
}

namespace {
std::string endOf(size_t truncated) {
  if (truncated == 0) {
    return "}";
  }
  return ",\"command_ids_truncated\":" + std::to_string(truncated) + "}";
}
}  // namespace

Numbered Answering::with(const std::vector<std::string>& quotedIds) const {
  Numbered out{head, {}};
  const std::string ids = commandIdsJson(quotedIds);
  // Sized up front: the publisher keeps the latest message of every server, and a string grown
  // by appending holds up to twice its length.
  out.tail.reserve(body.size() + ids.size() + end.size());
  out.tail += body;
  out.tail += ids;
  out.tail += end;
  return out;
}

Answering HealthParts::answering(size_t truncated) && {
  Answering out{std::move(head), std::move(tail), endOf(truncated)};
  out.body.pop_back();  // the closing brace: `end` closes the message
  return out;
}

std::string healthJson(const scheduler::CheckReport& report, uint64_t seq,
                       std::string_view checkedBy) {
  std::vector<std::string> ids;
  for (const auto& id : report.commandIds) {
    ids.push_back(quotedId(id));
  }
  return healthParts(report, checkedBy).answering().with(ids).with(seq);
}

namespace {

uint64_t keyedDigest(const Sha256& hash) {
  // One key per process: digests are only ever compared within it.
  static const auto key = [] {
    std::array<unsigned char, crypto_shorthash_KEYBYTES> k{};
    if (sodium_init() < 0) {
      // Cannot happen: libsodium initialises on any system with a random source; the key below
      // then still comes from randombytes.
    }
    crypto_shorthash_keygen(k.data());
    return k;
  }();
  std::array<unsigned char, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), hash.data(), hash.size(), key.data());
  uint64_t d = 0;
  for (unsigned char b : out) {
    d = (d << 8) | b;
  }
  return d;
}

}  // namespace

ToolHashes::ToolHashes(const std::vector<mcp::Tool>& tools) {
  const std::vector<const mcp::Tool*> sorted = mcp::sortedByName(tools);
  size_t bytes = 0;
  for (const auto& t : tools) {
    bytes += t.name.size();
  }
  names_.reserve(bytes);
  ends_.reserve(sorted.size());
  digests_.reserve(sorted.size());
  for (const mcp::Tool* t : sorted) {
    names_ += t->name;  // a complete tools/list is bounded by max_body: far below 4 GiB
    ends_.push_back(static_cast<uint32_t>(names_.size()));
    digests_.push_back(keyedDigest(t->hash));
  }
}

ToolsDiff diffTools(const ToolHashes& before, const ToolHashes& after) {
  ToolsDiff d;
  size_t b = 0;
  size_t a = 0;
  while (b < before.size() || a < after.size()) {
    if (a == after.size() || (b < before.size() && before.name(b) < after.name(a))) {
      d.removed.emplace_back(before.name(b));
      ++b;
    } else if (b == before.size() || after.name(a) < before.name(b)) {
      d.added.emplace_back(after.name(a));
      ++a;
    } else {
      if (after.digest(a) != before.digest(b)) {
        d.changed.emplace_back(after.name(a));
      }
      ++a;
      ++b;
    }
  }
  return d;
}

Numbered toolsEventJson(const std::string& serverId, const std::string& toolsHash, size_t toolCount,
                        const ToolsDiff& diff, int64_t discoveredAtWallMs) {
  Numbered n{"{\"v\":1,\"type\":\"tools\",\"server_id\":", {}};
  json::appendString(n.head, serverId);
  n.head += ",\"seq\":";
  std::string& o = n.tail;
  o += ",\"tools_hash\":";
  json::appendString(o, toolsHash);
  o += ",\"tool_count\":" + std::to_string(toolCount) + ",\"added\":";
  appendNames(o, diff.added);
  o += ",\"removed\":";
  appendNames(o, diff.removed);
  o += ",\"changed\":";
  appendNames(o, diff.changed);
  o += ",\"discovered_at\":";
  json::appendString(o, json::rfc3339Millis(discoveredAtWallMs));
  o += '}';
  return n;
}

Numbered toolsSnapshotJson(const std::string& serverId, const std::string& toolsHash,
                           int64_t discoveredAtWallMs, const std::vector<mcp::Tool>& tools,
                           const baseline::Verdict* verdict, std::string_view mac) {
  Numbered n{"{\"server_id\":", {}};
  json::appendString(n.head, serverId);
  n.head += ",\"seq\":";
  std::string& o = n.tail;
  o += ",\"tools_hash\":";
  json::appendString(o, toolsHash);
  o += ",\"discovered_at\":";
  json::appendString(o, json::rfc3339Millis(discoveredAtWallMs));
  o += ",\"tools\":[";
  for (size_t i = 0; i < tools.size(); ++i) {
    if (i > 0) {
      o += ',';
    }
    o += tools[i].raw();  // validated JSON, exactly as the server sent it
  }
  o += "],\"mac\":";
  appendStringOrNull(o, mac);
  o += ",\"findings\":";
  if (verdict == nullptr) {
    o += "null,\"findings_count\":null}";
    return n;
  }
  baseline::appendFindingsJson(o, verdict->findings, verdict->findings.size());
  o += ",\"findings_count\":" + std::to_string(verdict->findingsTotal) + '}';
  return n;
}

Numbered driftJson(const std::string& serverId, const std::string& toolsHash,
                   const baseline::Verdict& verdict, int64_t detectedAtWallMs) {
  Numbered n{"{\"v\":1,\"type\":\"drift\",\"server_id\":", {}};
  json::appendString(n.head, serverId);
  n.head += ",\"seq\":";
  std::string& o = n.tail;
  const baseline::Drift& d = verdict.drift;
  o += ",\"tools_hash\":";
  json::appendString(o, toolsHash);
  o += ",\"baseline_hash\":";
  appendStringOrNull(o, verdict.baselineHash);
  o += ",\"added\":";
  appendNames(o, d.added);
  o += ",\"removed\":";
  appendNames(o, d.removed);
  o += ",\"changed\":";
  appendChanged(o, d.changed, d.changed.size(), SIZE_MAX);
  o += ",\"quarantined\":";
  o += verdict.quarantine ? "true" : "false";
  o += ",\"detected_at\":";
  json::appendString(o, json::rfc3339Millis(detectedAtWallMs));
  o += '}';
  return n;
}

Answering removedJson(const std::string& serverId, int64_t atWallMs, size_t truncated) {
  Answering n{"{\"v\":1,\"type\":\"removed\",\"server_id\":", {}, endOf(truncated)};
  json::appendString(n.head, serverId);
  n.head += ",\"seq\":";
  n.body += ",\"removed_at\":";
  json::appendString(n.body, json::rfc3339Millis(atWallMs));
  return n;
}

Numbered commandDoneParts(const std::string& commandId, const std::string& op, int64_t atWallMs) {
  Numbered n{"{\"v\":1,\"type\":\"command_done\",\"command_id\":", ",\"at\":"};
  json::appendString(n.head, commandId);
  n.head += ",\"op\":";
  json::appendString(n.head, op);
  n.head += ",\"servers\":";
  json::appendString(n.tail, json::rfc3339Millis(atWallMs));
  n.tail += '}';
  return n;
}

std::string commandDoneJson(const std::string& commandId, const std::string& op, size_t servers,
                            int64_t atWallMs) {
  Numbered n = commandDoneParts(commandId, op, atWallMs);
  return n.head + std::to_string(servers) + n.tail;
}

std::string commandErrorJson(const std::string& commandId, const std::string& op,
                             const std::string& serverId, const std::string& message,
                             int64_t atWallMs) {
  std::string o = "{\"v\":1,\"type\":\"command_error\",\"command_id\":";
  json::appendString(o, commandId);
  o += ",\"op\":";
  json::appendString(o, op);
  o += ",\"server_id\":";
  if (serverId.empty()) {
    o += "null";
  } else {
    json::appendString(o, serverId);
  }
  o += ",\"error\":";
  json::appendString(o, message);
  o += ",\"at\":";
  json::appendString(o, json::rfc3339Millis(atWallMs));
  o += '}';
  return o;
}

}  // namespace mcphd::publish
