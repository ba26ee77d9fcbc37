#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "registry/server_spec.hpp"

namespace mcphd::registry {

// A rule that a server's settings break: the field as the config file and a Redis record name it
// ("url", "timeout", "headers", "token_url", ...) and why, for the source to report where it
// has the field (a config file line, a record's field).
struct SettingError {
  std::string field;
  std::string message;
};

// [A-Za-z0-9._-]{1,128}: a server id goes into Redis keys, log lines and metric labels.
bool isServerId(std::string_view id);
// A server's display name (`name`): at most this many bytes.
inline constexpr size_t kMaxNameBytes = 256;
// An HTTP header name (RFC 9110 token), at most 256 characters.
bool isHeaderName(std::string_view name);

// The one validator of a server's settings once they are built, whatever their source: the
// config file, a Redis record, mcp-healthctl before it writes a record. The first rule broken,
// or nothing. (Each source still parses its own syntax: YAML, record strings.)
std::optional<SettingError> validateServer(const ServerSpec& spec);
// Its rules on timing and limits alone (timeout < interval, max_backoff >= unhealthy_interval,
// thresholds, sizes): what `defaults` must satisfy too.
std::optional<SettingError> validateSchedule(const ServerSpec& spec);

}  // namespace mcphd::registry
