#include "ctl/views.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>

#include "auth/key_ring.hpp"
#include "baseline/lint.hpp"
#include "common/json_writer.hpp"

namespace mcphd::ctl {
namespace {

constexpr size_t kMaxErrorColumn = 100;

struct Parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
  explicit Parsed(std::string_view s) {
    ok = parser.parse(s.data(), s.size()).get(root) == simdjson::SUCCESS;
  }
};

using Element = simdjson::simdjson_result<simdjson::dom::element>;

// Field `key` of an object as text ("" when absent, null, or `e` is no object; JSON for anything
// but a string). Takes the lookup's result, so a missing parent is an error code, never thrown.
std::string field(Element e, const char* key) {
  simdjson::dom::element v;
  if (e[key].get(v) != simdjson::SUCCESS || v.is_null()) {
    return "";
  }
  std::string_view s;
  return v.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : simdjson::minify(v);
}
std::string field(simdjson::dom::element e, const char* key) {
  return field(Element(std::move(e)), key);
}
std::string errorText(Element e);
std::string errorText(simdjson::dom::element e) { return errorText(Element(std::move(e))); }

// "kind: message" of a snapshot's or message's `error`, "" when it has none.
std::string errorText(Element e) {
  simdjson::dom::element err;
  if (e["error"].get(err) != simdjson::SUCCESS || err.is_null()) {
    return "";
  }
  return field(err, "kind") + ": " + field(err, "message");
}

std::string formatted(const char* format, auto... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string out(static_cast<size_t>(std::max(n, 0)), '\0');
  std::snprintf(out.data(), out.size() + 1, format, args...);
  return out;
}

// A value shown in a table cell: on one line, at most `max` bytes, control characters escaped.
std::string cell(std::string s, size_t max = std::string::npos) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  std::replace(s.begin(), s.end(), '\r', ' ');
  return printable(s.substr(0, max));
}

}  // namespace

std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    const bool c1 = c == 0xc2 && i + 1 < text.size() &&
                    static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                    static_cast<unsigned char>(text[i + 1]) <= 0x9f;
    size_t len = 1;
    if (c >= 0xc2) {
      // Invisible or direction-changing characters (bidi overrides, zero-width, tags): a name
      // holding one would show as another, or turn the rest of the line around.
      if (const char32_t cp = baseline::hiddenCodePoint(text, i, &len); cp != 0) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\u{%X}", static_cast<unsigned>(cp));
        out += buf;
        i += len - 1;
        continue;
      }
    }
    if (c < 0x20 || c == 0x7f || c1) {
      const auto shown = c1 ? static_cast<unsigned char>(text[++i]) : c;
      out += "\\x";
      out += kHex[shown >> 4];
      out += kHex[shown & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string asJson(std::string_view text) {
  Parsed p(text);
  return p.ok ? simdjson::minify(p.root) : json::quote(text);
}

std::string sealedKeyId(std::string_view blob) {
  if (blob.size() < 4 || (blob.substr(0, 3) != "v1." && blob.substr(0, 3) != "v2.")) {
    return "?";
  }
  std::string_view id = blob.substr(3, blob.find('.', 3) - 3);
  return auth::isKeyId(id) ? std::string(id) : "?";
}

namespace {

// messageLine before control characters are escaped.
std::string rawMessageLine(std::string_view payload) {
  Parsed p(payload);
  if (!p.ok) {
    return std::string(payload);
  }
  const std::string type = field(p.root, "type");
  const std::string id = field(p.root, "server_id");
  if (type == "health") {
    std::string line = field(p.root, "checked_at") + "  " + id + "  " + field(p.root, "status");
    if (field(p.root, "changed") == "true") {
      line += " (was " + field(p.root, "previous_status") + ")";
    }
    line += "  " + field(p.root["latency_ms"], "total") + " ms";
    if (std::string tools = field(p.root, "tool_count"); !tools.empty()) {
      line += "  " + tools + " tools";
    }
    if (std::string approval = field(p.root, "tools_approval");
        !approval.empty() && approval != "approved") {
      line += "  tools " + approval;
    }
    if (std::string err = errorText(p.root); !err.empty()) {
      line += "  " + err;
    }
    return line;
  }
  if (type == "tools") {
    return field(p.root, "discovered_at") + "  " + id + "  tools: +" + field(p.root, "added") +
           " -" + field(p.root, "removed") + " ~" + field(p.root, "changed");
  }
  if (type == "drift") {
    return field(p.root, "detected_at") + "  " + id + "  drift from the approved tools: +" +
           field(p.root, "added") + " -" + field(p.root, "removed") + " ~" +
           field(p.root, "changed");
  }
  if (type == "removed") {
    return field(p.root, "removed_at") + "  " + id + "  removed";
  }
  if (type == "command_error") {
    return field(p.root, "at") + "  command " + field(p.root, "command_id") +
           " failed: " + field(p.root, "error");
  }
  if (type == "command_done") {
    return field(p.root, "at") + "  command " + field(p.root, "command_id") +
           " done: " + field(p.root, "servers") + " servers";
  }
  return std::string(payload);
}

}  // namespace

std::string messageLine(std::string_view payload) { return printable(rawMessageLine(payload)); }

std::string ago(std::string_view rfc3339, std::time_t now) {
  if (rfc3339.size() < 19) {
    return "-";
  }
  struct tm tm {};
  const std::string head(rfc3339.substr(0, 19));
  if (strptime(head.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) {
    return std::string(rfc3339);
  }
  const long secs = std::max(0L, static_cast<long>(now - timegm(&tm)));
  if (secs < 120) {
    return std::to_string(secs) + "s ago";
  }
  if (secs < 7200) {
    return std::to_string(secs / 60) + "m ago";
  }
  return std::to_string(secs / 3600) + "h ago";
}

std::string listTable(const ServerRows& rows, std::time_t now) {
  const char* format = "%-24s %-10s %-9s %-10s %9s %6s  %s\n";
  std::string out =
      formatted(format, "ID", "STATUS", "SINCE", "CHECKED", "LATENCY", "TOOLS", "ERROR");
  for (const auto& [id, row] : rows) {
    Parsed p(row.snapshot);
    if (!p.ok) {
      out += formatted(format, cell(id).c_str(), "unknown", "-", "-", "-", "-",
                       row.snapshot.empty() ? "" : "(status is not JSON)");
      continue;
    }
    const std::string tools = field(p.root, "tool_count");
    out += formatted(format, cell(id).c_str(), cell(field(p.root, "status")).c_str(),
                     cell(ago(field(p.root, "status_since"), now)).c_str(),
                     cell(ago(field(p.root, "checked_at"), now)).c_str(),
                     cell(field(p.root["latency_ms"], "total") + "ms").c_str(),
                     tools.empty() ? "-" : cell(tools).c_str(),
                     cell(errorText(p.root), kMaxErrorColumn).c_str());
  }
  return out;
}

std::string listJson(const ServerRows& rows) {
  std::string out = "[";
  for (const auto& [id, row] : rows) {
    if (out.size() > 1) {
      out += ',';
    }
    out += "{\"server_id\":" + json::quote(id) +
           ",\"registered\":" + (row.registered ? "true" : "false") +
           ",\"status\":" + (row.snapshot.empty() ? "null" : asJson(row.snapshot)) + "}";
  }
  return out + "]";
}

std::string showText(const ServerView& v) {
  std::string out;
  if (v.record.empty()) {
    out += "record: none in Redis (a config-file server, or not registered)\n";
  } else {
    out += "record " + printable(v.recordKey) + ":\n";
    for (const auto& [name, value] : v.record) {
      const std::string shown = name == "credentials"
                                    ? "<encrypted, key " + sealedKeyId(value) + ", " +
                                          std::to_string(value.size()) + " bytes>"
                                    : printable(value);
      out += formatted("  %-28s %s\n", printable(name).c_str(), shown.c_str());
    }
  }
  out += "status: " + printable(v.snapshot.value_or("none yet")) + "\n";
  if (v.tools) {
    Parsed p(*v.tools);
    simdjson::dom::array arr;
    if (p.ok && p.root["tools"].get_array().get(arr) == simdjson::SUCCESS) {
      out += "tools (" + std::to_string(arr.size()) + "):";
      for (auto t : arr) {
        out += " " + printable(field(t, "name"));
      }
      out += "\n";
    }
  }
  return out;
}

std::string showJson(const ServerView& v) {
  std::string out = "{\"server_id\":" + json::quote(v.id) + ",\"record\":";
  if (v.record.empty()) {
    out += "null";
  } else {
    out += '{';
    for (const auto& [name, value] : v.record) {
      if (out.back() != '{') {
        out += ',';
      }
      out += json::quote(name) + ':';
      out += name == "credentials" ? "{\"key_id\":" + json::quote(sealedKeyId(value)) +
                                         ",\"bytes\":" + std::to_string(value.size()) + "}"
                                   : json::quote(value);
    }
    out += '}';
  }
  out += ",\"status\":" + (v.snapshot ? asJson(*v.snapshot) : "null");
  out += ",\"tools\":" + (v.tools ? asJson(*v.tools) : "null");
  return out + "}";
}

Outcome<std::string> toolsTable(std::string_view toolsJson) {
  Parsed p(toolsJson);
  simdjson::dom::array arr;
  if (!p.ok || p.root["tools"].get_array().get(arr) != simdjson::SUCCESS) {
    return failure("the stored tool list is not valid");
  }
  std::string out;
  for (auto t : arr) {
    out += formatted("%-40s %s\n", cell(field(t, "name")).c_str(),
                     cell(field(t, "description"), kMaxErrorColumn).c_str());
  }
  return out;
}

namespace {

// A whole number of milliseconds as stored, or nullopt.
std::optional<int64_t> millis(const std::string& v) {
  if (v.empty() || v.size() > 15 ||
      !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return std::stoll(v);
}

std::string msAgo(const std::string& at, int64_t nowMs) {
  auto ms = millis(at);
  if (!ms) {
    return "-";
  }
  const int64_t d = std::max<int64_t>(0, nowMs - *ms);
  if (d < 10'000) {
    return formatted("%.1fs ago", static_cast<double>(d) / 1000.0);
  }
  if (d < 120'000) {
    return std::to_string(d / 1000) + "s ago";
  }
  if (d < 7'200'000) {
    return std::to_string(d / 60'000) + "m ago";
  }
  return std::to_string(d / 3'600'000) + "h ago";
}

std::string timeOrNull(const std::string& at) {
  auto ms = millis(at);
  return ms ? json::quote(json::rfc3339Millis(*ms)) : "null";
}

}  // namespace

std::string membersTable(const std::vector<MemberRow>& rows, int64_t nowMs) {
  if (rows.empty()) {
    return "no live members (cluster.enabled is not set on any daemon of this Redis and prefix)\n";
  }
  const char* format = "%-32s %7s %-10s %-8s %s\n";
  std::string out = formatted(format, "MEMBER", "OWNED", "HEARTBEAT", "STARTED", "VERSION");
  for (const auto& m : rows) {
    const auto owned = millis(m.owned);
    out += formatted(format, cell(m.id).c_str(), owned ? m.owned.c_str() : "-",
                     msAgo(m.heartbeatAt, nowMs).c_str(), msAgo(m.startedAt, nowMs).c_str(),
                     cell(m.version, 40).c_str());
  }
  return out;
}

std::string membersJson(const std::vector<MemberRow>& rows, int64_t nowMs) {
  std::string out = "{\"now\":" + json::quote(json::rfc3339Millis(nowMs)) + ",\"members\":[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const MemberRow& m = rows[i];
    const auto owned = millis(m.owned);
    out += (i > 0 ? ",{" : "{");
    out += "\"member_id\":" + json::quote(m.id);
    out += ",\"owned\":" + (owned ? std::to_string(*owned) : std::string("null"));
    out += ",\"heartbeat_at\":" + timeOrNull(m.heartbeatAt);
    out += ",\"started_at\":" + timeOrNull(m.startedAt);
    out += ",\"expires_at\":" + json::quote(json::rfc3339Millis(m.expiresAtMs));
    out += ",\"version\":" + json::quote(m.version) + "}";
  }
  return out + "]}";
}

}  // namespace mcphd::ctl
