#include "dashboard/request_policy.hpp"

#include <sodium.h>

#include "common/ascii.hpp"
#include "common/sha256.hpp"

namespace mcphd::dashboard {

namespace {

// "host:port" -> "host" (an IPv6 literal keeps its brackets).
std::string_view hostPart(std::string_view hostPort) {
  if (!hostPort.empty() && hostPort.front() == '[') {
    size_t close = hostPort.find(']');
    return close == std::string_view::npos ? hostPort : hostPort.substr(0, close + 1);
  }
  return hostPort.substr(0, hostPort.find(':'));
}

}  // namespace

const http::HeaderList& securityHeaders() {
  static const http::HeaderList headers = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  };
  return headers;
}

bool hostAllowed(std::string_view hostHeader, std::string_view listen,
                 const std::vector<std::string>& allowedHosts) {
  const std::string host = asciiLower(hostHeader);
  if (host.empty()) {
    return false;
  }
  const std::string self = asciiLower(listen);
  if (!hostPart(self).empty()) {
    if (host == self) {
      return true;
    }
    // Browsers leave out the default port.
    if (self.size() > 3 && self.substr(self.size() - 3) == ":80" && host == hostPart(self)) {
      return true;
    }
  }
  for (const auto& allowed : allowedHosts) {
    const bool hasPort = hostPart(allowed).size() != allowed.size();
    if (hasPort ? host == allowed : hostPart(host) == allowed) {
      return true;
    }
  }
  return false;
}

bool sameOrigin(const http::ServerRequest& request) {
  if (const std::string* site = request.header("sec-fetch-site");
      site != nullptr && *site != "same-origin" && *site != "none") {
    return false;
  }
  const std::string* origin = request.header("origin");
  if (origin == nullptr) {
    return true;
  }
  const std::string* host = request.header("host");
  if (host == nullptr) {
    return false;
  }
  const std::string o = asciiLower(*origin);
  const std::string h = asciiLower(*host);
  return o == "http://" + h || o == "https://" + h;
}

bool bearerMatches(const http::ServerRequest& request, const Secret& token) {
  const std::string* auth = request.header("authorization");
  if (token.empty() || auth == nullptr || auth->size() < 7 ||
      asciiLower(auth->substr(0, 7)) != "bearer ") {
    return false;
  }
  // Compared as digests, in constant time: neither the length nor a prefix shows in the timing.
  const Sha256 sent = sha256(std::string_view(*auth).substr(7));
  const Sha256 want = sha256(token.reveal());
  return sodium_memcmp(sent.data(), want.data(), sent.size()) == 0;
}

}  // namespace mcphd::dashboard
