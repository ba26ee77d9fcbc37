#include "ctl/discovery.hpp"

#include <simdjson.h>

#include <cstdio>
#include <memory>

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
  std::string found;
  std::string issuer;
  std::string why = "no token endpoint found";
  {
    loop::UvLoop loop;
    {
      http::CurlMultiClient http(loop);
      if (ctx.cfg) {
        http.setEgressPolicy(ctx.cfg->egress);
      }
      auth::OAuth2Provider auth(http, loop);
      std::unique_ptr<auth::Pending> discovery;
      http::Request req;
      req.url = spec.url;
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
        discovery = auth.discover(spec, r.status == 401 ? r.wwwAuthenticate : "Bearer",
                                  [&](Result<void> d) {
                                    if (!d) {
                                      why = d.error().message;
                                      return;
                                    }
                                    found = auth.discoveredTokenEndpoint(spec);
                                    issuer = auth.discoveredIssuer(spec);
                                  });
      });
      loop.run();
      call.reset();
      discovery.reset();
    }
    (void)loop.close();
  }
  if (found.empty()) {
    return failure("OAuth discovery for " + spec.url + " failed: " + why +
                   " (give --token-url to name the token endpoint yourself)");
  }
  std::fprintf(stderr, "token_url: discovered %s (issuer %s)\n", found.c_str(), issuer.c_str());
  return found;
}

}  // namespace mcphd::ctl
