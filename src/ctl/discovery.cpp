#include "ctl/discovery.hpp"

#include <curl/curl.h>
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
  registry::ServerSpec spec = ctx.defaults();
  spec.id = id;
  spec.url = fields.at("url");
  spec.auth = registry::AuthSpec{};
  spec.auth.type = registry::AuthType::kOAuth2;
  spec.headers = recordHeaders(fields);
  std::string found;
  std::string issuer;
  std::string why = "no token endpoint found";
  curl_global_init(CURL_GLOBAL_DEFAULT);
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
      req.body =
          mcp::encodeRequest(1, "initialize", mcp::initializeParams(mcp::kOfferedProtocolVersion));
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
  curl_global_cleanup();
  if (found.empty()) {
    return failure("OAuth discovery for " + spec.url + " failed: " + why +
                   " (give --token-url to name the token endpoint yourself)");
  }
  std::fprintf(stderr, "token_url: discovered %s (issuer %s)\n", found.c_str(), issuer.c_str());
  return found;
}

}  // namespace mcphd::ctl
