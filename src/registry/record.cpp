#include "registry/record.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "auth/credentials.hpp"
#include "common/json_writer.hpp"
#include "common/units.hpp"
#include "common/url.hpp"
#include "common/utf8.hpp"

namespace mcphd::registry {

namespace {

struct Invalid {
  std::string reason;
};

const std::string* field(const RecordFields& f, const char* name) {
  auto it = f.find(name);
  return it == f.end() || it->second.empty() ? nullptr : &it->second;
}

int64_t duration(const RecordFields& f, const char* name, int64_t fallback) {
  const std::string* v = field(f, name);
  if (v == nullptr) {
    return fallback;
  }
  auto d = parseDuration(*v);
  if (!d) {
    throw Invalid{std::string(name) + ": " + d.error().message};
  }
  return d.value();
}

std::vector<std::pair<std::string, std::string>> headers(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(json).get(obj) != simdjson::SUCCESS) {
    throw Invalid{"headers: must be a JSON object of header names to strings"};
  }
  std::vector<std::pair<std::string, std::string>> out;
  for (auto [k, v] : obj) {
    std::string_view value;
    std::string name(k);
    if (v.get_string().get(value) != simdjson::SUCCESS) {
      throw Invalid{"headers: the value of '" + name.substr(0, 64) + "' must be a string"};
    }
    out.emplace_back(name, std::string(value));
  }
  return out;
}

void requireSecret(const Secret& s, const char* what, const char* authType) {
  if (s.empty()) {
    throw Invalid{std::string("credentials: auth_type ") + authType + " needs " + what};
  }
}

void applyCredentials(ServerSpec& spec, auth::Credentials& c, const RecordFields& f) {
  AuthSpec& a = spec.auth;
  switch (a.type) {
    case AuthType::kNone:
      break;
    case AuthType::kBearer:
      requireSecret(c.bearerToken, "bearer_token", "bearer");
      a.token = std::move(c.bearerToken);
      break;
    case AuthType::kBasic:
      if (c.username.empty() || c.username.find(':') != std::string::npos) {
        throw Invalid{"credentials: auth_type basic needs a username without ':'"};
      }
      requireSecret(c.password, "password", "basic");
      a.username = c.username;
      a.password = std::move(c.password);
      break;
    case AuthType::kHeaders:
      if (c.headers.empty()) {
        throw Invalid{"credentials: auth_type headers needs headers"};
      }
      for (auto& [name, value] : c.headers) {
        a.headers.emplace_back(name, std::move(value));  // names: validateServer, below
      }
      break;
    case AuthType::kOAuth2: {
      OAuth2Spec& o = a.oauth2;
      o.clientId = c.clientId;
      o.clientSecret = std::move(c.clientSecret);
      o.privateKeyPem = std::move(c.privateKeyPem);
      o.refreshToken = std::move(c.refreshToken);
      if (o.flow == OAuth2Flow::kClientCredentials) {
        if (o.clientId.empty()) {
          throw Invalid{"credentials: oauth2 client_credentials needs client_id"};
        }
        if (o.method == TokenAuthMethod::kPrivateKeyJwt) {
          requireSecret(o.privateKeyPem,
                        "private_key_pem (token_endpoint_auth_method private_key_jwt)", "oauth2");
        } else if (o.clientSecret.empty() && o.privateKeyPem.empty()) {
          throw Invalid{
              "credentials: oauth2 client_credentials needs client_secret or private_key_pem"};
        }
      }
      break;
    }
  }
  (void)f;
}

// Every field a record may hold that the daemon reads; each must be valid UTF-8.
constexpr const char* kKnownFields[] = {
    "url",         "transport", "name",     "auth_type", "oauth2_flow",
    "token_url",   "scopes",    "audience", "resource",  "token_endpoint_auth_method",
    "headers",     "interval",  "timeout",  "enabled",   "watch_tools",
    "credentials", "command",   "tool_baseline", "on_drift", "on_finding"};

// A registry record may make the tool-baseline settings stricter than the config's defaults,
// never looser: whoever can write to Redis must not be able to switch the check of its tools off.
baseline::Settings toolSettings(const RecordFields& f, const baseline::Settings& config) {
  baseline::Settings out = config;
  const auto looser = [](const char* name, const std::string& value, const char* allowed) {
    return Invalid{std::string(name) + ": '" + value.substr(0, 32) +
                   "' is looser than the config's defaults (" + allowed +
                   "); a registry record may only make it stricter"};
  };
  if (const std::string* v = field(f, "tool_baseline")) {
    auto p = baseline::parsePolicy(*v);
    if (!p) {
      throw Invalid{"tool_baseline: " + p.error().message};
    }
    if (!baseline::atLeastAsStrict(*p, config.policy)) {
      throw looser("tool_baseline", *v, baseline::policyName(config.policy));
    }
    out.policy = *p;
  }
  for (const char* name : {"on_drift", "on_finding"}) {
    const std::string* v = field(f, name);
    if (v == nullptr) {
      continue;
    }
    auto a = baseline::parseAction(*v);
    if (!a) {
      throw Invalid{std::string(name) + ": " + a.error().message};
    }
    baseline::Action& target = std::string_view(name) == "on_drift" ? out.onDrift : out.onFinding;
    if (!baseline::atLeastAsStrict(*a, target)) {
      throw looser(name, *v, baseline::actionName(target));
    }
    target = *a;
  }
  return out;
}

// The record's settings without its credentials.
ServerSpec buildClear(const std::string& id, const RecordFields& f, const ServerSpec& defaults) {
  for (const char* name : kKnownFields) {
    auto it = f.find(name);
    if (it != f.end() && !validUtf8(it->second)) {
      throw Invalid{std::string(name) + ": is not valid UTF-8"};
    }
  }
  ServerSpec s = defaults;
  s.id = id;
  s.source = Source::kRedis;
  s.auth = AuthSpec{};
  if (const std::string* n = field(f, "name")) {
    s.name = *n;
  }
  const std::string* transport = field(f, "transport");
  if ((transport != nullptr && *transport == "stdio") || field(f, "command") != nullptr) {
    // Whoever can write to Redis must not be able to make the daemon run programs.
    throw Invalid{
        "transport: stdio servers can only be declared in the daemon's config file (a Redis "
        "record cannot start processes)"};
  }
  if (const std::string* url = field(f, "url")) {
    s.url = *url;
  }
  if (const std::string* t = field(f, "transport")) {
    if (*t == "streamable_http") {
      s.transport = Transport::kStreamableHttp;
    } else if (*t == "sse") {
      s.transport = Transport::kSse;
    } else if (*t == "auto") {
      s.transport = Transport::kAuto;
    } else {
      throw Invalid{"transport: '" + t->substr(0, 64) +
                    "' is not one of auto, streamable_http, sse"};
    }
  }
  if (const std::string* h = field(f, "headers")) {
    s.headers = headers(*h);
  }
  if (const std::string* w = field(f, "watch_tools")) {
    if (*w != "true" && *w != "false") {
      throw Invalid{"watch_tools: must be true or false"};
    }
    s.watchTools = *w == "true";
  }
  s.intervalMs = duration(f, "interval", s.intervalMs);
  s.timeoutMs = duration(f, "timeout", s.timeoutMs);
  s.tools = toolSettings(f, defaults.tools);
  const std::string* type = field(f, "auth_type");
  std::string authType = type == nullptr ? "none" : *type;
  if (authType == "none") {
    s.auth.type = AuthType::kNone;
  } else if (authType == "bearer") {
    s.auth.type = AuthType::kBearer;
  } else if (authType == "basic") {
    s.auth.type = AuthType::kBasic;
  } else if (authType == "headers") {
    s.auth.type = AuthType::kHeaders;
  } else if (authType == "oauth2") {
    s.auth.type = AuthType::kOAuth2;
    OAuth2Spec& o = s.auth.oauth2;
    const std::string* flow = field(f, "oauth2_flow");
    if (flow == nullptr || *flow == "client_credentials") {
      o.flow = OAuth2Flow::kClientCredentials;
    } else if (*flow == "authorization_code") {
      o.flow = OAuth2Flow::kAuthorizationCode;
    } else {
      throw Invalid{"oauth2_flow: must be client_credentials or authorization_code"};
    }
    if (const std::string* u = field(f, "token_url")) {
      o.tokenUrl = *u;
    }
    if (const std::string* v = field(f, "scopes")) {
      o.scopes = *v;
    }
    if (const std::string* v = field(f, "audience")) {
      o.audience = *v;
    }
    if (const std::string* v = field(f, "resource")) {
      o.resource = *v;
    }
    if (const std::string* m = field(f, "token_endpoint_auth_method")) {
      if (*m == "client_secret_basic") {
        o.method = TokenAuthMethod::kClientSecretBasic;
      } else if (*m == "client_secret_post") {
        o.method = TokenAuthMethod::kClientSecretPost;
      } else if (*m == "private_key_jwt") {
        o.method = TokenAuthMethod::kPrivateKeyJwt;
      } else {
        throw Invalid{
            "token_endpoint_auth_method: must be client_secret_basic, client_secret_post or "
            "private_key_jwt"};
      }
    }
  } else {
    throw Invalid{"auth_type: '" + authType.substr(0, 64) +
                  "' is not one of none, bearer, basic, headers, oauth2"};
  }
  return s;
}

// A URL as compared: normalized when it parses, else as written.
std::string comparable(const std::string& url) {
  auto n = normalizeHttpUrl(url);
  return n ? *n : url;
}

// Scopes as a set: order and repeated spaces carry no meaning.
std::string scopeSet(const std::string& scopes) {
  std::set<std::string> set;
  size_t i = 0;
  while (i < scopes.size()) {
    size_t j = scopes.find(' ', i);
    if (j == std::string::npos) {
      j = scopes.size();
    }
    if (j > i) {
      set.insert(scopes.substr(i, j - i));
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& sc : set) {
    out += (out.empty() ? "" : " ") + sc;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> headerSet(
    const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, value] : headers) {
    std::string n = name;
    std::transform(n.begin(), n.end(), n.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.emplace_back(std::move(n), value);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Names the bound fields in which `clear` (the record as stored) differs from `sealed` (the copy
// in its envelope), both built with the same defaults.
std::vector<std::string> boundDifferences(const ServerSpec& clear, const ServerSpec& sealed) {
  std::vector<std::string> d;
  if (comparable(clear.url) != comparable(sealed.url)) {
    d.emplace_back("url");
  }
  if (clear.transport != sealed.transport) {
    d.emplace_back("transport");
  }
  if (clear.auth.type != sealed.auth.type) {
    d.emplace_back("auth_type");
  }
  if (clear.auth.type != AuthType::kOAuth2 || sealed.auth.type != AuthType::kOAuth2) {
    if (headerSet(clear.headers) != headerSet(sealed.headers)) {
      d.emplace_back("headers");
    }
    return d;  // the OAuth2 fields mean nothing without auth_type oauth2 on both sides
  }
  const OAuth2Spec& a = clear.auth.oauth2;
  const OAuth2Spec& b = sealed.auth.oauth2;
  if (a.flow != b.flow) {
    d.emplace_back("oauth2_flow");
  }
  if (comparable(a.tokenUrl) != comparable(b.tokenUrl)) {
    d.emplace_back("token_url");
  }
  // An absent resource means the server URL.
  if ((!a.resource.empty() || !b.resource.empty()) &&
      comparable(a.resource.empty() ? clear.url : a.resource) !=
          comparable(b.resource.empty() ? sealed.url : b.resource)) {
    d.emplace_back("resource");
  }
  if (a.audience != b.audience) {
    d.emplace_back("audience");
  }
  if (scopeSet(a.scopes) != scopeSet(b.scopes)) {
    d.emplace_back("scopes");
  }
  if (a.method != b.method) {
    d.emplace_back("token_endpoint_auth_method");
  }
  if (headerSet(clear.headers) != headerSet(sealed.headers)) {
    d.emplace_back("headers");
  }
  return d;
}

void checkBound(const std::string& id, const ServerSpec& clear, const auth::BoundFields& bound,
                const ServerSpec& defaults) {
  RecordFields sealedFields = bound.values;
  if (bound.headers) {
    sealedFields["headers"] = headersJson(*bound.headers);
  }
  ServerSpec sealed;
  try {
    sealed = buildClear(id, sealedFields, defaults);
  } catch (const Invalid& e) {
    throw Invalid{"credentials: the sealed copy of the record is not valid (" + e.reason +
                  "); re-seal with mcp-healthctl edit " + id};
  }
  auto diff = boundDifferences(clear, sealed);
  if (diff.empty()) {
    return;
  }
  std::string names;
  for (size_t i = 0; i < diff.size(); ++i) {
    names += (i == 0 ? "" : i + 1 == diff.size() ? " and " : ", ") + diff[i];
  }
  throw Invalid{diff.size() == 1 ? names + " differs from the sealed " + names +
                                       "; re-seal with mcp-healthctl edit " + id
                                 : names +
                                       " differ from their sealed copies; re-seal with "
                                       "mcp-healthctl edit " +
                                       id};
}

auth::Credentials openCredentials(const std::string& id, const std::string& blob,
                                  const auth::KeyRing& keys, int& version) {
  if (keys.empty()) {
    throw Invalid{"credentials: the daemon has no secrets.keys to decrypt them with"};
  }
  auto plain = keys.open(blob, id, &version);
  if (!plain) {
    throw Invalid{plain.error().message};
  }
  auto creds = auth::parseCredentials(plain->reveal());
  if (!creds) {
    throw Invalid{creds.error().message};
  }
  return std::move(creds.value());
}

ServerSpec buildUnchecked(const std::string& id, const RecordFields& f, const ServerSpec& defaults,
                          const auth::KeyRing& keys, const RecordOptions& options,
                          RecordNotes* notes) {
  ServerSpec s = buildClear(id, f, defaults);
  // The record's own settings first: a missing or malformed field is named as such, before any
  // comparison with the sealed copy (the whole spec is validated again once credentials apply).
  if (auto bad = validateServer(s)) {
    throw Invalid{bad->field + ": " + bad->message};
  }
  const std::string* blob = field(f, "credentials");
  if (s.auth.type == AuthType::kNone && blob == nullptr) {
    return s;
  }
  if (blob == nullptr) {
    throw Invalid{std::string("credentials: auth_type ") + authTypeName(s.auth.type) +
                  " needs a credentials envelope"};
  }
  int version = 0;
  auth::Credentials creds = openCredentials(id, *blob, keys, version);
  if (version == 1 && !options.acceptV1) {
    throw Invalid{
        "credentials: a v1 envelope is not bound to the record's destination and is refused; "
        "convert it with mcp-healthctl reseal " +
        id + " (or set secrets.accept_v1: true)"};
  }
  if (version >= 2 && !creds.bound) {
    throw Invalid{
        "credentials: the v2 envelope holds no 'bound' copy of the record's fields; "
        "re-seal with mcp-healthctl edit " +
        id};
  }
  if (creds.bound) {
    checkBound(id, s, *creds.bound, defaults);
  }
  if (version == 1 && notes != nullptr) {
    notes->v1 = true;
  }
  applyCredentials(s, creds, f);
  if (!s.auth.oauth2.refreshToken.empty()) {
    s.auth.oauth2.sealedBlob = *blob;
  }
  return s;
}

// The record's spec, credentials applied, checked by the one validator of server settings.
ServerSpec build(const std::string& id, const RecordFields& f, const ServerSpec& defaults,
                 const auth::KeyRing& keys, const RecordOptions& options, RecordNotes* notes) {
  ServerSpec s = buildUnchecked(id, f, defaults, keys, options, notes);
  if (auto bad = validateServer(s)) {
    // A record's secret headers are part of its credentials.
    throw Invalid{(bad->field == "auth.headers" ? std::string("credentials") : bad->field) + ": " +
                  bad->message};
  }
  return s;
}

}  // namespace

ServerSpec parseRecord(const std::string& id, const RecordFields& fields,
                       const ServerSpec& defaults, const auth::KeyRing& keys,
                       const RecordOptions& options, RecordNotes* notes) {
  if (const std::string* e = field(fields, "enabled");
      e != nullptr && *e != "true" && *e != "false" && *e != "1" && *e != "0") {
    ServerSpec bad = defaults;
    bad.id = id;
    bad.source = Source::kRedis;
    bad.auth = AuthSpec{};
    bad.invalidReason = "record " + id + ": enabled: must be true or false";
    return bad;
  }
  try {
    return build(id, fields, defaults, keys, options, notes);
  } catch (const Invalid& e) {
    ServerSpec bad = defaults;  // no secret of the record survives in it
    bad.id = id;
    bad.source = Source::kRedis;
    bad.auth = AuthSpec{};
    if (const std::string* url = field(fields, "url"); url != nullptr && validUtf8(*url)) {
      bad.url = *url;
    }
    bad.invalidReason = "record " + id + ": " + e.reason;
    return bad;
  }
}

}  // namespace mcphd::registry

namespace mcphd::registry {

std::string headersJson(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string out = "{";
  for (const auto& [name, value] : headers) {
    if (out.size() > 1) {
      out += ',';
    }
    json::appendString(out, name);
    out += ':';
    json::appendString(out, value);
  }
  return out + "}";
}

Result<auth::BoundFields> boundFieldsOf(const RecordFields& fields) {
  auth::BoundFields b;
  for (const char* name : auth::kBoundFieldNames) {
    const std::string* v = field(fields, name);
    if (v == nullptr) {
      continue;
    }
    if (std::string_view(name) == "headers") {
      try {
        b.headers = headers(*v);
      } catch (const Invalid& e) {
        return makeError(e.reason);
      }
      continue;
    }
    b.values[name] = *v;
  }
  return b;
}

Result<std::string> sealRecord(const std::string& id, const RecordFields& fields,
                               auth::Credentials creds, const auth::KeyRing& keys) {
  auto bound = boundFieldsOf(fields);
  if (!bound) {
    return bound.error();
  }
  creds.bound = std::move(bound.value());
  std::string plain = auth::encodeCredentials(creds);
  auto blob = keys.seal(plain, id);
  wipeString(plain);
  return blob;
}

Result<auth::Credentials> openRecordCredentials(const std::string& id, const RecordFields& fields,
                                                const auth::KeyRing& keys, int* version) {
  const std::string* blob = field(fields, "credentials");
  if (blob == nullptr) {
    return auth::Credentials{};
  }
  int v = 0;
  try {
    auth::Credentials c = openCredentials(id, *blob, keys, v);
    if (version != nullptr) {
      *version = v;
    }
    return c;
  } catch (const Invalid& e) {
    return makeError(e.reason);
  }
}

}  // namespace mcphd::registry
