#include "registry/server_spec.hpp"

#include "common/sha256.hpp"

namespace mcphd::registry {

namespace {

// Length-prefixed, so that no two different field lists encode the same way.
struct Encoder {
  std::string out;
  void add(std::string_view v) {
    out += std::to_string(v.size());
    out += ':';
    out += v;
  }
  void add(int64_t v) { add(std::to_string(v)); }
  void add(double v) { add(std::to_string(v)); }
  void add(bool v) { add(std::string_view(v ? "1" : "0")); }
  // A secret counts by whether it is set, never by its value.
  void addSecret(const Secret& v) { add(std::string_view(v.empty() ? "unset" : "set")); }
};

}  // namespace

std::string settingsDigest(const ServerSpec& spec) {
  Encoder e;
  e.add(std::string_view("mcp-healthd/settings1"));
  e.add(spec.id);
  e.add(spec.name);
  e.add(spec.invalidReason);
  e.add(spec.url);
  e.add(std::string_view(transportName(spec.transport)));
  e.add(spec.command);
  e.add(static_cast<int64_t>(spec.args.size()));
  for (const auto& a : spec.args) {
    e.add(a);
  }
  e.add(static_cast<int64_t>(spec.env.size()));
  for (const auto& [name, value] : spec.env) {
    e.add(name);
    e.addSecret(value);
  }
  e.add(spec.cwd);
  e.add(spec.watchTools);
  e.add(spec.minRelistIntervalMs);
  e.add(static_cast<int64_t>(spec.headers.size()));
  for (const auto& [name, value] : spec.headers) {
    e.add(name);
    e.add(value);
  }
  const AuthSpec& a = spec.auth;
  e.add(std::string_view(authTypeName(a.type)));
  e.addSecret(a.token);
  e.add(a.username);
  e.addSecret(a.password);
  e.add(static_cast<int64_t>(a.headers.size()));
  for (const auto& [name, value] : a.headers) {
    e.add(name);
    e.addSecret(value);
  }
  const OAuth2Spec& o = a.oauth2;
  e.add(static_cast<int64_t>(o.flow));
  e.add(o.tokenUrl);
  e.add(o.scopes);
  e.add(o.audience);
  e.add(o.resource);
  e.add(std::string_view(tokenAuthMethodName(o.method)));
  e.add(o.clientId);
  e.addSecret(o.clientSecret);
  e.addSecret(o.privateKeyPem);
  e.addSecret(o.refreshToken);
  e.add(spec.intervalMs);
  e.add(spec.timeoutMs);
  e.add(spec.connectTimeoutMs);
  e.add(spec.jitter);
  e.add(static_cast<int64_t>(spec.healthyThreshold));
  e.add(static_cast<int64_t>(spec.unhealthyThreshold));
  e.add(spec.unhealthyIntervalMs);
  e.add(spec.maxBackoffMs);
  e.add(static_cast<int64_t>(spec.maxBody));
  e.add(static_cast<int64_t>(spec.maxTools));
  e.add(static_cast<int64_t>(spec.maxToolsBytes));
  return sha256Hex(e.out);
}

const char* transportName(Transport t) {
  switch (t) {
    case Transport::kStreamableHttp:
      return "streamable_http";
    case Transport::kSse:
      return "sse";
    case Transport::kAuto:
      return "auto";
    case Transport::kStdio:
      return "stdio";
  }
  return "?";
}

const char* authTypeName(AuthType t) {
  switch (t) {
    case AuthType::kNone:
      return "none";
    case AuthType::kBearer:
      return "bearer";
    case AuthType::kBasic:
      return "basic";
    case AuthType::kHeaders:
      return "headers";
    case AuthType::kOAuth2:
      return "oauth2";
  }
  return "?";
}

const char* tokenAuthMethodName(TokenAuthMethod m) {
  switch (m) {
    case TokenAuthMethod::kAuto:
      return "auto";
    case TokenAuthMethod::kClientSecretBasic:
      return "client_secret_basic";
    case TokenAuthMethod::kClientSecretPost:
      return "client_secret_post";
    case TokenAuthMethod::kPrivateKeyJwt:
      return "private_key_jwt";
  }
  return "?";
}

}  // namespace mcphd::registry
