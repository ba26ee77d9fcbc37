#include "registry/validate.hpp"

#include <algorithm>
#include <cctype>

#include "common/utf8.hpp"

namespace mcphd::registry {

namespace {

bool isHttpUrl(const std::string& url) {
  return url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
}

bool oneLine(std::string_view value) {
  return value.find_first_of("\r\n") == std::string_view::npos;
}

std::optional<SettingError> headerError(const char* field, std::string_view name,
                                        std::string_view value) {
  if (!isHeaderName(name)) {
    return SettingError{field,
                        "'" + std::string(name.substr(0, 64)) + "' is not a valid header name"};
  }
  if (!oneLine(value)) {
    return SettingError{field, "the value of " + std::string(name) + " cannot contain line breaks"};
  }
  return std::nullopt;
}

}  // namespace

bool isServerId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
}

bool isHeaderName(std::string_view s) {
  return !s.empty() && s.size() <= 256 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("!#$%&'*+.^_`|~-").find(c) != std::string_view::npos;
  });
}

std::optional<SettingError> validateServer(const ServerSpec& s) {
  if (!isServerId(s.id)) {
    return SettingError{"id", "must match [A-Za-z0-9._-]{1,128}"};
  }
  // The name goes into every health message and onto the dashboard.
  if (s.name.size() > kMaxNameBytes || !validUtf8(s.name) ||
      std::any_of(s.name.begin(), s.name.end(),
                  [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; })) {
    return SettingError{"name", "must be UTF-8 text of at most " + std::to_string(kMaxNameBytes) +
                                    " bytes without control characters"};
  }
  if (s.transport == Transport::kStdio) {
    if (s.command.empty()) {
      return SettingError{"command", "is required for transport stdio"};
    }
  } else {
    if (s.url.empty()) {
      return SettingError{"url", "is required"};
    }
    if (!isHttpUrl(s.url)) {
      return SettingError{"url", "must be an http:// or https:// URL"};
    }
  }
  for (const auto& [name, value] : s.headers) {
    if (auto e = headerError("headers", name, value)) {
      return e;
    }
  }
  for (const auto& [name, value] : s.auth.headers) {
    if (auto e = headerError("auth.headers", name, value.reveal())) {
      return e;
    }
  }
  if (s.auth.type == AuthType::kOAuth2 && !s.auth.oauth2.tokenUrl.empty() &&
      !isHttpUrl(s.auth.oauth2.tokenUrl)) {
    return SettingError{"token_url", "must be an http:// or https:// URL"};
  }
  return validateSchedule(s);
}

std::optional<SettingError> validateSchedule(const ServerSpec& s) {
  if (s.timeoutMs >= s.intervalMs) {
    return SettingError{"timeout", "must be shorter than interval (timeout " +
                                       std::to_string(s.timeoutMs) + " ms, interval " +
                                       std::to_string(s.intervalMs) + " ms)"};
  }
  if (s.maxBackoffMs < s.unhealthyIntervalMs) {
    return SettingError{"max_backoff", "must not be shorter than unhealthy_interval"};
  }
  if (s.healthyThreshold < 1 || s.unhealthyThreshold < 1) {
    return SettingError{s.healthyThreshold < 1 ? "healthy_threshold" : "unhealthy_threshold",
                        "must be at least 1"};
  }
  if (s.maxBody < 1024) {
    return SettingError{"max_body", "must be at least 1KiB"};
  }
  if (s.maxTools < 1) {
    return SettingError{"max_tools", "must be at least 1"};
  }
  if (s.maxToolsBytes < 1024) {
    return SettingError{"max_tools_bytes", "must be at least 1KiB"};
  }
  return std::nullopt;
}

}  // namespace mcphd::registry
