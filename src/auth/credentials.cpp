#include "auth/credentials.hpp"

#include <set>

#include "common/json_writer.hpp"
#include "common/utf8.hpp"

namespace mcphd::auth {

namespace {

class FlatParser {
 public:
  explicit FlatParser(std::string_view s) : s_(s) {}

  void ws() {
    while (i_ < s_.size() &&
           (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) {
      ++i_;
    }
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool peek(char c) {
    ws();
    return i_ < s_.size() && s_[i_] == c;
  }
  bool atEnd() {
    ws();
    return i_ == s_.size();
  }

  // A JSON string into `out` (reserved up front so growing leaves no stray copies).
  bool string(std::string& out) {
    if (!eat('"')) {
      return false;
    }
    out.reserve(s_.size());
    while (i_ < s_.size()) {
      char c = s_[i_++];
      if (c == '"') {
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return false;
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) {
        return false;
      }
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) {
            return false;
          }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (i_ + 1 >= s_.size() || s_[i_] != '\\' || s_[i_ + 1] != 'u') {
              return false;
            }
            i_ += 2;
            if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) {
              return false;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return false;
          }
          utf8(cp, out);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

 private:
  bool hex4(uint32_t& cp) {
    if (i_ + 4 > s_.size()) {
      return false;
    }
    cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = s_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') {
        cp |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        cp |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        cp |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }
  static void utf8(uint32_t cp, std::string& out) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  std::string_view s_;
  size_t i_ = 0;
};

Error bad(const std::string& what) { return makeError("credentials: " + what); }

}  // namespace

namespace {

bool isBoundField(const std::string& name) {
  for (const char* f : kBoundFieldNames) {
    if (name == f) {
      return true;
    }
  }
  return false;
}

// An object of strings ("headers"), after its '{' ... '}' has not been read yet.
Result<std::vector<std::pair<std::string, std::string>>> stringObject(FlatParser& p,
                                                                      const std::string& what) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!p.eat('{')) {
    return bad("'" + what + "' must be an object of strings");
  }
  if (p.eat('}')) {
    return out;
  }
  do {
    std::string name;
    std::string value;
    if (!p.string(name) || !p.eat(':') || !p.string(value)) {
      wipeString(value);
      for (auto& kv : out) {
        wipeString(kv.second);
      }
      return bad("'" + what + "' must be an object of strings");
    }
    if (!validUtf8(name) || !validUtf8(value)) {
      wipeString(value);
      for (auto& kv : out) {
        wipeString(kv.second);
      }
      return bad("'" + what + "' holds a string that is not valid UTF-8");
    }
    out.emplace_back(std::move(name), std::move(value));
  } while (p.eat(','));
  if (!p.eat('}')) {
    for (auto& kv : out) {
      wipeString(kv.second);
    }
    return bad("'" + what + "' is not closed");
  }
  return out;
}

Result<BoundFields> boundObject(FlatParser& p) {
  BoundFields b;
  if (!p.eat('{')) {
    return bad("'bound' must be an object");
  }
  if (p.eat('}')) {
    return b;
  }
  std::set<std::string> seen;
  do {
    std::string key;
    if (!p.string(key) || !p.eat(':')) {
      return bad("malformed JSON in 'bound' (expected \"field\": value)");
    }
    if (!isBoundField(key)) {
      return bad("unknown field 'bound." + (validUtf8(key) ? key.substr(0, 64) : "?") +
                 "' (known: url, transport, auth_type, oauth2_flow, token_url, resource, "
                 "audience, scopes, token_endpoint_auth_method, headers)");
    }
    if (!seen.insert(key).second) {
      return bad("field 'bound." + key + "' appears twice");
    }
    if (key == "headers") {
      auto h = stringObject(p, "bound.headers");
      if (!h) {
        return h.error();
      }
      b.headers = std::move(h.value());
      continue;
    }
    std::string value;
    if (!p.string(value)) {
      return bad("'bound." + key + "' must be a string");
    }
    if (!validUtf8(value)) {
      return bad("'bound." + key + "' is not valid UTF-8");
    }
    b.values[key] = std::move(value);
  } while (p.eat(','));
  if (!p.eat('}')) {
    return bad("'bound' is not closed");
  }
  return b;
}

}  // namespace

Result<Credentials> parseCredentials(std::string_view json) {
  FlatParser p(json);
  Credentials c;
  if (!p.eat('{')) {
    return bad("not a JSON object");
  }
  std::set<std::string> seen;
  if (!p.eat('}')) {
    do {
      std::string key;
      if (!p.string(key) || !p.eat(':')) {
        return bad("malformed JSON (expected \"field\": value)");
      }
      if (!validUtf8(key)) {
        return bad("a field name is not valid UTF-8");
      }
      if (!seen.insert(key).second) {
        return bad("field '" + key.substr(0, 64) + "' appears twice");
      }
      if (key == "headers") {
        auto h = stringObject(p, "headers");
        if (!h) {
          return h.error();
        }
        for (auto& [name, value] : h.value()) {
          c.headers.emplace_back(name, Secret(std::move(value)));
          wipeString(value);
        }
        continue;
      }
      if (key == "bound") {
        auto b = boundObject(p);
        if (!b) {
          return b.error();
        }
        c.bound = std::move(b.value());
        continue;
      }
      std::string value;
      if (!p.string(value)) {
        wipeString(value);
        return bad("'" + key.substr(0, 64) + "' must be a string");
      }
      if (!validUtf8(value)) {
        wipeString(value);
        return bad("'" + key.substr(0, 64) + "' is not valid UTF-8");
      }
      if (key == "client_id") {
        c.clientId = std::move(value);
      } else if (key == "client_secret") {
        c.clientSecret = Secret(std::move(value));
      } else if (key == "private_key_pem") {
        c.privateKeyPem = Secret(std::move(value));
      } else if (key == "bearer_token") {
        c.bearerToken = Secret(std::move(value));
      } else if (key == "refresh_token") {
        c.refreshToken = Secret(std::move(value));
      } else if (key == "username") {
        c.username = std::move(value);
      } else if (key == "password") {
        c.password = Secret(std::move(value));
      } else {
        wipeString(value);
        return bad(
            "unknown field '" + key.substr(0, 64) +
            "' (known: client_id, client_secret, private_key_pem, bearer_token, refresh_token, "
            "username, password, headers, bound)");
      }
    } while (p.eat(','));
    if (!p.eat('}')) {
      return bad("malformed JSON (expected , or })");
    }
  }
  if (!p.atEnd()) {
    return bad("trailing data after the object");
  }
  return c;
}

std::string encodeCredentials(const Credentials& c) {
  // Reserved up front: growing the buffer would leave copies of secrets in freed memory.
  size_t need = 256 + c.clientId.size() + c.username.size() + c.clientSecret.reveal().size() +
                c.privateKeyPem.reveal().size() + c.bearerToken.reveal().size() +
                c.refreshToken.reveal().size() + c.password.reveal().size();
  for (const auto& [name, value] : c.headers) {
    need += 16 + name.size() + value.reveal().size();
  }
  if (c.bound) {
    need += 256;
    for (const auto& [name, value] : c.bound->values) {
      need += 8 + name.size() + value.size();
    }
    if (c.bound->headers) {
      for (const auto& [name, value] : *c.bound->headers) {
        need += 8 + name.size() + value.size();
      }
    }
  }
  std::string out;
  out.reserve(need * 6);  // worst case: every byte escaped as \u00XX
  out += '{';
  auto field = [&](const char* name, std::string_view value) {
    if (value.empty()) {
      return;
    }
    if (out.size() > 1) {
      out += ',';
    }
    json::appendString(out, name);
    out += ':';
    json::appendString(out, value);
  };
  field("client_id", c.clientId);
  field("client_secret", c.clientSecret.reveal());
  field("private_key_pem", c.privateKeyPem.reveal());
  field("bearer_token", c.bearerToken.reveal());
  field("refresh_token", c.refreshToken.reveal());
  field("username", c.username);
  field("password", c.password.reveal());
  if (!c.headers.empty()) {
    if (out.size() > 1) {
      out += ',';
    }
    out += "\"headers\":{";
    for (size_t i = 0; i < c.headers.size(); ++i) {
      if (i > 0) {
        out += ',';
      }
      json::appendString(out, c.headers[i].first);
      out += ':';
      json::appendString(out, c.headers[i].second.reveal());
    }
    out += '}';
  }
  if (c.bound) {
    if (out.size() > 1) {
      out += ',';
    }
    out += "\"bound\":{";
    bool first = true;
    for (const char* name : kBoundFieldNames) {
      std::string_view n(name);
      if (n == "headers") {
        if (!c.bound->headers) {
          continue;
        }
        out += first ? "" : ",";
        first = false;
        out += "\"headers\":{";
        for (size_t i = 0; i < c.bound->headers->size(); ++i) {
          out += i > 0 ? "," : "";
          json::appendString(out, (*c.bound->headers)[i].first);
          out += ':';
          json::appendString(out, (*c.bound->headers)[i].second);
        }
        out += '}';
        continue;
      }
      auto it = c.bound->values.find(name);
      if (it == c.bound->values.end()) {
        continue;
      }
      out += first ? "" : ",";
      first = false;
      json::appendString(out, n);
      out += ':';
      json::appendString(out, it->second);
    }
    out += '}';
  }
  out += '}';
  return out;
}

}  // namespace mcphd::auth
