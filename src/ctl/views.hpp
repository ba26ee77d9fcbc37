#pragma once

#include <cstdint>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ctl/context.hpp"

// What mcp-healthctl prints: a readable view of each thing and its JSON. Pure functions of what
// was read from Redis (whoever writes Redis may write anything: text that is not JSON is shown
// as it is, or as a JSON string, never passed on as JSON).
namespace mcphd::ctl {

// `text` with every control character (C0, DEL, C1) escaped as \xNN: whatever Redis or a server
// holds, what the operator reads on a terminal is what is there.
std::string printable(std::string_view text);

// One line for a message published on the health or tools channel: when, which server, what.
std::string messageLine(std::string_view payload);

// "42s ago", "5m ago", "3h ago" for an RFC 3339 time before `now`; "-" when absent.
std::string ago(std::string_view rfc3339, std::time_t now);

// A row of `list`: a server id, whether it is registered in Redis, and its snapshot (the JSON
// in <prefix>status, "" for none yet).
struct ServerRow {
  bool registered = false;
  std::string snapshot;
};
using ServerRows = std::map<std::string, ServerRow>;
std::string listTable(const ServerRows& rows, std::time_t now);
// [{"server_id":…,"registered":…,"status":{…}|null}, …]
std::string listJson(const ServerRows& rows);

// What `show` read: the record's fields (empty: no record), the snapshot and the stored tools.
struct ServerView {
  std::string id;
  std::string recordKey;
  std::vector<std::pair<std::string, std::string>> record;
  std::optional<std::string> snapshot;
  std::optional<std::string> tools;
};
std::string showText(const ServerView& v);
// {"server_id":…,"record":{…, "credentials":{"key_id":…,"bytes":…}}|null,"status":…,"tools":…}
std::string showJson(const ServerView& v);

// The stored tool list as "name  description" lines; a failure when it is not a tool list.
Outcome<std::string> toolsTable(std::string_view toolsJson);

// A live member of `members`, as read from <prefix>members (its expiry) and its announcement
// <prefix>member:<id> (fields as stored: whoever writes Redis may write anything).
struct MemberRow {
  std::string id;
  int64_t expiresAtMs = 0;
  std::string heartbeatAt;  // ms since the epoch, Redis's clock
  std::string startedAt;
  std::string owned;
  std::string version;
};
// `nowMs`: Redis's clock (TIME) when they were read.
std::string membersTable(const std::vector<MemberRow>& rows, int64_t nowMs);
// {"now":…,"members":[{"member_id","owned","heartbeat_at","started_at","expires_at","version"}]}
// with times in RFC 3339 (null when a field is not a number).
std::string membersJson(const std::vector<MemberRow>& rows, int64_t nowMs);

// `text` when it is valid JSON (re-minified), else the text as a JSON string.
std::string asJson(std::string_view text);
// The key id of a sealed credentials blob ("?" when it does not have the envelope's form).
std::string sealedKeyId(std::string_view blob);

}  // namespace mcphd::ctl
