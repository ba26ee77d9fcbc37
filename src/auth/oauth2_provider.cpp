#include "auth/oauth2_provider.hpp"

#include <sodium.h>

#include <algorithm>

#include "auth/jwt.hpp"
#include "common/base64.hpp"
#include "common/redact.hpp"
#include "common/sha256.hpp"

namespace mcphd::auth {

namespace {

using registry::AuthType;
using registry::OAuth2Flow;
using registry::TokenAuthMethod;

}  // namespace

// A check waiting for a token; destroying it stops the wait (the request goes on for others).
class OAuth2Provider::WaiterHandle final : public Pending {
 public:
  WaiterHandle(OAuth2Provider& p, std::string key, uint64_t id)
      : p_(p), key_(std::move(key)), id_(id) {}
  ~WaiterHandle() override { p_.dropWaiter(key_, id_); }

 private:
  OAuth2Provider& p_;
  std::string key_;
  uint64_t id_;
};

// Protected resource metadata, then authorization server metadata, trying each candidate URL in
// order and moving on after a 4xx.
class OAuth2Provider::DiscoveryRun final : public Pending {
 public:
  DiscoveryRun(OAuth2Provider& p, registry::ServerSpec spec, std::string resourceMetadata,
               std::function<void(Result<void>)> done)
      : p_(p), spec_(std::move(spec)), done_(std::move(done)) {
    prm_ = protectedResourceCandidates(spec_.url, resourceMetadata);
  }

  void start() {
    fetch(prm_, 0, [this](Result<std::string> body) { onPrm(std::move(body)); });
  }

 private:
  using BodyCallback = std::function<void(Result<std::string>)>;

  void fetch(const std::vector<std::string>& urls, size_t i, BodyCallback cb) {
    if (i >= urls.size()) {
      cb(makeError(lastError_.empty() ? "no metadata URL to try" : lastError_));
      return;
    }
    http::Request req;
    req.method = "GET";
    req.url = urls[i];
    req.registryEgress = spec_.source == registry::Source::kRedis;
    req.headers = {"Accept: application/json", "MCP-Protocol-Version: 2025-11-25"};
    req.timeoutMs = spec_.timeoutMs;
    req.connectTimeoutMs = spec_.connectTimeoutMs;
    req.maxBody = 1024 * 1024;
    call_ = p_.http_.send(std::move(req), [this, urls, i, cb](http::Response r) {
      if (r.failure != http::Failure::kNone) {
        cb(makeError(urls[i] + " is unreachable: " + r.failureMessage));
        return;
      }
      if (r.status >= 200 && r.status < 300) {
        cb(std::move(r.body));
        return;
      }
      lastError_ = urls[i] + " answered HTTP " + std::to_string(r.status);
      if (r.status >= 400 && r.status < 500) {
        fetch(urls, i + 1, cb);  // the next candidate
        return;
      }
      cb(makeError(lastError_));
    });
  }

  void onPrm(Result<std::string> body) {
    if (!body) {
      return finish(makeError("OAuth discovery: no protected resource metadata (" +
                              body.error().message + ")"));
    }
    std::string resource;
    auto issuer =
        parseProtectedResource(body.value(), spec_.url, &resource, &found_.resourceScopes);
    if (!issuer) {
      return finish(makeError("OAuth discovery: " + issuer.error().message));
    }
    found_.issuer = issuer.value();
    found_.resource = resource;
    lastError_.clear();
    fetch(authorizationServerCandidates(found_.issuer), 0,
          [this](Result<std::string> b) { onAs(std::move(b)); });
  }

  void onAs(Result<std::string> body) {
    if (!body) {
      return finish(makeError("OAuth discovery: no metadata for authorization server " +
                              found_.issuer + " (" + body.error().message + ")"));
    }
    auto as = parseAuthorizationServer(body.value());
    if (!as) {
      return finish(makeError("OAuth discovery: " + as.error().message));
    }
    if (auto ok = checkAuthorizationServer(as.value(), found_.issuer); !ok) {
      return finish(makeError("OAuth discovery: " + ok.error().message));
    }
    found_.tokenUrl = as->tokenEndpoint;
    found_.methods = as->authMethods;
    Discovered& d = p_.discoveredEntry(spec_);
    d.tokenUrl = found_.tokenUrl;
    d.issuer = found_.issuer;
    d.resource = found_.resource;
    d.methods = found_.methods;
    d.server = std::move(as.value());
    d.resourceScopes = found_.resourceScopes;
    finish({});
  }

  void finish(Result<void> r) {
    auto done = std::move(done_);
    done(std::move(r));  // may destroy this
  }

  OAuth2Provider& p_;
  registry::ServerSpec spec_;
  std::function<void(Result<void>)> done_;
  std::vector<std::string> prm_;
  std::string lastError_;
  Discovered found_;
  std::unique_ptr<http::Call> call_;
};

OAuth2Provider::OAuth2Provider(http::Client& http, const Clock& clock, int64_t skewMs)
    : http_(http), clock_(clock), skewMs_(skewMs) {}

OAuth2Provider::~OAuth2Provider() = default;

const OAuth2Provider::Discovered* OAuth2Provider::discoveredFor(
    const registry::ServerSpec& spec) const {
  auto it = discovered_.find(spec.id);
  return it == discovered_.end() || it->second.serverUrl != spec.url ? nullptr : &it->second;
}

OAuth2Provider::Discovered& OAuth2Provider::discoveredEntry(const registry::ServerSpec& spec) {
  Discovered& d = discovered_[spec.id];
  if (d.serverUrl != spec.url) {
    d = Discovered{};  // discovered for another url: its token endpoint is not this one's
    d.serverUrl = spec.url;
  }
  return d;
}

std::optional<OAuth2Provider::Found> OAuth2Provider::discovered(
    const registry::ServerSpec& spec) const {
  const Discovered* d = discoveredFor(spec);
  if (d == nullptr || d->tokenUrl.empty()) {
    return std::nullopt;
  }
  return Found{d->issuer, d->resource, d->challengeScope, d->resourceScopes, d->server};
}

bool OAuth2Provider::retriesOn401(const registry::ServerSpec& spec) const {
  return spec.auth.type == AuthType::kOAuth2;
}

const Secret& OAuth2Provider::refreshTokenFor(const registry::ServerSpec& spec) const {
  auto it = refreshTokens_.find(spec.id);
  const Secret& stored = spec.auth.oauth2.refreshToken;
  // A rotated token wins until the record carries it, or carries a newer one of its own.
  if (it != refreshTokens_.end()) {
    const Rotated& r = it->second;
    if (stored == r.token ||
        std::find(r.superseded.begin(), r.superseded.end(), stored) != r.superseded.end()) {
      return r.token;  // the record still holds one we replaced: its write-back is on its way
    }
  }
  return stored;
}

bool OAuth2Provider::needsAuthorization(const registry::ServerSpec& spec) const {
  if (spec.auth.type != AuthType::kOAuth2 ||
      spec.auth.oauth2.flow != OAuth2Flow::kAuthorizationCode) {
    return false;
  }
  const Secret& token = refreshTokenFor(spec);
  if (token.empty()) {
    return true;
  }
  // A refused token stays refused; a new one in the record gets its chance.
  auto dead = refreshDead_.find(spec.id);
  return dead != refreshDead_.end() && dead->second == sha256Hex(token.reveal());
}

std::string OAuth2Provider::cacheKey(const registry::ServerSpec& spec, const Discovered* d) const {
  const registry::OAuth2Spec& o = spec.auth.oauth2;
  std::string tokenUrl = !o.tokenUrl.empty() ? o.tokenUrl : (d != nullptr ? d->tokenUrl : "");
  std::string scope = !o.scopes.empty() ? o.scopes : (d != nullptr ? d->challengeScope : "");
  std::string resource = !o.resource.empty()
                             ? o.resource
                             : (d != nullptr && !d->resource.empty() ? d->resource : spec.url);
  std::string secretMaterial =
      std::string(o.clientSecret.reveal()) + "\n" + std::string(o.privateKeyPem.reveal());
  std::string key = tokenUrl + "\n" + o.clientId + "\n" + sha256Hex(secretMaterial) + "\n" + scope +
                    "\n" + o.audience + "\n" + resource;
  wipeString(secretMaterial);
  return key;
}

std::unique_ptr<Pending> OAuth2Provider::authorize(
    const registry::ServerSpec& spec, std::function<void(Result<std::vector<std::string>>)> done) {
  if (spec.auth.type != AuthType::kOAuth2) {
    return static_.authorize(spec, std::move(done));
  }
  const registry::OAuth2Spec& o = spec.auth.oauth2;
  const Discovered* d = discoveredFor(spec);
  if (o.tokenUrl.empty() && (d == nullptr || d->tokenUrl.empty())) {
    // Nothing known yet: the first request goes without a token, and its 401 challenge starts
    // discovery (retriesOn401 / discover).
    done(std::vector<std::string>{});
    return nullptr;
  }
  std::string key = cacheKey(spec, d);
  if (auto it = tokens_.find(key); it != tokens_.end()) {
    if (clock_.nowMs() < it->second.expiresAtMs) {
      done(std::vector<std::string>{"Authorization: Bearer " +
                                    std::string(it->second.token.reveal())});
      return nullptr;
    }
    tokens_.erase(it);
  }
  uint64_t id = nextWaiter_++;
  bool start = flights_.count(key) == 0;
  flights_[key].waiters.push_back(Waiter{id, std::move(done)});
  if (start) {
    startFlight(key, spec, d);
  }
  if (flights_.count(key) == 0) {
    return nullptr;  // answered already (the request could not even start)
  }
  return std::make_unique<WaiterHandle>(*this, key, id);
}

void OAuth2Provider::startFlight(const std::string& key, const registry::ServerSpec& spec,
                                 const Discovered* d) {
  const registry::OAuth2Spec& o = spec.auth.oauth2;
  std::string tokenUrl = !o.tokenUrl.empty() ? o.tokenUrl : d->tokenUrl;
  std::string scope = !o.scopes.empty() ? o.scopes : (d != nullptr ? d->challengeScope : "");
  std::string resource = !o.resource.empty()
                             ? o.resource
                             : (d != nullptr && !d->resource.empty() ? d->resource : spec.url);
  TokenAuthMethod method =
      chooseMethod(o.method, d != nullptr ? d->methods : std::vector<std::string>{},
                   !o.clientSecret.empty(), !o.privateKeyPem.empty());
  const bool refresh = o.flow == OAuth2Flow::kAuthorizationCode;
  // A public client (no secret, no key) may refresh with its client_id alone.
  const bool publicClient = refresh && o.clientSecret.empty() && o.privateKeyPem.empty();
  if (!publicClient && method != TokenAuthMethod::kPrivateKeyJwt && o.clientSecret.empty()) {
    completeFlight(key, makeError("OAuth2 client credentials need a client_secret"));
    return;
  }
  http::Request req;
  req.method = "POST";
  req.url = tokenUrl;
  req.registryEgress = spec.source == registry::Source::kRedis;
  req.timeoutMs = spec.timeoutMs;
  req.connectTimeoutMs = spec.connectTimeoutMs;
  req.maxBody = 1024 * 1024;
  req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
  // Reserved up front: the body holds the secret, and growing it would leave copies behind.
  req.body.reserve(1024 + 3 * (o.clientId.size() + o.clientSecret.reveal().size() + scope.size() +
                               o.audience.size() + resource.size()));
  const Secret& refreshToken = refreshTokenFor(spec);
  req.body.reserve(req.body.capacity() + 3 * refreshToken.reveal().size());
  // Every form of every secret this request carries, for what the endpoint may echo back.
  Redactor redactor;
  redactor.add(o.clientSecret.reveal());
  redactor.add(refreshToken.reveal());
  if (refresh) {
    std::string rt = formEncode(refreshToken.reveal());
    req.body +=
        "grant_type=refresh_token&refresh_token=" + rt + "&resource=" + formEncode(resource);
    wipeString(rt);
  } else {
    req.body += "grant_type=client_credentials&resource=" + formEncode(resource);
  }
  if (!scope.empty()) {
    req.body += "&scope=" + formEncode(scope);
  }
  if (!o.audience.empty()) {
    req.body += "&audience=" + formEncode(o.audience);
  }
  if (publicClient) {
    req.body += "&client_id=" + formEncode(o.clientId);
  } else if (method == TokenAuthMethod::kPrivateKeyJwt) {
    if (o.privateKeyPem.empty()) {
      completeFlight(key, makeError("token_endpoint_auth_method private_key_jwt needs "
                                    "private_key_pem in the credentials"));
      return;
    }
    // aud = the issuer (what ext-auth and the conformance suite expect), else the token URL.
    std::string audience = d != nullptr && !d->issuer.empty() ? d->issuer : tokenUrl;
    unsigned char nonce[16];
    randombytes_buf(nonce, sizeof nonce);
    auto assertion = signClientAssertion(
        o.privateKeyPem.reveal(), o.clientId, audience, clock_.wallMs() / 1000,
        base64UrlNoPad(std::string_view(reinterpret_cast<const char*>(nonce), sizeof nonce)));
    if (!assertion) {
      completeFlight(key, assertion.error());
      return;
    }
    req.body +=
        "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&"
        "client_assertion=" +
        assertion.value();
    redactor.add(assertion.value());
  } else if (method == TokenAuthMethod::kClientSecretPost) {
    std::string secret = formEncode(o.clientSecret.reveal());
    req.body += "&client_id=" + formEncode(o.clientId) + "&client_secret=" + secret;
    wipeString(secret);
  } else {
    // RFC 6749 §2.3.1: form-encode both before base64.
    std::string pair = formEncode(o.clientId) + ":" + formEncode(o.clientSecret.reveal());
    std::string encoded = base64(pair);
    req.headers.push_back("Authorization: Basic " + encoded);
    redactor.addHeaderValue("Basic " + encoded);
    wipeString(pair);
    wipeString(encoded);
  }
  ++tokenRequests_;
  registry::ServerSpec specCopy = spec;  // for rotation: the lambda may outlive the caller's spec
  flights_[key].call = http_.send(std::move(req), [this, key, tokenUrl, refresh, specCopy,
                                                   redactor](http::Response r) {
    if (r.failure != http::Failure::kNone) {
      ++tokenFailures_;
      completeFlight(
          key, makeError("token endpoint " + tokenUrl + " is unreachable: " + r.failureMessage));
      return;
    }
    if (r.status < 200 || r.status >= 300) {
      ++tokenFailures_;
      // An endpoint that echoes what it got: redacted before the summary is cut to length.
      std::string why = tokenErrorSummary(r.body, redactor);
      wipeString(r.body);
      if (refresh && why.rfind("invalid_grant", 0) == 0) {
        // Revoked or expired: someone must authorize again.
        refreshDead_[specCopy.id] = sha256Hex(refreshTokenFor(specCopy).reveal());
      }
      completeFlight(
          key,
          makeError("token endpoint " + tokenUrl + " rejected the " +
                    (refresh ? std::string("refresh token") : std::string("request")) + " (HTTP " +
                    std::to_string(r.status) + ")" + (why.empty() ? "" : ": " + why)));
      return;
    }
    auto token = parseTokenResponse(r.body);
    wipeString(r.body);
    if (!token) {
      ++tokenFailures_;
      completeFlight(key, makeError("token endpoint " + tokenUrl + ": " + token.error().message));
      return;
    }
    ++tokenSuccesses_;
    if (refresh && !token->refreshToken.empty() &&
        !(token->refreshToken == refreshTokenFor(specCopy))) {
      Rotated& rot = refreshTokens_[specCopy.id];
      std::vector<Secret> superseded = rot.token.empty() ? std::vector<Secret>{} : rot.superseded;
      superseded.push_back(refreshTokenFor(specCopy));  // the one this request used
      if (!(specCopy.auth.oauth2.refreshToken == superseded.back())) {
        superseded.push_back(specCopy.auth.oauth2.refreshToken);
      }
      if (superseded.size() > 16) {
        superseded.erase(superseded.begin(), superseded.end() - 16);
      }
      rot = Rotated{token->refreshToken, std::move(superseded)};
      if (rotated_) {
        rotated_(specCopy, token->refreshToken);
      }
    }
    int64_t lifetimeMs =
        token->expiresInSeconds ? *token->expiresInSeconds * 1000 : kDefaultLifetimeMs;
    // Expire a skew early, but a short-lived token still serves half its life.
    int64_t usableMs = std::max(lifetimeMs - skewMs_, lifetimeMs / 2);
    Cached& c = tokens_[key];
    c.token = std::move(token->accessToken);
    c.expiresAtMs = clock_.nowMs() + usableMs;
    completeFlight(
        key, std::vector<std::string>{"Authorization: Bearer " + std::string(c.token.reveal())});
  });
}

void OAuth2Provider::completeFlight(const std::string& key,
                                    Result<std::vector<std::string>> result) {
  auto it = flights_.find(key);
  if (it == flights_.end()) {
    return;
  }
  std::vector<Waiter> waiters = std::move(it->second.waiters);
  flights_.erase(it);  // destroys the finished call (we are in its callback: allowed)
  for (auto& w : waiters) {
    if (result) {
      std::vector<std::string> copy = result.value();
      w.done(std::move(copy));
    } else {
      w.done(result.error());
    }
  }
  if (result) {
    for (auto& h : result.value()) {
      wipeString(h);
    }
  }
}

void OAuth2Provider::dropWaiter(const std::string& key, uint64_t id) {
  auto it = flights_.find(key);
  if (it == flights_.end()) {
    return;
  }
  auto& ws = it->second.waiters;
  ws.erase(std::remove_if(ws.begin(), ws.end(), [id](const Waiter& w) { return w.id == id; }),
           ws.end());
  // The request goes on even with no one waiting: its token serves the next check.
}

void OAuth2Provider::rejected(const registry::ServerSpec& spec) {
  if (spec.auth.type != AuthType::kOAuth2) {
    return;
  }
  tokens_.erase(cacheKey(spec, discoveredFor(spec)));
}

std::unique_ptr<Pending> OAuth2Provider::discover(const registry::ServerSpec& spec,
                                                  const std::string& challenge,
                                                  std::function<void(Result<void>)> done) {
  if (spec.auth.type != AuthType::kOAuth2) {
    return static_.discover(spec, challenge, std::move(done));
  }
  auto params = parseChallenge(challenge);
  discoveredEntry(spec).challengeScope = params["scope"];
  if (!spec.auth.oauth2.tokenUrl.empty()) {
    done({});  // the token endpoint is configured: only the scope was worth learning
    return nullptr;
  }
  auto run =
      std::make_unique<DiscoveryRun>(*this, spec, params["resource_metadata"], std::move(done));
  run->start();
  return run;
}

}  // namespace mcphd::auth
