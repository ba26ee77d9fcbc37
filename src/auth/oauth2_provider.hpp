#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/auth_provider.hpp"
#include "auth/oauth2.hpp"
#include "common/clock.hpp"
#include "http/client.hpp"

namespace mcphd::auth {

// Credentials for every auth type: static ones directly, OAuth2 client credentials through the
// token endpoint (configured, or discovered from the server's 401 challenge), with tokens cached
// per (token URL, client id, hash of the secret, scope, audience, resource) until expires_in minus
// a skew, and one token request in flight per cache key however many checks wait for it.
class OAuth2Provider final : public AuthProvider {
 public:
  OAuth2Provider(http::Client& http, const Clock& clock, int64_t skewMs = 60'000);
  ~OAuth2Provider() override;

  std::unique_ptr<Pending> authorize(
      const registry::ServerSpec& spec,
      std::function<void(Result<std::vector<std::string>>)> done) override;
  void rejected(const registry::ServerSpec& spec) override;
  bool retriesOn401(const registry::ServerSpec& spec) const override;
  bool needsAuthorization(const registry::ServerSpec& spec) const override;

  // Called when the authorization server rotates a refresh token, so it can be stored (encrypted)
  // in the server's record; until the record says so, the new token is used from memory.
  void onRefreshTokenRotated(
      std::function<void(const registry::ServerSpec&, const Secret&)> callback) {
    rotated_ = std::move(callback);
  }
  std::unique_ptr<Pending> discover(const registry::ServerSpec& spec, const std::string& challenge,
                                    std::function<void(Result<void>)> done) override;

  // What discovery found for the server's current url: its token endpoint and issuer ("" when
  // nothing yet). mcp-healthctl stores the endpoint in the record, which binds it.
  std::string discoveredTokenEndpoint(const registry::ServerSpec& spec) const {
    const Discovered* d = discoveredFor(spec);
    return d == nullptr ? std::string() : d->tokenUrl;
  }
  std::string discoveredIssuer(const registry::ServerSpec& spec) const {
    const Discovered* d = discoveredFor(spec);
    return d == nullptr ? std::string() : d->issuer;
  }
  // Everything discovery found for the server's current url, for the authorization-code flow of
  // mcp-healthctl (login, probe): nullopt when nothing was discovered yet.
  struct Found {
    std::string issuer;
    std::string resource;                     // the protected resource metadata's `resource`
    std::string challengeScope;               // the 401 challenge's `scope`
    std::vector<std::string> resourceScopes;  // the protected resource's scopes_supported
    AuthorizationServer server;               // checked (checkAuthorizationServer)
  };
  std::optional<Found> discovered(const registry::ServerSpec& spec) const;

  size_t cachedTokens() const { return tokens_.size(); }
  uint64_t tokenRequests() const { return tokenRequests_; }
  // Token endpoint answers: a token, or a failure (unreachable, refused, unusable answer).
  uint64_t tokenSuccesses() const { return tokenSuccesses_; }
  uint64_t tokenFailures() const { return tokenFailures_; }

  static constexpr int64_t kDefaultLifetimeMs = 300'000;  // when expires_in is absent

 private:
  struct Discovered {
    std::string serverUrl;  // what it was discovered for: forgotten when the record's url changes
    std::string tokenUrl;
    std::string issuer;
    std::string resource;
    std::string challengeScope;
    std::vector<std::string> methods;
    std::vector<std::string> resourceScopes;
    AuthorizationServer server;  // the whole metadata (the fields above come from it)
  };
  struct Cached {
    Secret token;
    int64_t expiresAtMs = 0;
  };
  struct Waiter {
    uint64_t id;
    std::function<void(Result<std::vector<std::string>>)> done;
  };
  struct Flight {
    std::vector<Waiter> waiters;
    std::unique_ptr<http::Call> call;
  };
  class WaiterHandle;
  class DiscoveryRun;
  friend class WaiterHandle;
  friend class DiscoveryRun;

  std::string cacheKey(const registry::ServerSpec& spec, const Discovered* d) const;
  void startFlight(const std::string& key, const registry::ServerSpec& spec, const Discovered* d);
  const Secret& refreshTokenFor(const registry::ServerSpec& spec) const;
  void completeFlight(const std::string& key, Result<std::vector<std::string>> result);
  void dropWaiter(const std::string& key, uint64_t id);

  http::Client& http_;
  const Clock& clock_;
  int64_t skewMs_;
  StaticAuthProvider static_;
  std::map<std::string, Discovered> discovered_;  // per server id
  // What was discovered for the server's current url, or nullptr.
  const Discovered* discoveredFor(const registry::ServerSpec& spec) const;
  // The entry for the server's current url (a fresh one when its url changed).
  Discovered& discoveredEntry(const registry::ServerSpec& spec);
  std::map<std::string, Cached> tokens_;
  std::map<std::string, Flight> flights_;
  // Rotated refresh tokens, per server id, with the record's token they replaced: the rotated one
  // is used while the record holds either (its write-back may be pending); a record holding
  // another one (a fresh login, an edit) wins.
  struct Rotated {
    Secret token;
    std::vector<Secret> superseded;  // every token this chain replaced (the last 16)
  };
  std::map<std::string, Rotated> refreshTokens_;
  std::map<std::string, std::string>
      refreshDead_;  // per server id: hash of the refused refresh token
  std::function<void(const registry::ServerSpec&, const Secret&)> rotated_;
  uint64_t nextWaiter_ = 1;
  uint64_t tokenRequests_ = 0;
  uint64_t tokenSuccesses_ = 0;
  uint64_t tokenFailures_ = 0;
};

}  // namespace mcphd::auth
