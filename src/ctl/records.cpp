// add, edit, reseal, remove: every write of a record goes through registry/record_writes and is
// followed by a command that makes the daemon read it at once.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>

#include "auth/credentials.hpp"
#include "common/json_writer.hpp"
#include "common/units.hpp"
#include "ctl/authorize.hpp"
#include "ctl/commands.hpp"
#include "ctl/discovery.hpp"
#include "ctl/exchange.hpp"
#include "ctl/views.hpp"
#include "registry/record_writes.hpp"

namespace mcphd::ctl {
namespace {

std::string nowRfc3339() {
  char now[32];
  const std::time_t t = std::time(nullptr);
  std::strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return now;
}

// Seals `creds` into `fields` (bound to them) when `sealIt`, and checks the record as the daemon
// will read it: one validator for the config, the registry and this command.
Outcome<void> sealAndCheck(const Context& ctx, const std::string& id,
                           registry::RecordFields& fields, const auth::Credentials& creds,
                           bool sealIt) {
  fields.erase("credentials");
  auth::KeyRing none;
  const auth::KeyRing* keys = ctx.cfg ? &ctx.cfg->keys : &none;
  if (sealIt) {
    auto ring = ctx.keyRing("credentials");
    if (!ring) {
      return ring.error();
    }
    auto blob = registry::sealRecord(id, fields, creds, **ring);
    if (!blob) {
      return usageError(blob.error().message);
    }
    fields["credentials"] = std::move(blob.value());
  }
  registry::ServerSpec spec = registry::parseRecord(id, fields, ctx.defaults(), *keys);
  if (!spec.invalidReason.empty()) {
    return usageError(spec.invalidReason);
  }
  return {};
}

// After a record was written: asks the daemon to read it and prints its first check.
Outcome<Exit> upsertAndReport(const Context& ctx, const std::string& id,
                              std::chrono::milliseconds wait, bool json) {
  auto answers = sendAndWait(ctx, "upsert", id, 1, wait);
  if (!answers) {
    return answers.error();
  }
  return reportAnswers(*answers, 1, json, Success::kHealthy);
}

// The record of `id`, which must exist (`add` names how to register it).
Outcome<registry::RecordFields> existingRecord(redis::SyncClient& c, const Context& ctx,
                                               const std::string& id, const std::string& add) {
  auto read = readRecord(c, ctx, id);
  if (!read) {
    return read.error();
  }
  if (read->empty()) {
    return usageError("no record " + ctx.keys.server(id) + " in Redis (register it with " + add +
                      ")");
  }
  return std::move(read.value());
}

// Writes the record only over the credentials blob that was read: a blob written meanwhile (a
// rotated refresh token, a login, an edit) is never overwritten. `when` and `what` say what
// changed it and what to run again.
Outcome<void> putOverRead(redis::SyncClient& c, const Context& ctx, const std::string& id,
                          const registry::RecordFields& fields, const std::string& readBlob,
                          const std::string& when, const std::string& what) {
  auto written = query(c, registry::putRecordIfUnchanged(ctx.keys, id, fields, readBlob));
  if (!written) {
    return written.error();
  }
  if (written->type != redis::Reply::Type::kInteger || written->integer != 1) {
    return failure("the record of " + id + " changed " + when + "; nothing was written, run " +
                   what + " again");
  }
  return {};
}

// Merges newly given secrets over stored ones: editing never requires re-entering a secret.
void mergeSecrets(auth::Credentials& stored, auth::Credentials given) {
  if (!given.clientId.empty()) {
    stored.clientId = given.clientId;
  }
  if (!given.username.empty()) {
    stored.username = given.username;
  }
  for (auto [into, from] : {std::pair{&stored.clientSecret, &given.clientSecret},
                            std::pair{&stored.privateKeyPem, &given.privateKeyPem},
                            std::pair{&stored.bearerToken, &given.bearerToken},
                            std::pair{&stored.password, &given.password}}) {
    if (!from->empty()) {
      *into = std::move(*from);
    }
  }
  for (auto& header : given.headers) {
    auto it = std::find_if(stored.headers.begin(), stored.headers.end(),
                           [&header](const auto& h) { return h.first == header.first; });
    if (it != stored.headers.end()) {
      it->second = std::move(header.second);
    } else {
      stored.headers.emplace_back(header.first, std::move(header.second));
    }
  }
}

// Whether two `headers` fields hold the same headers, compared parsed as the daemon does.
bool sameHeaders(const std::string& a, const std::string& b) {
  auto pa = registry::boundFieldsOf({{"headers", a}});
  auto pb = registry::boundFieldsOf({{"headers", b}});
  return a == b || (pa && pb && pa->headers == pb->headers);
}

// Puts back the sealed value of every bound field that this edit does not set: whoever can write
// to Redis may have changed them, and re-sealing must not bless that. Says what it restores.
void restoreSealed(registry::RecordFields& fields, const auth::BoundFields& sealed,
                   const Options& o) {
  for (const char* name : auth::kBoundFieldNames) {
    if (setsField(o, name)) {
      continue;
    }
    std::optional<std::string> want;
    if (std::string_view(name) == "headers") {
      if (sealed.headers) {
        want = registry::headersJson(*sealed.headers);
      }
    } else if (auto it = sealed.values.find(name); it != sealed.values.end()) {
      want = it->second;
    }
    const std::string have = valueOr(fields, name, "");
    if ((!want && have.empty()) ||
        (want && !have.empty() &&
         (std::string_view(name) == "headers" ? sameHeaders(*want, have) : *want == have))) {
      continue;
    }
    std::fprintf(stderr, "%s: restoring the sealed value %s (the record in Redis said %s)\n", name,
                 want ? printable(*want).c_str() : "(none)",
                 have.empty() ? "(none)" : printable(have).c_str());
    if (want) {
      fields[name] = *want;
    } else {
      fields.erase(name);
    }
  }
}

// Adds a token_url found by discovery when the record is oauth2 without one (or --rediscover).
Outcome<void> discoverWhenNeeded(const Context& ctx, const std::string& id, const Options& o,
                                 registry::RecordFields& fields) {
  const bool oauth2 = valueOr(fields, "auth_type", "none") == "oauth2";
  if (!oauth2 || o.has("--token-url") || (!o.rediscover && fields.count("token_url") != 0)) {
    if (o.rediscover) {
      return usageError(
          "--rediscover is for records with auth_type oauth2 (and without --token-url)");
    }
    return {};
  }
  auto found = discoverTokenEndpoint(ctx, id, fields);
  if (!found) {
    return found.error();
  }
  fields["token_url"] = std::move(found.value());
  return {};
}

}  // namespace

Outcome<Exit> add(const Context& ctx, const Options& o) {
  // Every argument is checked before anything is written.
  auto id = serverIdArgument(o, "add");
  if (!id) {
    return id.error();
  }
  const std::string url = o.get("--url");
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    return usageError("add needs --url http(s)://...");
  }
  auto wait = waitOf(o);
  if (!wait) {
    return wait.error();
  }
  auto a = authFromOptions(o, std::cin);
  if (!a) {
    return a.error();
  }
  registry::RecordFields fields = {{"auth_type", a->type}, {"enabled", "true"}};
  if (a->type == "oauth2") {
    fields["oauth2_flow"] = "client_credentials";
  }
  if (auto r = applyFieldOptions(o, fields); !r) {
    return r.error();
  }
  if (a->type != "oauth2") {
    fields.erase("oauth2_flow");
  }
  fields["updated_at"] = nowRfc3339();
  if (auto r = discoverWhenNeeded(ctx, *id, o, fields); !r) {
    return r.error();
  }
  if (auto r = sealAndCheck(ctx, *id, fields, a->creds, a->type != "none"); !r) {
    return r.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  if (auto r = c->transaction(registry::putRecord(ctx.keys, *id, fields)); !r) {
    return failure("Redis: " + r.error().message);
  }
  return upsertAndReport(ctx, *id, *wait, o.json);
}

Outcome<Exit> edit(const Context& ctx, const Options& o) {
  auto id = serverIdArgument(o, "edit");
  if (!id) {
    return id.error();
  }
  auto wait = waitOf(o);
  if (!wait) {
    return wait.error();
  }
  // The options are checked before anything is read, asked or written.
  if (registry::RecordFields scratch; !applyFieldOptions(o, scratch)) {
    return applyFieldOptions(o, scratch).error();
  }
  auto given = secretsFromOptions(o, std::cin);
  if (!given) {
    return given.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  auto read = existingRecord(*c, ctx, *id, "add");
  if (!read) {
    return read.error();
  }
  registry::RecordFields fields = std::move(read.value());
  auth::Credentials stored;
  int version = 0;
  const std::string readBlob = valueOr(fields, "credentials", "");
  if (!readBlob.empty()) {
    auto ring = ctx.keyRing("the record's credentials");
    if (!ring) {
      return ring.error();
    }
    auto opened = registry::openRecordCredentials(*id, fields, **ring, &version);
    if (!opened) {
      return failure("record " + *id + ": " + opened.error().message);
    }
    stored = std::move(opened.value());
  }
  const registry::RecordFields before = fields;
  if (stored.bound) {
    restoreSealed(fields, *stored.bound, o);
  } else if (!readBlob.empty()) {
    // A v1 blob binds nothing: whoever can write to Redis may have changed these already.
    std::fprintf(stderr, "%s: v%d credentials, not bound to a destination; the record says:\n%s",
                 id->c_str(), version, describeBound(fields).c_str());
    if (!o.yes && !confirm("Seal " + *id + "'s credentials to these (and the options given)?")) {
      return failure(*id + ": left as it is");
    }
  } else if (valueOr(before, "auth_type", "none") != "none" && o.get("--auth", "") != "none") {
    // Auth without an envelope: add never writes that (it seals whenever there is auth), so
    // whoever can write to Redis made the record or removed its envelope, and nothing binds
    // its destination. Sealing it as it stands needs the operator's word.
    std::fprintf(stderr,
                 "%s: auth_type %s but no credentials envelope, so nothing binds its "
                 "destination; the record says:\n%s",
                 id->c_str(), printable(valueOr(before, "auth_type", "none")).c_str(),
                 describeBound(fields).c_str());
    if (!o.yes && !confirm("Seal " + *id + "'s credentials to these (and the options given)?")) {
      return failure(*id + ": left as it is (--yes seals them without asking)");
    }
  }
  if (auto r = applyFieldOptions(o, fields); !r) {
    return r.error();
  }
  fields["updated_at"] = nowRfc3339();
  if (auto r = discoverWhenNeeded(ctx, *id, o, fields); !r) {
    return r.error();
  }
  mergeSecrets(stored, std::move(given.value()));
  const bool authNone = valueOr(fields, "auth_type", "none") == "none";
  if (authNone) {
    stored = auth::Credentials{};  // no auth: the old secrets are dropped, not kept sealed
  }
  for (const char* f : auth::kBoundFieldNames) {
    const std::string was = valueOr(before, f, "(none)");
    const std::string now = valueOr(fields, f, "(none)");
    if (was != now) {
      std::fprintf(stderr, "%s: %s -> %s\n", f, printable(was).c_str(), printable(now).c_str());
    }
  }
  // Sealed whenever the record has auth, as add does: an authorization_code record has no
  // secret before its login, and still needs its envelope (the destination it binds).
  if (auto r = sealAndCheck(ctx, *id, fields, stored, !authNone); !r) {
    return r.error();
  }
  if (auto r =
          putOverRead(*c, ctx, *id, fields, readBlob,
                      "while it was being edited (a rotated token or another edit)", "the edit");
      !r) {
    return r.error();
  }
  return upsertAndReport(ctx, *id, *wait, o.json);
}

Outcome<Exit> login(const Context& ctx, const Options& o) {
  auto id = serverIdArgument(o, "login");
  if (!id) {
    return id.error();
  }
  auto wait = waitOf(o);
  if (!wait) {
    return wait.error();
  }
  auto browser = parseDuration(o.get("--timeout", "5m"));
  if (!browser || browser.value() <= 0) {
    return usageError("--timeout: " +
                      (browser ? std::string("must be more than 0") : browser.error().message));
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  auto read = existingRecord(*c, ctx, *id, "add --auth oauth2 --oauth2-flow authorization_code");
  if (!read) {
    return read.error();
  }
  registry::RecordFields fields = std::move(read.value());
  if (valueOr(fields, "auth_type", "none") != "oauth2" ||
      valueOr(fields, "oauth2_flow", "client_credentials") != "authorization_code") {
    return usageError(
        "login is for records with auth_type oauth2 and oauth2_flow "
        "authorization_code; " +
        *id + " has auth_type " + valueOr(fields, "auth_type", "none") +
        " (change it with edit --auth oauth2 --oauth2-flow authorization_code)");
  }
  auto ring = ctx.keyRing("the record's credentials");
  if (!ring) {
    return ring.error();
  }
  // As the daemon reads it: a record whose clear fields differ from its sealed copy is refused
  // here too (whoever can write to Redis must not send the operator's login elsewhere).
  registry::ServerSpec spec = registry::parseRecord(*id, fields, ctx.defaults(), **ring);
  if (!spec.invalidReason.empty()) {
    return failure(spec.invalidReason);
  }
  auth::Credentials stored;
  const std::string readBlob = valueOr(fields, "credentials", "");
  if (!readBlob.empty()) {
    auto opened = registry::openRecordCredentials(*id, fields, **ring, nullptr);
    if (!opened) {
      return failure("record " + *id + ": " + opened.error().message);
    }
    stored = std::move(opened.value());
  }
  InteractiveRequest in;
  in.spec = spec;
  in.waitMs = browser.value();
  if (o.has("--scope")) {
    in.spec.auth.oauth2.scopes = o.get("--scope");
  }
  // The token is tried once before it is stored: a server that wants another scope gets one
  // more authorization with it added (never a third).
  auto checked = authorizeAndCheck(ctx, std::move(in), spec);
  if (!checked) {
    return checked.error();
  }
  const Authorized& authorized = checked->authorized;
  if (authorized.tokens.refreshToken.empty()) {
    return failure("the authorization server issued no refresh token (scopes asked: " +
                   (authorized.scope.empty() ? std::string("none") : authorized.scope) +
                   "): mcp-healthd could not renew the access token. Ask for offline_access "
                   "(--scope) if the server needs it, or allow refresh tokens for this client");
  }
  stored.clientId = authorized.clientId;
  if (!authorized.clientSecret.empty()) {
    stored.clientSecret = authorized.clientSecret;
  }
  stored.refreshToken = authorized.tokens.refreshToken;
  if (fields.count("token_url") == 0) {
    fields["token_url"] = authorized.server.server.tokenEndpoint;  // bound from now on
  }
  // A confidential client registered here authenticates as it was registered (the daemon,
  // given a token_url, discovers nothing to choose from).
  if (authorized.registered && !authorized.clientSecret.empty() &&
      (authorized.authMethod == "client_secret_basic" ||
       authorized.authMethod == "client_secret_post")) {
    fields["token_endpoint_auth_method"] = authorized.authMethod;
  }
  // The scope the daemon's refreshes ask for: what was given, or after a step-up all that was
  // granted (a refresh that named less would get a token the server refuses again; one that
  // named an unissued scope, such as offline_access without openid, would be refused).
  if (checked->steppedUp) {
    fields["scopes"] =
        !authorized.tokens.scope.empty() ? authorized.tokens.scope : authorized.scope;
  } else if (o.has("--scope")) {
    fields["scopes"] = o.get("--scope");
  }
  fields["updated_at"] = nowRfc3339();
  if (auto r = sealAndCheck(ctx, *id, fields, stored, true); !r) {
    return r.error();
  }
  if (auto r = putOverRead(*c, ctx, *id, fields, readBlob,
                           "during the login (an edit, or another login)", "the login");
      !r) {
    return r.error();
  }
  std::fprintf(stderr, "%s: logged in%s; the refresh token is sealed into its record\n",
               id->c_str(), authorized.registered ? " (client registered)" : "");
  return upsertAndReport(ctx, *id, *wait, o.json);
}

Outcome<Exit> remove(const Context& ctx, const Options& o) {
  auto id = serverIdArgument(o, "remove");
  if (!id) {
    return id.error();
  }
  auto wait = waitOf(o);
  if (!wait) {
    return wait.error();
  }
  auto answers = sendAndWait(ctx, "remove", *id, 1, *wait);
  if (!answers) {
    return answers.error();
  }
  return reportAnswers(*answers, 1, o.json, Success::kRemoved);
}

}  // namespace mcphd::ctl
