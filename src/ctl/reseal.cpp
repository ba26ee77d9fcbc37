// reseal: re-seals records' credentials with the active key, bound to their clear fields, after
// the operator has seen where each one's secrets will go.
#include <algorithm>
#include <cstdio>

#include "common/json_writer.hpp"
#include "ctl/commands.hpp"
#include "ctl/exchange.hpp"
#include "ctl/views.hpp"
#include "registry/record_writes.hpp"

namespace mcphd::ctl {
namespace {

struct ResealOutcome {
  enum class Kind { kResealed, kSkipped, kFailed } kind;
  std::string why;
};

// Re-seals one record's credentials with the active key, bound to its clear fields, after the
// operator confirmed them (or --yes). Written only over the blob that was read.
Outcome<ResealOutcome> resealOne(const Context& ctx, redis::SyncClient& c, const std::string& id,
                                 bool yes) {
  using Kind = ResealOutcome::Kind;
  const auth::KeyRing& keys = ctx.cfg->keys;
  auto read = readRecord(c, ctx, id);
  if (!read) {
    return read.error();
  }
  registry::RecordFields fields = std::move(read.value());
  const std::string old = valueOr(fields, "credentials", "");
  if (old.empty()) {
    return ResealOutcome{Kind::kSkipped, "no credentials, nothing to re-seal"};
  }
  int version = 0;
  auto creds = registry::openRecordCredentials(id, fields, keys, &version);
  if (!creds) {
    return ResealOutcome{Kind::kFailed, creds.error().message};
  }
  if (creds->bound) {
    // A v2 record whose clear fields differ from its sealed copy is not re-sealed here: edit
    // restores the sealed values (or sets new ones the operator names).
    registry::ServerSpec check =
        registry::parseRecord(id, fields, ctx.defaults(), keys, registry::RecordOptions{true});
    if (check.invalidReason.find("differ") != std::string::npos) {
      return ResealOutcome{Kind::kFailed, check.invalidReason};
    }
  }
  // A v1 record may already have been tampered with: whoever confirms vouches for these.
  std::fprintf(stderr, "%s: v%d, sealed with key %s; its destination:\n%s", id.c_str(), version,
               sealedKeyId(old).c_str(), describeBound(fields).c_str());
  if (!yes && !confirm("Re-seal " + id + " bound to these?")) {
    return ResealOutcome{Kind::kSkipped, "left as it is"};
  }
  fields.erase("credentials");
  auto sealed = registry::sealRecord(id, fields, std::move(creds.value()), keys);
  if (!sealed) {
    return ResealOutcome{Kind::kFailed, sealed.error().message};
  }
  auto r = query(c, registry::replaceCredentials(ctx.keys, id, old, sealed.value()));
  if (!r) {
    return r.error();
  }
  if (r->type != redis::Reply::Type::kInteger || r->integer != 1) {
    return ResealOutcome{Kind::kFailed, "the record changed while re-sealing; run reseal again"};
  }
  std::string done = "re-sealed with key " + keys.activeId();
  if (auto told = query(c, ctx.keys.addCommand("upsert", id)); !told) {
    done += " (the daemon reads it at its next registry resync: " + told.error().message + ")";
  }
  return ResealOutcome{Kind::kResealed, done};
}

}  // namespace

Outcome<Exit> reseal(const Context& ctx, const Options& o) {
  auto only = idOrAll(o, "reseal");
  if (!only) {
    return only.error();
  }
  if (auto ring = ctx.keyRing("reseal"); !ring) {
    return ring.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  std::vector<std::string> ids = {*only};
  if (o.all) {
    auto members = query(*c, {"SMEMBERS", ctx.keys.servers()});
    if (!members) {
      return members.error();
    }
    ids.clear();
    for (const auto& e : members->elements) {
      if (registry::isServerId(e.str)) {
        ids.push_back(e.str);
      }
    }
    std::sort(ids.begin(), ids.end());
  }
  size_t resealed = 0;
  size_t skipped = 0;
  size_t failed = 0;
  std::string json;
  for (const auto& id : ids) {
    auto one = resealOne(ctx, *c, id, o.yes);
    if (!one) {
      return one.error();
    }
    const char* kind = "resealed";
    if (one->kind == ResealOutcome::Kind::kResealed) {
      ++resealed;
    } else if (one->kind == ResealOutcome::Kind::kSkipped) {
      kind = "skipped";
      ++skipped;
    } else {
      kind = "failed";
      ++failed;
    }
    if (o.json) {
      json += std::string(json.empty() ? "" : ",") + "{\"server_id\":" + json::quote(id) +
              ",\"result\":\"" + kind + "\",\"detail\":" + json::quote(one->why) + "}";
    } else {
      std::printf("%s: %s\n", id.c_str(), printable(one->why).c_str());
    }
  }
  if (o.json) {
    std::printf("{\"servers\":[%s],\"resealed\":%zu,\"skipped\":%zu,\"failed\":%zu}\n",
                json.c_str(), resealed, skipped, failed);
  } else {
    std::printf("%zu re-sealed, %zu skipped, %zu failed\n", resealed, skipped, failed);
  }
  return failed == 0 ? Exit::kOk : Exit::kFailed;
}

}  // namespace mcphd::ctl
