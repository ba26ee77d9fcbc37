#include "auth/authorization_code.hpp"

#include <simdjson.h>
#include <sodium.h>

#include <algorithm>
#include <array>
#include <sstream>

#include "auth/oauth2.hpp"
#include "common/base64.hpp"
#include "common/json_writer.hpp"
#include "common/sha256.hpp"

namespace mcphd::auth {

namespace {

std::string randomBase64Url(size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  std::string out = base64UrlNoPad(raw);
  sodium_memzero(raw.data(), raw.size());
  return out;
}

std::vector<std::string> splitScopes(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string scope; in >> scope;) {
    if (std::find(out.begin(), out.end(), scope) == out.end()) {
      out.push_back(scope);
    }
  }
  return out;
}

std::string joinScopes(const std::vector<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) {
    out += out.empty() ? "" : " ";
    out += s;
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

std::string pkceChallenge(std::string_view verifier) {
  const Sha256 digest = sha256(verifier);
  return base64UrlNoPad(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

Pkce makePkce() {
  Pkce p;
  p.verifier = Secret(randomBase64Url(32));  // 43 characters of [A-Za-z0-9_-]
  p.challenge = pkceChallenge(p.verifier.reveal());
  return p;
}

std::string randomState() { return randomBase64Url(16); }

std::string authorizationUrl(const AuthorizationRequest& r) {
  std::string url = r.authorizationEndpoint;
  url += url.find('?') == std::string::npos ? '?' : '&';
  url += "response_type=code&client_id=" + formEncode(r.clientId);
  url += "&redirect_uri=" + formEncode(r.redirectUri);
  if (!r.scope.empty()) {
    url += "&scope=" + formEncode(r.scope);
  }
  url += "&state=" + formEncode(r.state);
  url += "&code_challenge=" + formEncode(r.codeChallenge) + "&code_challenge_method=S256";
  if (!r.resource.empty()) {
    url += "&resource=" + formEncode(r.resource);
  }
  return url;
}

std::string chooseScopes(const std::string& given, const std::string& challengeScope,
                         const std::vector<std::string>& resourceScopes,
                         const std::vector<std::string>& serverScopes) {
  std::vector<std::string> scopes;
  if (!given.empty()) {
    scopes = splitScopes(given);
  } else if (!challengeScope.empty()) {
    scopes = splitScopes(challengeScope);
  } else {
    for (const auto& s : resourceScopes) {
      for (auto& one : splitScopes(s)) {
        if (std::find(scopes.begin(), scopes.end(), one) == scopes.end()) {
          scopes.push_back(std::move(one));
        }
      }
    }
  }
  const bool offered =
      std::find(serverScopes.begin(), serverScopes.end(), "offline_access") != serverScopes.end();
  if (offered && std::find(scopes.begin(), scopes.end(), "offline_access") == scopes.end()) {
    scopes.emplace_back("offline_access");
  }
  return joinScopes(scopes);
}

std::string scopeTokens(std::string_view scope) {
  std::string out;
  for (char c : scope) {
    if ((c == ' ' || (c >= 0x21 && c <= 0x7e)) && c != '"' && c != '\\' && c != '\'') {
      out += c;
    }
  }
  return out;
}

std::string unionScopes(const std::string& a, const std::string& b) {
  std::vector<std::string> scopes = splitScopes(a);
  for (auto& s : splitScopes(b)) {
    if (std::find(scopes.begin(), scopes.end(), s) == scopes.end()) {
      scopes.push_back(std::move(s));
    }
  }
  return joinScopes(scopes);
}

std::string registrationRequestJson(const std::string& redirectUri, const std::string& clientName) {
  std::string out = "{\"redirect_uris\":[";
  json::appendString(out, redirectUri);
  out += "],\"client_name\":";
  json::appendString(out, clientName);
  // A public native client (RFC 8252: a loopback redirect on any port): nothing secret on the
  // operator's machine but what the server issues.
  out +=
      ",\"grant_types\":[\"authorization_code\",\"refresh_token\"],\"response_types\":[\"code\"],"
      "\"token_endpoint_auth_method\":\"none\",\"application_type\":\"native\"}";
  return out;
}

Result<Registration> parseRegistrationResponse(std::string_view body) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(body.data(), body.size()).get(obj) != simdjson::SUCCESS) {
    return makeError("the registration answer is not a JSON object");
  }
  Registration r;
  std::string_view s;
  if (obj["client_id"].get_string().get(s) != simdjson::SUCCESS || s.empty() || s.size() > 1024) {
    return makeError("the registration answer has no client_id");
  }
  r.clientId = std::string(s);
  if (obj["client_secret"].get_string().get(s) == simdjson::SUCCESS) {
    r.clientSecret = Secret(std::string(s));
  }
  if (obj["token_endpoint_auth_method"].get_string().get(s) == simdjson::SUCCESS) {
    r.authMethod = std::string(s.substr(0, 64));
  }
  return r;
}

Result<std::string> formDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      const int hi = i + 1 < s.size() ? hexValue(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return makeError("a bad %-escape");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

Result<Redirect> parseRedirectTarget(std::string_view target, std::string_view path) {
  const size_t q = target.find('?');
  if (target.substr(0, q) != path) {
    return makeError("not the redirect path");
  }
  Redirect r;
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      continue;
    }
    auto value = formDecode(pair.substr(eq + 1));
    if (!value) {
      return makeError("the redirect's query has " + value.error().message);
    }
    const std::string_view key = pair.substr(0, eq);
    if (key == "code") {
      r.code = Secret(std::move(value.value()));
    } else if (key == "state") {
      r.state = std::move(value.value());
    } else if (key == "error") {
      r.error = std::move(value.value());
    } else if (key == "error_description") {
      r.errorDescription = std::move(value.value());
    }
  }
  if (r.code.empty() && r.error.empty()) {
    return makeError("the redirect carries neither a code nor an error");
  }
  return r;
}

std::string codeExchangeBody(const Secret& code, const std::string& redirectUri,
                             const Secret& verifier, const std::string& clientId,
                             bool clientIdInBody, const std::string& resource) {
  std::string body = "grant_type=authorization_code&code=" + formEncode(code.reveal());
  body += "&redirect_uri=" + formEncode(redirectUri);
  body += "&code_verifier=" + formEncode(verifier.reveal());
  if (clientIdInBody) {
    body += "&client_id=" + formEncode(clientId);
  }
  if (!resource.empty()) {
    body += "&resource=" + formEncode(resource);
  }
  return body;
}

}  // namespace mcphd::auth
