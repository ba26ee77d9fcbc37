#include "common/log.hpp"

#include <cstdio>
#include <string>

#include "common/json_writer.hpp"

namespace mcphd::log {

namespace {
Level g_level = Level::kInfo;
bool g_json = false;

const char* levelName(Level l) {
  switch (l) {
    case Level::kError:
      return "error";
    case Level::kWarning:
      return "warning";
    case Level::kNotice:
      return "notice";
    case Level::kInfo:
      return "info";
    case Level::kDebug:
      return "debug";
  }
  return "info";
}
}  // namespace

void setLevel(Level level) { g_level = level; }
void setJson(bool json) { g_json = json; }
Level level() { return g_level; }

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) > static_cast<int>(g_level)) {
    return;
  }
  if (g_json) {
    // One JSON object per line; the string escaping also neutralises control characters.
    std::string line = "{\"level\":\"";
    line += levelName(level);
    line += "\",\"priority\":" + std::to_string(static_cast<int>(level)) + ",\"message\":";
    json::appendString(line, message);
    line += "}\n";
    std::fwrite(line.data(), 1, line.size(), stderr);
    return;
  }
  std::string line = "<" + std::to_string(static_cast<int>(level)) + ">";
  // One write per line, control characters from remote input made visible, so a hostile
  // server cannot forge log lines.
  for (char c : message) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      line += buf;
    } else {
      line += c;
    }
  }
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace mcphd::log
