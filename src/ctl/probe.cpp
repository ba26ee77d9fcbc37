// probe and keygen: no Redis involved.
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "app/member_id.hpp"
#include "auth/key_ring.hpp"
#include "auth/oauth2.hpp"
#include "auth/oauth2_provider.hpp"
#include "check/server_prober.hpp"
#include "common/json_writer.hpp"
#include "ctl/authorize.hpp"
#include "ctl/check_once.hpp"
#include "ctl/commands.hpp"
#include "ctl/views.hpp"
#include "http/curl_multi_client.hpp"
#include "loop/uv_loop.hpp"
#include "publish/messages.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::ctl {
namespace {

// The MCP conformance suite runs `probe URL` with the scenario's credentials in
// MCP_CONFORMANCE_CONTEXT (JSON, from the environment: never argv). Used unless --auth is given.
Outcome<void> conformanceContext(const Options& o, AuthChoice& a) {
  const char* ctx = std::getenv("MCP_CONFORMANCE_CONTEXT");
  if (ctx == nullptr || o.has("--auth")) {
    return {};
  }
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(std::string_view(ctx)).get(obj) != simdjson::SUCCESS) {
    return usageError("MCP_CONFORMANCE_CONTEXT is not a JSON object");
  }
  std::string_view v;
  if (obj["client_id"].get_string().get(v) == simdjson::SUCCESS) {
    a.type = "oauth2";
    a.creds.clientId = std::string(v);
  }
  if (obj["client_secret"].get_string().get(v) == simdjson::SUCCESS) {
    a.creds.clientSecret = Secret(std::string(v));
  }
  if (obj["private_key_pem"].get_string().get(v) == simdjson::SUCCESS) {
    a.creds.privateKeyPem = Secret(std::string(v));
  }
  return {};
}

// The spec the daemon would build from a record with these options, its secrets sealed with a
// key that lives only in this process: the probe checks exactly what a registered server gets.
Outcome<registry::ServerSpec> probeSpec(const Context& ctx, const Options& o,
                                        const std::string& url) {
  auto a = authFromOptions(o, std::cin);
  if (!a) {
    return a.error();
  }
  if (auto r = conformanceContext(o, *a); !r) {
    return r.error();
  }
  registry::RecordFields fields = {{"url", url}, {"interval", "1h"}, {"timeout", "10s"}};
  if (auto r = applyFieldOptions(o, fields); !r) {
    return r.error();
  }
  fields["auth_type"] = a->type;
  auth::KeyRing ring;
  if (!ring.addKey("probe", auth::generateKeyBase64()) || !ring.setActive("probe")) {
    return Failure{Exit::kSoftware, "cannot make the probe's in-memory key"};
  }
  if (a->type != "none") {
    auto blob = registry::sealRecord("probe", fields, a->creds, ring);
    if (!blob) {
      return usageError(blob.error().message);
    }
    fields["credentials"] = std::move(blob.value());
  }
  registry::ServerSpec spec = registry::parseRecord("probe", fields, ctx.defaults(), ring);
  if (!spec.invalidReason.empty()) {
    return usageError(spec.invalidReason.substr(std::string("record probe: ").size()));
  }
  return spec;
}

int64_t nowWallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Outcome<Exit> probe(const Context& ctx, const Options& o) {
  auto url = onlyArgument(o, "probe", "URL");
  if (!url) {
    return url.error();
  }
  if (o.has("--url")) {
    return usageError("probe takes its URL as its argument, not --url");
  }
  auto spec = probeSpec(ctx, o, *url);
  if (!spec) {
    return spec.error();
  }
  const bool interactive = spec->auth.type == registry::AuthType::kOAuth2 &&
                           spec->auth.oauth2.flow == registry::OAuth2Flow::kAuthorizationCode;
  std::optional<mcp::ProbeResult> result;
  if (interactive) {
    // A one-off: the user authorizes this probe (once more if the server wants another scope),
    // and its access token is used as it comes; nothing is stored.
    InteractiveRequest in;
    in.spec = *spec;
    auto authorized = authorizeAndCheck(ctx, std::move(in), *spec);
    if (!authorized) {
      return authorized.error();
    }
    result = std::move(authorized->check);
  } else {
    auto checked = checkOnce(ctx, *spec);
    if (!checked) {
      return Failure{Exit::kSoftware, checked.error().message};
    }
    result = std::move(checked.value());
  }
  if (!result) {
    return failure("the probe ended without a result");
  }
  scheduler::CheckReport rep =
      scheduler::singleCheckReport("probe", std::move(*result), Trigger::kProbe, nowWallMs());
  const std::string line = publish::healthJson(
      rep, 1, app::memberIdOf(ctx.cfg ? ctx.cfg->cluster : config::ClusterSettings{}));
  std::printf("%s\n", o.json ? line.c_str() : messageLine(line).c_str());
  if (!o.json) {
    for (const auto& t : rep.probe.tools) {
      std::printf("  %s\n", t.name.c_str());
    }
  }
  return rep.status == scheduler::Status::kHealthy ? Exit::kOk : Exit::kFailed;
}

Outcome<Exit> keygen(const Context& /*ctx*/, const Options& o) {
  if (!o.positional.empty()) {
    return usageError("keygen takes no arguments");
  }
  const std::string key = auth::generateKeyBase64();
  if (o.json) {
    std::printf("{\"key\":%s}\n", json::quote(key).c_str());
  } else {
    std::printf("%s\n", key.c_str());
  }
  return Exit::kOk;
}

}  // namespace mcphd::ctl
