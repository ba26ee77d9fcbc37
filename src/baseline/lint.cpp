#include "baseline/lint.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "common/json_writer.hpp"
#include "common/utf8.hpp"

namespace mcphd::baseline {

namespace {

constexpr size_t kMaxPath = 120;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f'; }

// Lower-cased ASCII, runs of white space (a no-break space too) as one space, a curly
// apostrophe as a straight one, hidden characters dropped: what a phrase is matched against.
std::string folded(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      size_t len = 1;
      if (hiddenCodePoint(s, i, &len) != 0) {
        i += len - 1;
        continue;  // "ign\u200bore previous instructions" reads as the phrase it hides
      }
      if (s.substr(i, 2) == "\xc2\xa0") {
        c = ' ';
        i += 1;
      } else if (s.substr(i, 3) == "\xe2\x80\x99" || s.substr(i, 3) == "\xe2\x80\x98") {
        c = '\'';
        i += 2;
      }
    }
    if (isSpace(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) {
      out += ' ';
    }
    space = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

std::string codePointName(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

}  // namespace

const char* hiddenKind(char32_t cp) {
  if (cp >= 0xE0000 && cp <= 0xE007F) {
    return "a tag character";
  }
  if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
      cp == 0x200F || cp == 0x061C) {
    return "a bidirectional control";
  }
  if ((cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || cp == 0xFEFF) {
    return "a zero-width character";
  }
  if ((cp >= 0x2061 && cp <= 0x2064) || cp == 0x00AD || cp == 0x180E ||
      (cp >= 0xE0100 && cp <= 0xE01EF)) {
    // Invisible operators, the soft hyphen, the Mongolian vowel separator, and the variation
    // selectors that nothing draws (the supplement; U+FE00-U+FE0F dress emoji, so they stay).
    return "an invisible character";
  }
  return nullptr;
}

namespace {

// A key as it may appear in a path: printable ASCII only (a key may itself hide characters).
std::string pathPart(std::string_view key) {
  std::string out;
  for (char c : key.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

std::string cut(std::string s, size_t max) {
  truncateUtf8(s, max);
  return s;
}

// Walks every string of one tool definition (keys included), noting the first hidden code point
// and the first instruction phrase, and how many of each there are.
class Walker {
 public:
  void walk(simdjson::dom::element e, const std::string& path) {
    switch (e.type()) {
      case simdjson::dom::element_type::OBJECT: {
        simdjson::dom::object obj;
        if (e.get(obj) != simdjson::SUCCESS) {
          return;
        }
        for (auto field : obj) {
          std::string p = path.empty() ? pathPart(field.key) : path + "." + pathPart(field.key);
          if (p.size() > kMaxPath) {
            p.resize(kMaxPath);
          }
          text(field.key, p + " (a key)");
          walk(field.value, p);
        }
        return;
      }
      case simdjson::dom::element_type::ARRAY: {
        simdjson::dom::array arr;
        if (e.get(arr) != simdjson::SUCCESS) {
          return;
        }
        size_t i = 0;
        for (auto item : arr) {
          std::string p = path + "[" + std::to_string(i++) + "]";
          if (p.size() > kMaxPath) {
            p.resize(kMaxPath);
          }
          walk(item, p);
        }
        return;
      }
      case simdjson::dom::element_type::STRING: {
        std::string_view s;
        if (e.get(s) == simdjson::SUCCESS) {
          text(s, path);
        }
        return;
      }
      default:
        return;
    }
  }

  size_t hidden = 0;
  char32_t firstHidden = 0;
  std::string hiddenAt;
  size_t phrases = 0;
  std::string_view firstPhrase;
  std::string phraseAt;

 private:
  void text(std::string_view s, const std::string& path) {
    for (size_t i = 0; i < s.size();) {
      size_t len = 1;
      if (char32_t cp = hiddenCodePoint(s, i, &len); cp != 0) {
        if (hidden++ == 0) {
          firstHidden = cp;
          hiddenAt = path;
        }
      }
      i += len;
    }
    const std::string f = folded(s);
    for (std::string_view phrase : modelInstructionPhrases()) {
      if (f.find(phrase) != std::string::npos) {
        if (phrases++ == 0) {
          firstPhrase = phrase;
          phraseAt = path;
        }
      }
    }
  }
};

}  // namespace

const std::vector<std::string_view>& modelInstructionPhrases() {
  // Phrases from published tool-poisoning examples: text that addresses the model and asks it to
  // do something the user did not ask for, or to keep it from the user.
  static const std::vector<std::string_view> kPhrases = {
      "<important>",
      "</important>",
      "<system>",
      "ignore previous instructions",
      "ignore all previous instructions",
      "ignore the previous instructions",
      "ignore prior instructions",
      "disregard previous instructions",
      "disregard all previous instructions",
      "do not tell the user",
      "don't tell the user",
      "do not inform the user",
      "do not mention this",
      "without telling the user",
      "without informing the user",
      "hide this from the user",
      "the user must not know",
      "before using this tool, read",
  };
  return kPhrases;
}

bool validToolName(std::string_view name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

char32_t hiddenCodePoint(std::string_view s, size_t i, size_t* len) {
  *len = 1;
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = byte(0);
  if (c < 0x80) {
    return 0;
  }
  size_t n = 0;
  char32_t cp = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1Fu;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0Fu;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07u;
  } else {
    return 0;  // a stray continuation byte: not valid UTF-8, nothing decoded
  }
  if (i + n > s.size()) {
    return 0;  // cut short
  }
  for (size_t k = 1; k < n; ++k) {
    if ((byte(k) & 0xC0) != 0x80) {
      return 0;  // not a continuation byte: not valid UTF-8
    }
    cp = (cp << 6) | (byte(k) & 0x3Fu);
  }
  *len = n;
  return hiddenKind(cp) != nullptr ? cp : 0;
}

void appendFindingsJson(std::string& out, const std::vector<Finding>& findings, size_t max) {
  out += '[';
  for (size_t i = 0; i < findings.size() && i < max; ++i) {
    if (i > 0) {
      out += ',';
    }
    out += "{\"tool\":";
    json::appendString(out, findings[i].tool);
    out += ",\"code\":";
    json::appendString(out, findings[i].code);
    out += ",\"detail\":";
    json::appendString(out, findings[i].detail);
    out += '}';
  }
  out += ']';
}

std::vector<Finding> lintTools(const std::vector<mcp::Tool>& tools, size_t* total,
                               std::map<std::string, size_t>* byCode) {
  std::vector<Finding> out;
  size_t count = 0;
  const auto add = [&](const mcp::Tool& t, std::string_view code, std::string detail) {
    ++count;
    if (byCode != nullptr) {
      ++(*byCode)[std::string(code)];
    }
    if (out.size() < kMaxFindings) {
      out.push_back({cut(t.name, 128), std::string(code), cut(std::move(detail), kMaxDetail)});
    }
  };
  std::set<std::string_view> seen;
  std::set<std::string_view> reported;
  simdjson::dom::parser parser;
  for (const auto& t : tools) {
    if (!validToolName(t.name)) {
      add(t, kInvalidName,
          t.name.empty() ? std::string("the name is empty")
          : t.name.size() > 128
              ? "the name is " + std::to_string(t.name.size()) + " bytes (at most 128)"
              : std::string("the name has characters outside A-Z a-z 0-9 _ - ."));
    }
    if (!seen.insert(t.name).second && reported.insert(t.name).second) {
      add(t, kDuplicateName, "the server lists this name more than once");
    }
    simdjson::dom::element doc;
    if (parser.parse(t.raw().data(), t.raw().size()).get(doc) != simdjson::SUCCESS ||
        doc.type() != simdjson::dom::element_type::OBJECT) {
      continue;
    }
    // Every field, not the first of each name: a definition may repeat a key, and readers differ
    // on which one counts (the tool name here is the first "name"; many clients take the last).
    size_t names = 0;
    size_t largest = 0;
    simdjson::dom::object fields;
    if (doc.get(fields) == simdjson::SUCCESS) {
      for (auto field : fields) {
        std::string_view text;
        if (field.key == "name") {
          ++names;
        } else if (field.key == "description" && field.value.get(text) == simdjson::SUCCESS) {
          largest = std::max(largest, text.size());
        }
      }
    }
    if (names > 1) {
      add(t, kInvalidName,
          "the definition has " + std::to_string(names) +
              " name fields: which one a client "
              "reads is not defined");
    }
    if (largest > kMaxDescription) {
      add(t, kOversizedDescription,
          "the description is " + std::to_string(largest) + " bytes (at most " +
              std::to_string(kMaxDescription) + ")");
    }
    Walker w;
    w.walk(doc, "");
    if (w.hidden > 0) {
      add(t, kHiddenUnicode,
          std::to_string(w.hidden) + " invisible or direction-changing characters; the first, " +
              codePointName(w.firstHidden) + " (" + hiddenKind(w.firstHidden) + "), in " +
              w.hiddenAt);
    }
    if (w.phrases > 0) {
      add(t, kModelInstruction,
          "\"" + std::string(w.firstPhrase) + "\" in " + w.phraseAt +
              (w.phrases > 1 ? " (and " + std::to_string(w.phrases - 1) + " more)" : ""));
    }
  }
  if (total != nullptr) {
    *total = count;
  }
  return out;
}

}  // namespace mcphd::baseline
