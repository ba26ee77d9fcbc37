#include "ctl/discovery.hpp"

#include <simdjson.h>

#include <cstdio>
#include <memory>

#include "auth/oauth2.hpp"
#include "auth/oauth2_provider.hpp"
#include "http/curl_multi_client.hpp"
#include "loop/uv_loop.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/protocol.hpp"

namespace mcphd::ctl {
namespace {

constexpr size_t kMaxAnswer = 1024 * 1024;

// The record's own headers (a JSON object of strings), sent with the initialize request.
std::vector<std::pair<std::string, std::string>> recordHeaders(
    const registry::RecordFields& fields) {
  std::vector<std::pair<std::string, std::string>> out;
  auto it = fields.find("headers");
  if (it == fields.end()) {
    return out;
  }
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(it->second).get(obj) != simdjson::SUCCESS) {
    return out;
  }
  for (auto [k, v] : obj) {
    std::string_view value;
    if (v.get_string().get(value) == simdjson::SUCCESS) {
      out.emplace_back(std::string(k), std::string(value));
    }
  }
  return out;
}

}  // namespace

namespace {

// A GET of `url` on a loop of its own: status and body (status 0: unreachable, `why` says).
std::pair<long, std::string> fetchJson(const Context& ctx, const registry::ServerSpec& spec,
                                       const std::string& url, std::string* why) {
  std::pair<long, std::string> out{0, ""};
  loop::UvLoop loop;
  {
    http::CurlMultiClient http(loop);
    if (ctx.cfg) {
      http.setEgressPolicy(ctx.cfg->egress);
      http.setRegistryEgressPolicy(ctx.cfg->registryEgress);
    }
    http::Request req;
    req.method = "GET";
    req.url = url;
    req.registryEgress = spec.source == registry::Source::kRedis;
    req.headers = {"Accept: application/json", "MCP-Protocol-Version: 2025-03-26"};
    req.timeoutMs = spec.timeoutMs;
    req.connectTimeoutMs = spec.connectTimeoutMs;
    req.maxBody = kMaxAnswer;
    auto call = http.send(std::move(req), [&](http::Response r) {
      if (r.failure != http::Failure::kNone) {
        *why = url + " is unreachable: " + r.failureMessage;
        return;
      }
      out = {r.status, std::move(r.body)};
    });
    loop.run();
  }
  (void)loop.close();
  return out;
}

// The 2025-03-26 authorization spec, for a server without protected resource metadata: the
// authorization server is the server's origin, with its metadata at
// /.well-known/oauth-authorization-server, else the default endpoints /authorize, /token and
// /register there. The same issuer and https rules.
Outcome<auth::OAuth2Provider::Found> legacyDiscovery(const Context& ctx,
                                                     const registry::ServerSpec& spec,
                                                     const std::string& challengeScope,
                                                     const std::string& whyDiscoveryFailed) {
  auto parts = auth::splitUrl(spec.url);
  if (!parts) {
    return failure(spec.url + " is no http(s) URL");
  }
  const std::string origin = parts->origin;
  std::string why;
  // Only for a server that has no protected resource metadata at all: every location answers
  // 404 (a server that is down, or answers 5xx, is not sent elsewhere). And not with a client
  // secret or key: those go only to an authorization server its metadata names (or --token-url).
  for (const auto& url : auth::protectedResourceCandidates(spec.url, "")) {
    auto [prm, ignored] = fetchJson(ctx, spec, url, &why);
    if (prm != 404) {
      return failure("OAuth discovery for " + spec.url + " failed: " + whyDiscoveryFailed);
    }
  }
  if (!spec.auth.oauth2.clientSecret.empty() || !spec.auth.oauth2.privateKeyPem.empty()) {
    return failure("OAuth discovery for " + spec.url +
                   " found no protected resource metadata; a client secret is only sent to a "
                   "token endpoint that metadata names, or one given with --token-url");
  }
  auto [status, body] =
      fetchJson(ctx, spec, origin + "/.well-known/oauth-authorization-server", &why);
  auth::OAuth2Provider::Found found;
  found.issuer = origin;
  found.challengeScope = challengeScope;
  if (status >= 200 && status < 300) {
    auto as = auth::parseAuthorizationServer(body);
    if (!as) {
      return failure("the authorization server metadata at " + origin + ": " + as.error().message);
    }
    found.server = std::move(as.value());
  } else if (status == 404) {
    found.server.issuer = origin;
    found.server.authorizationEndpoint = origin + "/authorize";
    found.server.tokenEndpoint = origin + "/token";
    found.server.registrationEndpoint = origin + "/register";
    // That spec requires PKCE of every client: its default endpoints support S256.
    found.server.codeChallengeMethods = {"S256"};
  } else {
    return failure(why.empty() ? origin + "/.well-known/oauth-authorization-server answered HTTP " +
                                     std::to_string(status)
                               : why);
  }
  // Fetched from the server's origin, which is what that spec calls the authorization server;
  // metadata there may name an issuer with a path on the same origin (RFC 8414 would have looked
  // for it under /.well-known/oauth-authorization-server/<path>). Another origin is refused.
  std::string issuer = origin;
  if (auto named = auth::splitUrl(found.server.issuer);
      named && named->origin == origin && found.server.issuer != origin) {
    issuer = found.server.issuer;
    found.issuer = issuer;
  }
  if (auto ok = auth::checkAuthorizationServer(found.server, issuer); !ok) {
    return failure(ok.error().message);
  }
  std::fprintf(stderr,
               "no protected resource metadata: the authorization server is the server's origin "
               "%s (the 2025-03-26 authorization spec)%s\n",
               origin.c_str(), status == 404 ? ", at its default endpoints" : "");
  return found;
}

}  // namespace

Outcome<auth::OAuth2Provider::Found> discoverServer(const Context& ctx,
                                                    const registry::ServerSpec& given,
                                                    bool legacyFallback) {
  // Discovery itself, even when the record names its token endpoint (the provider would skip
  // it then): the caller compares what it finds with the record's.
  registry::ServerSpec spec = given;
  spec.auth.type = registry::AuthType::kOAuth2;
  spec.auth.oauth2.tokenUrl.clear();
  std::optional<auth::OAuth2Provider::Found> found;
  std::string why = "no token endpoint found";
  std::string challengeScope;
  bool namedMetadata = false;  // the 401 challenge named its resource_metadata
  {
    loop::UvLoop loop;
    {
      http::CurlMultiClient http(loop);
      if (ctx.cfg) {
        http.setEgressPolicy(ctx.cfg->egress);
        http.setRegistryEgressPolicy(ctx.cfg->registryEgress);
      }
      auth::OAuth2Provider auth(http, loop);
      std::unique_ptr<auth::Pending> discovery;
      http::Request req;
      req.url = spec.url;
      req.registryEgress = spec.source == registry::Source::kRedis;
      for (const auto& [name, value] : spec.headers) {
        req.headers.push_back(name + ": " + value);
      }
      req.headers.push_back("Content-Type: application/json");
      req.headers.push_back("Accept: application/json, text/event-stream");
      req.body = mcp::encodeRequest(
          1, "initialize", mcp::initializeParams(mcp::kOfferedProtocolVersion, "mcp-healthctl"));
      req.timeoutMs = spec.timeoutMs;
      req.connectTimeoutMs = spec.connectTimeoutMs;
      req.maxBody = kMaxAnswer;
      auto call = http.send(std::move(req), [&](http::Response r) {
        if (r.failure != http::Failure::kNone) {
          why = spec.url + " is unreachable: " + r.failureMessage;
          return;
        }
        // Without a 401 challenge the well-known locations are tried all the same.
        const std::string challenge = r.status == 401 ? r.wwwAuthenticate : "Bearer";
        auto params = auth::parseChallenge(challenge);
        challengeScope = params["scope"];
        namedMetadata = !params["resource_metadata"].empty();
        discovery = auth.discover(spec, challenge, [&](Result<void> d) {
          if (!d) {
            why = d.error().message;
            return;
          }
          found = auth.discovered(spec);
        });
      });
      loop.run();
      call.reset();
      discovery.reset();
    }
    (void)loop.close();
  }
  if (!found && legacyFallback && !namedMetadata) {
    return legacyDiscovery(ctx, spec, challengeScope, why);
  }
  if (!found) {
    return failure("OAuth discovery for " + spec.url + " failed: " + why);
  }
  return std::move(*found);
}

Outcome<std::string> discoverTokenEndpoint(const Context& ctx, const std::string& id,
                                           const registry::RecordFields& fields) {
  auto url = fields.find("url");
  if (url == fields.end() || url->second.empty()) {
    return usageError("record " + id + " has no url to discover its OAuth server from");
  }
  registry::ServerSpec spec = ctx.defaults();
  spec.id = id;
  spec.url = url->second;
  spec.auth = registry::AuthSpec{};
  spec.auth.type = registry::AuthType::kOAuth2;
  if (fields.count("headers") != 0) {
    spec.headers = recordHeaders(fields);  // as the daemon: the record's, else the defaults'
  }
  auto found = discoverServer(ctx, spec);
  if (!found) {
    return failure(found.error().message +
                   " (give --token-url to name the token endpoint yourself)");
  }
  std::fprintf(stderr, "token_url: discovered %s (issuer %s)\n",
               found->server.tokenEndpoint.c_str(), found->issuer.c_str());
  return found->server.tokenEndpoint;
}

}  // namespace mcphd::ctl
