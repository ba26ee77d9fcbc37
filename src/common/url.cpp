#include "common/url.hpp"

#include <algorithm>
#include <cctype>

namespace mcphd {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

}  // namespace

std::optional<std::string> normalizeHttpUrl(std::string_view url) {
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string scheme = lower(url.substr(0, sep));
  if (scheme != "http" && scheme != "https") {
    return std::nullopt;
  }
  std::string_view rest = url.substr(sep + 3);
  size_t authorityEnd = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authorityEnd);
  std::string_view tail = authorityEnd == std::string_view::npos ? "" : rest.substr(authorityEnd);
  if (size_t hash = tail.find('#'); hash != std::string_view::npos) {
    tail = tail.substr(0, hash);
  }
  std::string_view userinfo;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    userinfo = authority.substr(0, at + 1);
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else if (size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty() || !std::all_of(port.begin(), port.end(), [](char c) {
        return c >= '0' && c <= '9';
      })) {
    return std::nullopt;
  }
  while (port.size() > 1 && port.front() == '0') {
    port.remove_prefix(1);
  }
  if ((scheme == "http" && port == "80") || (scheme == "https" && port == "443")) {
    port = "";
  }
  std::string out = scheme + "://" + std::string(userinfo) + lower(host);
  if (!port.empty()) {
    out += ':';
    out += port;
  }
  if (tail.empty() || tail.front() != '/') {
    out += '/';
  }
  out += tail;
  return out;
}

}  // namespace mcphd
