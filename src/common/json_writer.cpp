#include "common/json_writer.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace mcphd::json {

namespace {

// Length of a valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8SequenceLength(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n = 0;
  uint32_t cp = 0;
  if (c < 0x80) {
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) {
    return 0;
  }
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) {
      return 0;
    }
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  return n;
}

}  // namespace

void appendString(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
  out += '"';
}

std::string quote(std::string_view s) {
  std::string out;
  appendString(out, s);
  return out;
}

void appendMillis(std::string& out, int64_t micros) {
  if (micros < 0) {
    micros = 0;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(micros / 1000),
                static_cast<long long>(micros % 1000));
  out += buf;
}

namespace {
// Writes the RFC 3339 form of `wallMs` into `buf`; its length.
size_t formatRfc3339Millis(char (&buf)[96], int64_t wallMs) {
  time_t secs = static_cast<time_t>(wallMs / 1000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                              tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                              tm.tm_sec, static_cast<int>(wallMs % 1000));
  return n < 0 ? 0 : std::min(static_cast<size_t>(n), sizeof buf - 1);
}
}  // namespace

std::string rfc3339Millis(int64_t wallMs) {
  char buf[96];
  return std::string(buf, formatRfc3339Millis(buf, wallMs));
}

void appendRfc3339Millis(std::string& out, int64_t wallMs) {
  char buf[96];
  const size_t n = formatRfc3339Millis(buf, wallMs);
  out += '"';
  out.append(buf, n);
  out += '"';
}

std::optional<int64_t> parseRfc3339Millis(std::string_view t) {
  // 2026-11-26T14:39:12.123Z: digits where rfc3339Millis writes them, its separators between.
  static constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  if (t.size() != kShape.size()) {
    return std::nullopt;
  }
  for (size_t i = 0; i < t.size(); ++i) {
    const bool digit = t[i] >= '0' && t[i] <= '9';
    if (kShape[i] == 'd' ? !digit : t[i] != kShape[i]) {
      return std::nullopt;
    }
  }
  auto num = [&](size_t at, size_t len) {
    int v = 0;
    for (size_t i = at; i < at + len; ++i) {
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  struct tm tm {};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  const time_t secs = timegm(&tm);
  if (secs < 0) {
    return std::nullopt;
  }
  return static_cast<int64_t>(secs) * 1000 + num(20, 3);
}

}  // namespace mcphd::json
