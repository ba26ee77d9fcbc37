#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "baseline/baseline.hpp"
#include "common/secret.hpp"
#include "common/trigger.hpp"

namespace mcphd::registry {

enum class Transport { kStreamableHttp, kSse, kAuto, kStdio };
enum class AuthType { kNone, kBearer, kBasic, kHeaders, kOAuth2 };
enum class OAuth2Flow { kClientCredentials, kAuthorizationCode };
enum class TokenAuthMethod { kAuto, kClientSecretBasic, kClientSecretPost, kPrivateKeyJwt };

struct OAuth2Spec {
  OAuth2Flow flow = OAuth2Flow::kClientCredentials;
  std::string tokenUrl;  // empty: discovered from the server (MCP authorization spec)
  std::string scopes;    // space-separated
  std::string audience;
  std::string resource;  // empty: the server URL
  TokenAuthMethod method = TokenAuthMethod::kAuto;
  std::string clientId;
  Secret clientSecret;
  Secret privateKeyPem;
  Secret refreshToken;
  // The credentials blob this refresh token was read from (servers in Redis): a rotated token is
  // written back only over this blob, never over a newer one.
  std::string sealedBlob;
  bool operator==(const OAuth2Spec&) const = default;
};

struct AuthSpec {
  AuthType type = AuthType::kNone;
  Secret token;                                         // bearer
  std::string username;                                 // basic
  Secret password;                                      // basic
  std::vector<std::pair<std::string, Secret>> headers;  // headers: secret header values
  OAuth2Spec oauth2;                                    // oauth2
  bool operator==(const AuthSpec&) const = default;
};

// Everything needed to check one server, whatever source (config file, Redis) it came from.
enum class Source { kConfig, kRedis };

struct ServerSpec {
  std::string id;
  std::string name;  // for people; optional
  Source source = Source::kConfig;
  // Non-empty when the server's record is unusable: checks then publish error kind "config" with
  // this message and send nothing.
  std::string invalidReason;
  std::string url;  // URL servers
  Transport transport = Transport::kAuto;
  // stdio servers (config file only: a Redis record may not start processes).
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, Secret>> env;  // added to a minimal inherited environment
  std::string cwd;                                  // empty: the daemon's working directory
  // Keep a session open to hear notifications/tools/list_changed (servers that advertise it).
  bool watchTools = false;
  // A watched server is re-listed at most once per this, however often it says list_changed (its
  // first notification is still answered within kListChangedCoalesceMs).
  int64_t minRelistIntervalMs = 5'000;
  std::vector<std::pair<std::string, std::string>> headers;  // not secret
  AuthSpec auth;
  int64_t intervalMs = 30'000;
  int64_t timeoutMs = 10'000;
  int64_t connectTimeoutMs = 3'000;
  double jitter = 0.10;  // fraction of the interval
  int healthyThreshold = 2;
  int unhealthyThreshold = 3;
  int64_t unhealthyIntervalMs = 5'000;
  int64_t maxBackoffMs = 300'000;
  size_t maxBody = 8 * 1024 * 1024;
  size_t maxTools = 10'000;                 // a whole tool list: more is a protocol error
  size_t maxToolsBytes = 16 * 1024 * 1024;  // ... and so are more bytes of tool definitions
  // tool_baseline, on_drift, on_finding (docs/PROTOCOL.md, "Tool baselines").
  baseline::Settings tools;
  bool operator==(const ServerSpec&) const = default;
};

// A digest of a server's settings (SHA-256 hex over a length-prefixed encoding of every field
// but the source): members of a cluster compare the digests of their config-file servers to
// learn who declares a server with the same settings. Secret values (tokens, passwords, client
// secrets, keys, secret headers and environment values) are not part of it, only whether each
// is set and under which name: the digests are announced in Redis.
std::string settingsDigest(const ServerSpec& spec);

const char* transportName(Transport t);
const char* authTypeName(AuthType t);
const char* tokenAuthMethodName(TokenAuthMethod m);

// A source of servers (the config file now, the Redis registry next). It announces the full set
// at start and every later change to its listener.
class ServerListener {
 public:
  virtual ~ServerListener() = default;
  // Adds the server, or replaces the one with the same id (which keeps its schedule). A new
  // server's first check is due by the scheduler's one rule (its last published check, else now)
  // and carries `firstCheck` (startup, reload, resync).
  virtual void upsertServer(const ServerSpec& spec, Trigger firstCheck) = 0;
  virtual void removeServer(const std::string& id) = 0;
};

}  // namespace mcphd::registry
