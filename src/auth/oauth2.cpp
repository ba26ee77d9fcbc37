#include "auth/oauth2.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>

#include "auth/authorization_code.hpp"
#include "common/utf8.hpp"

namespace mcphd::auth {

std::map<std::string, std::string> parseChallenge(std::string_view h) {
  std::map<std::string, std::string> out;
  size_t i = 0;
  auto skip = [&] {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || h[i] == ',')) {
      ++i;
    }
  };
  skip();
  // The scheme ("Bearer") comes first and has no '='.
  size_t schemeEnd = h.find_first_of(" \t", i);
  if (schemeEnd != std::string_view::npos &&
      h.substr(i, schemeEnd - i).find('=') == std::string_view::npos) {
    i = schemeEnd;
  }
  while (i < h.size()) {
    skip();
    size_t eq = h.find('=', i);
    if (eq == std::string_view::npos) {
      break;
    }
    std::string key(h.substr(i, eq - i));
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) {
      key.pop_back();
    }
    std::transform(key.begin(), key.end(), key.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    i = eq + 1;
    while (i < h.size() && h[i] == ' ') {
      ++i;
    }
    std::string value;
    if (i < h.size() && h[i] == '"') {
      ++i;
      while (i < h.size() && h[i] != '"') {
        if (h[i] == '\\' && i + 1 < h.size()) {
          ++i;
        }
        value += h[i++];
      }
      ++i;
    } else {
      while (i < h.size() && h[i] != ',') {
        value += h[i++];
      }
      while (!value.empty() && value.back() == ' ') {
        value.pop_back();
      }
    }
    if (!key.empty()) {
      out[key] = value;
    }
  }
  return out;
}

std::optional<UrlParts> splitUrl(std::string_view url) {
  size_t scheme = url.find("://");
  std::string schemeName(url.substr(0, scheme == std::string_view::npos ? 0 : scheme));
  std::transform(schemeName.begin(), schemeName.end(), schemeName.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (scheme == std::string_view::npos || (schemeName != "http" && schemeName != "https")) {
    return std::nullopt;
  }
  size_t pathStart = url.find_first_of("/?#", scheme + 3);
  UrlParts p;
  // Scheme and host compare case-insensitively: keep them lower-case.
  p.origin = std::string(url.substr(0, pathStart));
  std::transform(p.origin.begin(), p.origin.end(), p.origin.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  if (pathStart != std::string_view::npos && url[pathStart] == '/') {
    size_t end = url.find_first_of("?#", pathStart);
    p.path = std::string(url.substr(
        pathStart, end == std::string_view::npos ? std::string_view::npos : end - pathStart));
  }
  while (!p.path.empty() && p.path.back() == '/') {
    p.path.pop_back();
  }
  if (p.origin.size() <= scheme + 3) {
    return std::nullopt;
  }
  return p;
}

std::vector<std::string> protectedResourceCandidates(const std::string& serverUrl,
                                                     const std::string& resourceMetadata) {
  std::vector<std::string> out;
  if (!resourceMetadata.empty()) {
    out.push_back(resourceMetadata);
    return out;
  }
  auto p = splitUrl(serverUrl);
  if (!p) {
    return out;
  }
  if (!p->path.empty()) {
    out.push_back(p->origin + "/.well-known/oauth-protected-resource" + p->path);
  }
  out.push_back(p->origin + "/.well-known/oauth-protected-resource");
  return out;
}

std::vector<std::string> authorizationServerCandidates(const std::string& issuer) {
  std::vector<std::string> out;
  auto p = splitUrl(issuer);
  if (!p) {
    return out;
  }
  if (p->path.empty()) {
    out.push_back(p->origin + "/.well-known/oauth-authorization-server");
    out.push_back(p->origin + "/.well-known/openid-configuration");
  } else {
    out.push_back(p->origin + "/.well-known/oauth-authorization-server" + p->path);
    out.push_back(p->origin + "/.well-known/openid-configuration" + p->path);
    out.push_back(p->origin + p->path + "/.well-known/openid-configuration");
  }
  return out;
}

bool resourceMatches(const std::string& resource, const std::string& serverUrl) {
  auto r = splitUrl(resource);
  auto s = splitUrl(serverUrl);
  if (!r || !s) {
    return false;
  }
  auto lower = [](std::string x) {
    std::transform(x.begin(), x.end(), x.begin(), [](unsigned char c) { return std::tolower(c); });
    return x;
  };
  if (lower(r->origin) != lower(s->origin)) {
    return false;
  }
  if (r->path.empty()) {
    return true;
  }
  return s->path == r->path || s->path.rfind(r->path + "/", 0) == 0;
}

registry::TokenAuthMethod chooseMethod(registry::TokenAuthMethod configured,
                                       const std::vector<std::string>& supported, bool haveSecret,
                                       bool haveKey) {
  using M = registry::TokenAuthMethod;
  if (configured != M::kAuto) {
    return configured;
  }
  auto lists = [&](const char* m) {
    return std::find(supported.begin(), supported.end(), m) != supported.end();
  };
  if (haveKey && (!haveSecret || lists("private_key_jwt"))) {
    return M::kPrivateKeyJwt;
  }
  if (supported.empty() || lists("client_secret_basic")) {
    return M::kClientSecretBasic;  // RFC 8414: the default when nothing is listed
  }
  if (lists("client_secret_post")) {
    return M::kClientSecretPost;
  }
  return M::kClientSecretBasic;
}

std::string formEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size() * 3);
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<TokenResponse> parseTokenResponse(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(obj) != simdjson::SUCCESS) {
    return makeError("token endpoint answered with something that is not a JSON object");
  }
  std::string_view token;
  if (obj["access_token"].get_string().get(token) != simdjson::SUCCESS || token.empty()) {
    return makeError("token endpoint answer has no access_token");
  }
  std::string_view type;
  if (obj["token_type"].get_string().get(type) == simdjson::SUCCESS) {
    std::string t(type);
    std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
    if (t != "bearer") {
      return makeError("token endpoint issued a '" + t.substr(0, 32) +
                       "' token; only Bearer is supported");
    }
  }
  if (token.find_first_of("\r\n") != std::string_view::npos) {
    return makeError("token endpoint issued an access_token with a line break");
  }
  TokenResponse r;
  r.accessToken = Secret(std::string(token));
  std::string_view refresh;
  if (obj["refresh_token"].get_string().get(refresh) == simdjson::SUCCESS) {
    r.refreshToken = Secret(std::string(refresh));
  }
  std::string_view scope;
  if (obj["scope"].get_string().get(scope) == simdjson::SUCCESS) {
    r.scope = scopeTokens(scope.substr(0, 1024));
  }
  int64_t expires = 0;
  double expiresD = 0;
  if (obj["expires_in"].get_int64().get(expires) == simdjson::SUCCESS) {
    r.expiresInSeconds = expires;
  } else if (obj["expires_in"].get_double().get(expiresD) == simdjson::SUCCESS) {
    r.expiresInSeconds = static_cast<int64_t>(expiresD);
  }
  return r;
}

std::string tokenErrorSummary(std::string_view body, const Redactor& redactor) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(obj) != simdjson::SUCCESS) {
    return "";
  }
  // Each part is redacted whole, then cut (never mid-character): a cut must not leave the start
  // of a secret that redaction would have found.
  auto part = [&](const char* name, size_t max) {
    std::string_view v;
    if (obj[name].get_string().get(v) != simdjson::SUCCESS) {
      return std::string();
    }
    std::string text(v.substr(0, 64 * 1024));
    redactor.apply(text);
    truncateUtf8(text, max);
    return text;
  };
  std::string out = part("error", 64);
  if (std::string d = part("error_description", 200); !d.empty()) {
    out += (out.empty() ? "" : ": ") + d;
  }
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20) {
      c = ' ';
    }
  }
  return out;
}

Result<std::string> parseProtectedResource(std::string_view body, const std::string& serverUrl,
                                           std::string* resourceOut,
                                           std::vector<std::string>* scopesOut) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(obj) != simdjson::SUCCESS) {
    return makeError("protected resource metadata is not a JSON object");
  }
  std::string_view resource;
  if (obj["resource"].get_string().get(resource) != simdjson::SUCCESS) {
    return makeError("protected resource metadata has no resource");
  }
  if (!resourceMatches(std::string(resource), serverUrl)) {
    return makeError("protected resource metadata names resource '" +
                     std::string(resource.substr(0, 200)) + "', which is not " + serverUrl +
                     ": refusing to authorize");
  }
  simdjson::dom::array servers;
  std::string_view first;
  if (obj["authorization_servers"].get_array().get(servers) != simdjson::SUCCESS ||
      servers.size() == 0 || servers.at(0).get_string().get(first) != simdjson::SUCCESS) {
    return makeError("protected resource metadata lists no authorization_servers");
  }
  if (resourceOut != nullptr) {
    *resourceOut = std::string(resource);
  }
  simdjson::dom::array scopes;
  if (scopesOut != nullptr &&
      obj["scopes_supported"].get_array().get(scopes) == simdjson::SUCCESS) {
    for (auto sc : scopes) {
      std::string_view v;
      if (sc.get_string().get(v) == simdjson::SUCCESS && scopesOut->size() < 64) {
        scopesOut->emplace_back(v.substr(0, 256));
      }
    }
  }
  return std::string(first);
}

Result<AuthorizationServer> parseAuthorizationServer(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(obj) != simdjson::SUCCESS) {
    return makeError("authorization server metadata is not a JSON object");
  }
  AuthorizationServer as;
  std::string_view s;
  if (obj["issuer"].get_string().get(s) == simdjson::SUCCESS) {
    as.issuer = std::string(s);
  }
  if (obj["token_endpoint"].get_string().get(s) != simdjson::SUCCESS || !splitUrl(s)) {
    return makeError("authorization server metadata has no http(s) token_endpoint");
  }
  as.tokenEndpoint = std::string(s);
  auto strings = [&obj](const char* key, std::vector<std::string>& out) {
    simdjson::dom::array list;
    if (obj[key].get_array().get(list) != simdjson::SUCCESS) {
      return;
    }
    for (auto m : list) {
      std::string_view v;
      if (m.get_string().get(v) == simdjson::SUCCESS && out.size() < 64) {
        out.emplace_back(v.substr(0, 256));
      }
    }
  };
  strings("token_endpoint_auth_methods_supported", as.authMethods);
  strings("scopes_supported", as.scopesSupported);
  strings("code_challenge_methods_supported", as.codeChallengeMethods);
  // Endpoints that are no http(s) URL are as good as absent: the flow that needs one says so.
  if (obj["authorization_endpoint"].get_string().get(s) == simdjson::SUCCESS && splitUrl(s)) {
    as.authorizationEndpoint = std::string(s);
  }
  if (obj["registration_endpoint"].get_string().get(s) == simdjson::SUCCESS && splitUrl(s)) {
    as.registrationEndpoint = std::string(s);
  }
  return as;
}

bool hasLoopbackHost(std::string_view url) {
  auto p = splitUrl(url);
  if (!p) {
    return false;
  }
  std::string_view authority = std::string_view(p->origin).substr(p->origin.find("://") + 3);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
    return host == "::1";
  }
  if (size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host == "localhost") {
    return true;
  }
  // 127.0.0.0/8 written as a dotted quad.
  if (host.rfind("127.", 0) != 0) {
    return false;
  }
  int parts = 0;
  size_t i = 0;
  while (i <= host.size()) {
    size_t j = host.find('.', i);
    if (j == std::string_view::npos) {
      j = host.size();
    }
    std::string_view part = host.substr(i, j - i);
    if (part.empty() || part.size() > 3 ||
        !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(std::string(part)) > 255) {
      return false;
    }
    ++parts;
    i = j + 1;
  }
  return parts == 4;
}

Result<void> checkAuthorizationServer(const AuthorizationServer& as, const std::string& issuer) {
  if (as.issuer != issuer) {
    return makeError("the authorization server metadata fetched for issuer " + issuer +
                     " names issuer '" + as.issuer.substr(0, 200) +
                     "' (RFC 8414 §3.3: they must be identical); no token request is made");
  }
  if (as.tokenEndpoint.rfind("https://", 0) != 0 && !hasLoopbackHost(as.tokenEndpoint)) {
    return makeError("the token endpoint " + as.tokenEndpoint.substr(0, 200) +
                     " is not https:// (only a loopback host may use http://); no token request "
                     "is made");
  }
  return {};
}

}  // namespace mcphd::auth
