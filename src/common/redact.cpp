#include "common/redact.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>

#include "common/json_writer.hpp"

namespace mcphd {

void redact(std::string& text, std::string_view secret) {
  if (secret.size() < 4) {
    return;
  }
  for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "[redacted]");
    pos += 10;
  }
}

namespace {

std::string percentEncode(std::string_view s, bool plusForSpace, bool lowerHex) {
  const char* hex = lowerHex ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ' && plusForSpace) {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// base64 (either alphabet, padding optional) decoded, or "" when it is not base64.
std::string decodeBase64(std::string_view text) {
  std::string out(text.size(), '\0');
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
                      sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING}) {
    size_t len = 0;
    const char* end = nullptr;
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                          text.size(), nullptr, &len, &end, variant) == 0 &&
        end == text.data() + text.size()) {
      out.resize(len);
      return out;
    }
  }
  wipeString(out);
  return "";
}

}  // namespace

void Redactor::addForm(std::string form) {
  if (form.size() < 4) {
    wipeString(form);
    return;
  }
  Secret s(std::move(form));
  if (std::find(forms_.begin(), forms_.end(), s) != forms_.end()) {
    return;
  }
  // Longest first: a shorter form must not break a longer one before it is found.
  auto at = std::find_if(forms_.begin(), forms_.end(), [&](const Secret& f) {
    return f.reveal().size() < s.reveal().size();
  });
  forms_.insert(at, std::move(s));
}

void Redactor::add(std::string_view secret) {
  if (secret.size() < 4) {
    return;
  }
  addForm(std::string(secret));
  addForm(percentEncode(secret, true, false));
  addForm(percentEncode(secret, false, false));
  addForm(percentEncode(secret, true, true));
  addForm(percentEncode(secret, false, true));
  std::string quoted;
  json::appendString(quoted, secret);
  std::string inner = quoted.substr(1, quoted.size() - 2);
  wipeString(quoted);
  std::string slashed;
  for (char c : inner) {
    slashed += c == '/' ? std::string("\\/") : std::string(1, c);
  }
  addForm(std::move(inner));
  addForm(std::move(slashed));
  // Encoders that escape every non-ASCII character (and <, >, & as Go's does) as \uXXXX.
  std::string ascii;
  for (size_t i = 0; i < secret.size();) {
    auto c = static_cast<unsigned char>(secret[i]);
    uint32_t cp = c;
    size_t n = 1;
    if (c >= 0xF0 && i + 3 < secret.size()) {
      cp = ((c & 0x07u) << 18) | ((secret[i + 1] & 0x3Fu) << 12) | ((secret[i + 2] & 0x3Fu) << 6) |
           (secret[i + 3] & 0x3Fu);
      n = 4;
    } else if (c >= 0xE0 && i + 2 < secret.size()) {
      cp = ((c & 0x0Fu) << 12) | ((secret[i + 1] & 0x3Fu) << 6) | (secret[i + 2] & 0x3Fu);
      n = 3;
    } else if (c >= 0xC0 && i + 1 < secret.size()) {
      cp = ((c & 0x1Fu) << 6) | (secret[i + 1] & 0x3Fu);
      n = 2;
    }
    auto hex4 = [&ascii](uint32_t u) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      ascii += buf;
    };
    if (cp >= 0x10000) {
      hex4(0xD800 + ((cp - 0x10000) >> 10));
      hex4(0xDC00 + ((cp - 0x10000) & 0x3FF));
    } else if (cp >= 0x80 || c == '<' || c == '>' || c == '&') {
      hex4(cp);
    } else if (c == '"' || c == '\\') {
      ascii += '\\';
      ascii += static_cast<char>(c);
    } else if (c < 0x20) {
      hex4(c);
    } else {
      ascii += static_cast<char>(c);
    }
    i += n;
  }
  addForm(std::move(ascii));
}

void Redactor::addHeaderValue(std::string_view value) {
  add(value);
  size_t space = value.find(' ');
  if (space == std::string_view::npos) {
    return;
  }
  std::string_view scheme = value.substr(0, space);
  std::string_view param = value.substr(space + 1);
  add(param);  // "Bearer <token>", "Basic <credentials>"
  if (scheme.size() == 5 && std::equal(scheme.begin(), scheme.end(), "basic",
                                       [](char a, char b) { return std::tolower(a) == b; })) {
    std::string pair = decodeBase64(param);
    add(pair);
    if (size_t colon = pair.find(':'); colon != std::string::npos) {
      add(std::string_view(pair).substr(colon + 1));  // the password alone
    }
    wipeString(pair);
  }
}

void Redactor::apply(std::string& text) const {
  for (const auto& f : forms_) {
    redact(text, f.reveal());
  }
}

}  // namespace mcphd
