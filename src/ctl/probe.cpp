// probe and keygen: no Redis involved.
#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "app/member_id.hpp"
#include "auth/key_ring.hpp"
#include "auth/oauth2_provider.hpp"
#include "check/server_prober.hpp"
#include "common/json_writer.hpp"
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
  Outcome<Exit> outcome = failure("the probe ended without a result");
  {
    loop::UvLoop loop;
    {
      http::CurlMultiClient http(loop);
      if (ctx.cfg) {
        http.setEgressPolicy(ctx.cfg->egress);
      }
      auth::OAuth2Provider auth(http, loop);
      check::ServerProber prober(http, auth, loop, loop);
      std::optional<mcp::ProbeResult> result;
      auto running = prober.start(*spec, [&](mcp::ProbeResult r) { result = std::move(r); });
      loop.run();
      running.reset();
      if (result) {
        scheduler::CheckReport rep = scheduler::singleCheckReport("probe", std::move(*result),
                                                                  Trigger::kProbe, loop.wallMs());
        const std::string line = publish::healthJson(
            rep, 1, app::memberIdOf(ctx.cfg ? ctx.cfg->cluster : config::ClusterSettings{}));
        std::printf("%s\n", o.json ? line.c_str() : messageLine(line).c_str());
        if (!o.json) {
          for (const auto& t : rep.probe.tools) {
            std::printf("  %s\n", t.name.c_str());
          }
        }
        outcome = rep.status == scheduler::Status::kHealthy ? Exit::kOk : Exit::kFailed;
      }
    }
    if (auto r = loop.close(); !r) {
      outcome = Failure{Exit::kSoftware, r.error().message};
    }
  }
  return outcome;
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
