#include "common/log.hpp"

#include <cstdio>
#include <string>

namespace mcphd::log {

namespace {
Level g_level = Level::kInfo;
}

void setLevel(Level level) { g_level = level; }
Level level() { return g_level; }

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) > static_cast<int>(g_level)) {
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
