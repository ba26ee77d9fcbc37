#include "ctl/check_once.hpp"

#include "auth/authorization_code.hpp"
#include "auth/oauth2.hpp"
#include "auth/oauth2_provider.hpp"
#include "check/server_prober.hpp"
#include "http/curl_multi_client.hpp"
#include "loop/uv_loop.hpp"
#include "mcp/redaction.hpp"

namespace mcphd::ctl {

Result<std::optional<mcp::ProbeResult>> checkOnce(const Context& ctx,
                                                  const registry::ServerSpec& spec) {
  std::optional<mcp::ProbeResult> result;
  loop::UvLoop loop;
  {
    http::CurlMultiClient http(loop);
    if (ctx.cfg) {
      http.setEgressPolicy(ctx.cfg->egress);
      http.setRegistryEgressPolicy(ctx.cfg->registryEgress);  // a record from Redis
    }
    auth::OAuth2Provider auth(http, loop);
    check::ServerProber prober(http, auth, loop, loop);
    auto running = prober.start(spec, [&](mcp::ProbeResult r) { result = std::move(r); });
    loop.run();
    running.reset();
  }
  if (auto r = loop.close(); !r) {
    return r.error();
  }
  return result;
}

std::optional<std::string> insufficientScope(const mcp::ProbeResult& r,
                                             const std::vector<std::string>& sent) {
  if (!r.error || r.error->httpStatus != 403) {
    return std::nullopt;
  }
  auto challenge = auth::parseChallenge(r.wwwAuthenticate);
  if (challenge["error"] != "insufficient_scope") {
    return std::nullopt;
  }
  // From the server: scope-token characters only (RFC 6749 §3.3), anything the check sent
  // redacted (a server may echo its token), then cut (ASCII: nothing is split), as the daemon
  // keeps it. It is printed, and asked for in the next authorization URL.
  std::string wanted = auth::scopeTokens(challenge["scope"]);
  mcp::redactSecrets(wanted, sent);
  return wanted.substr(0, kMaxWantedScope);
}

}  // namespace mcphd::ctl
