#include "redis/redis_url.hpp"

#include <charconv>

namespace mcphd::redis {

namespace {

bool parseInt(std::string_view s, int& out, int lo, int hi) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi) {
    return false;
  }
  out = v;
  return true;
}

std::string percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int v = 0;
      auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
      if (ec == std::errc() && p == s.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

std::string HostPort::display() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HostPort> parseHostPort(std::string_view text) {
  HostPort out;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return makeError("unterminated IPv6 address in '" + std::string(text.substr(0, 64)) + "'");
    }
    out.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
  } else {
    const size_t colon = text.rfind(':');
    out.host = std::string(text.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view() : text.substr(colon);
  }
  if (out.host.empty() || out.host.find_first_of(" \t\r\n/@") != std::string::npos) {
    return makeError("'" + std::string(text.substr(0, 64)) + "' is not host:port");
  }
  if (rest.empty() || rest.front() != ':' || !parseInt(rest.substr(1), out.port, 1, 65535)) {
    return makeError("'" + std::string(text.substr(0, 64)) +
                     "' needs a port from 1 to 65535 (host:port)");
  }
  return out;
}

Result<HostPort> hostPortOf(const std::string& host, const std::string& port) {
  return parseHostPort(host.find(':') != std::string::npos ? "[" + host + "]:" + port
                                                           : host + ":" + port);
}

std::string Endpoint::display() const {
  if (!unixPath.empty()) {
    return "unix://" + unixPath + (db != 0 ? "?db=" + std::to_string(db) : "");
  }
  std::string out = "redis://" + HostPort{host, port}.display() + "/" + std::to_string(db);
  if (!masterName.empty()) {
    out += " (master '" + masterName + "' of the sentinels)";
  }
  return out;
}

Result<Endpoint> parseUrl(const std::string& url) {
  Endpoint ep;
  std::string_view u = url;
  if (u.rfind("unix://", 0) == 0) {
    std::string_view rest = u.substr(7);
    size_t q = rest.find('?');
    ep.unixPath = std::string(rest.substr(0, q));
    if (ep.unixPath.empty() || ep.unixPath.front() != '/') {
      return makeError(
          "redis url: unix:// needs an absolute socket path, e.g. unix:///run/redis/redis.sock");
    }
    if (q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      if (query.rfind("db=", 0) != 0 || !parseInt(query.substr(3), ep.db, 0, 1 << 20)) {
        return makeError("redis url: the only query parameter is db=N");
      }
    }
    return ep;
  }
  if (u.rfind("redis://", 0) != 0) {
    return makeError("redis url must start with redis:// or unix:// (rediss:// is not supported)");
  }
  std::string_view rest = u.substr(8);
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    std::string_view db = rest.substr(slash + 1);
    if (!db.empty() && !parseInt(db, ep.db, 0, 1 << 20)) {
      return makeError("redis url: the database after '/' must be a number");
    }
  }
  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) {
      return makeError(
          "redis url: write the credentials as redis://USER:PASSWORD@host or "
          "redis://:PASSWORD@host (better: redis.username and redis.password_file)");
    }
    ep.username = percentDecode(userinfo.substr(0, colon));
    ep.password = Secret(percentDecode(userinfo.substr(colon + 1)));
  }
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return makeError("redis url: unterminated IPv6 address");
    }
    ep.host = std::string(authority.substr(1, close - 1));
    authority = authority.substr(close + 1);
    if (!authority.empty()) {
      if (authority.front() != ':' || !parseInt(authority.substr(1), ep.port, 1, 65535)) {
        return makeError("redis url: bad port");
      }
    }
  } else {
    size_t colon = authority.rfind(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos &&
        !parseInt(authority.substr(colon + 1), ep.port, 1, 65535)) {
      return makeError("redis url: the port must be a number from 1 to 65535");
    }
  }
  if (ep.host.empty()) {
    return makeError("redis url has no host");
  }
  return ep;
}

}  // namespace mcphd::redis
