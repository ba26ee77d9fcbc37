#pragma once

#include <string>
#include <string_view>

namespace mcphd::log {

enum class Level { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Lines go to stderr with a journald/syslog "<N>" priority prefix. Never pass a secret here.
void setLevel(Level level);
// log.format: json — one {"level","priority","message"} object per line instead of "<N>text".
void setJson(bool json);
Level level();
void write(Level level, std::string_view message);

inline void error(std::string_view m) { write(Level::kError, m); }
inline void warn(std::string_view m) { write(Level::kWarning, m); }
inline void notice(std::string_view m) { write(Level::kNotice, m); }
inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void debug(std::string_view m) { write(Level::kDebug, m); }

}  // namespace mcphd::log
