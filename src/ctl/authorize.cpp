#include "ctl/authorize.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>

#include "auth/authorization_code.hpp"
#include "common/base64.hpp"
#include "common/redact.hpp"
#include "ctl/check_once.hpp"
#include "ctl/discovery.hpp"
#include "ctl/views.hpp"
#include "http/curl_multi_client.hpp"
#include "http/http_server.hpp"
#include "loop/uv_loop.hpp"

namespace mcphd::ctl {
namespace {

constexpr size_t kMaxAnswer = 1024 * 1024;
constexpr const char* kCallbackPath = "/callback";
// After the flow ends, the loopback listener stays this long so the page sent to the browser
// is written before it closes.
constexpr int64_t kLingerMs = 200;

// Printable ASCII without spaces: what goes on the terminal and into a URL as it came (an
// endpoint or client id from the server could otherwise forge a line, or hide escapes).
bool plainText(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// https://, or http:// to a loopback host: where a code, a secret or a token may go.
bool safeEndpoint(const std::string& url) {
  return url.rfind("https://", 0) == 0 ||
         (url.rfind("http://", 0) == 0 && auth::hasLoopbackHost(url));
}

http::ServerResponse page(int status, const std::string& text) {
  http::ServerResponse r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = "mcp-healthctl: " + text + "\n";
  r.headers = {{"Cache-Control", "no-store"}};
  return r;
}

// One run of the flow on its own loop. Every step is a callback; the first failure, or the
// token, ends it (finish()), after which the loop runs out of work and returns.
class Flow {
 public:
  Flow(const Context& ctx, const InteractiveRequest& in, auth::OAuth2Provider::Found server)
      : in_(in), http_(std::make_unique<http::CurlMultiClient>(loop_)) {
    out_.server = std::move(server);
    out_.clientId = in.spec.auth.oauth2.clientId;
    out_.clientSecret = in.spec.auth.oauth2.clientSecret;
    if (ctx.cfg) {
      http_->setEgressPolicy(ctx.cfg->egress);
      http_->setRegistryEgressPolicy(ctx.cfg->registryEgress);
    }
  }

  Outcome<Authorized> run() {
    start();
    loop_.run();
    call_.reset();
    listener_.reset();
    timer_.reset();
    linger_.reset();
    http_.reset();  // its handles are closed before the loop is
    if (auto r = loop_.close(); !r && result_ == std::nullopt) {
      result_ = Failure{Exit::kSoftware, r.error().message};
    }
    if (!result_) {
      return failure("the authorization ended without a result");
    }
    return std::move(*result_);
  }

 private:
  void start() {
    const auth::AuthorizationServer& as = out_.server.server;
    http::HttpServer::Options options;
    options.maxConnections = 8;
    options.anyPort = true;
    auto listening = http::HttpServer::listen(
        loop_, "127.0.0.1:0",
        [this](const http::ServerRequest& req, const std::shared_ptr<http::Exchange>& ex) {
          onRedirect(req, ex);
        },
        options);
    if (!listening) {
      return finish(failure("cannot listen for the redirect: " + listening.error().message));
    }
    listener_ = std::move(listening.value());
    redirectUri_ = "http://127.0.0.1:" + std::to_string(listener_->port()) + kCallbackPath;
    timer_ = loop_.createTimer();
    timer_->start(in_.waitMs, [this] {
      finish(failure("no answer from the browser within " + std::to_string(in_.waitMs / 1000) +
                     " s (--timeout): the URL above was not opened, or the authorization was "
                     "not completed"));
    });
    const std::string& resource = in_.spec.auth.oauth2.resource;
    out_.resource = !resource.empty()               ? resource
                    : !out_.server.resource.empty() ? out_.server.resource
                                                    : in_.spec.url;
    const std::string base =
        auth::chooseScopes(in_.spec.auth.oauth2.scopes, out_.server.challengeScope,
                           out_.server.resourceScopes, as.scopesSupported);
    // A step-up: what would have been asked for, and the scope the server wants on top.
    out_.scope = in_.addScope.empty() ? base : auth::unionScopes(base, in_.addScope);
    if (out_.clientId.empty()) {
      return registerClient();
    }
    askUser();
  }

  void registerClient() {
    const auth::AuthorizationServer& as = out_.server.server;
    if (as.registrationEndpoint.empty()) {
      return finish(failure(
          "the authorization server " + printable(out_.server.issuer) +
          " offers no dynamic client registration (no registration_endpoint): register a client "
          "there and give its id (--client-id, and --client-secret-stdin for a confidential "
          "client)"));
    }
    if (!safeEndpoint(as.registrationEndpoint)) {
      return finish(failure("the registration endpoint " + printable(as.registrationEndpoint) +
                            " is neither https:// nor on a loopback host: not used"));
    }
    http::Request req;
    req.method = "POST";
    req.url = as.registrationEndpoint;
    req.registryEgress = in_.spec.source == registry::Source::kRedis;
    req.headers = {"Content-Type: application/json", "Accept: application/json"};
    req.body = auth::registrationRequestJson(redirectUri_, "mcp-healthd");
    req.timeoutMs = in_.spec.timeoutMs;
    req.connectTimeoutMs = in_.spec.connectTimeoutMs;
    req.maxBody = kMaxAnswer;
    call_ = http_->send(std::move(req), [this](http::Response r) {
      if (r.failure != http::Failure::kNone) {
        return finish(failure(
            "client registration failed: " + printable(out_.server.server.registrationEndpoint) +
            " is unreachable: " + r.failureMessage));
      }
      if (r.status < 200 || r.status >= 300) {
        const std::string why = auth::tokenErrorSummary(r.body);
        return finish(failure(
            "client registration at " + printable(out_.server.server.registrationEndpoint) +
            " answered HTTP " + std::to_string(r.status) + (why.empty() ? "" : ": " + why)));
      }
      auto reg = auth::parseRegistrationResponse(r.body);
      if (!reg) {
        return finish(failure("client registration: " + reg.error().message));
      }
      if (!plainText(reg->clientId)) {
        return finish(
            failure("client registration: the client_id issued holds characters "
                    "outside printable ASCII (or spaces): not used"));
      }
      out_.clientId = reg->clientId;
      out_.clientSecret = std::move(reg->clientSecret);
      out_.registered = true;
      registeredMethod_ = reg->authMethod;
      out_.authMethod = reg->authMethod;
      std::fprintf(stderr, "registered client %s at %s\n", out_.clientId.c_str(),
                   out_.server.issuer.c_str());
      askUser();
    });
  }

  void askUser() {
    pkce_ = auth::makePkce();
    state_ = auth::randomState();
    auth::AuthorizationRequest a;
    a.authorizationEndpoint = out_.server.server.authorizationEndpoint;
    a.clientId = out_.clientId;
    a.redirectUri = redirectUri_;
    a.scope = out_.scope;
    a.state = state_;
    a.codeChallenge = pkce_.challenge;
    a.resource = out_.resource;
    std::fprintf(stderr, "Open this URL to authorize: %s\n", auth::authorizationUrl(a).c_str());
    std::fflush(stderr);
  }

  void onRedirect(const http::ServerRequest& req, const std::shared_ptr<http::Exchange>& ex) {
    if (done_ || state_.empty()) {
      return ex->respond(page(409, "this authorization is over (or not started yet)"));
    }
    if (req.method != "GET" || req.path != kCallbackPath) {
      return ex->respond(page(404, "nothing here"));
    }
    auto redirect = auth::parseRedirectTarget(req.target, kCallbackPath);
    if (!redirect) {
      return ex->respond(page(400, redirect.error().message));
    }
    // Another page's answer (or a forged one) is refused, and the real one still awaited.
    if (redirect->state != state_) {
      return ex->respond(page(400,
                              "the state does not match the request mcp-healthctl made; "
                              "ignored"));
    }
    if (!redirect->error.empty()) {
      std::string why = printable(redirect->error.substr(0, 100));
      if (!redirect->errorDescription.empty()) {
        why += ": " + printable(redirect->errorDescription.substr(0, 300));
      }
      ex->respond(page(200, "the authorization failed (" + why + ")"));
      return finish(failure("the authorization server refused: " + why));
    }
    ex->respond(page(200, "authorized; exchanging the code. You can close this page."));
    state_.clear();  // one code per request
    exchange(std::move(redirect->code));
  }

  void exchange(Secret code) {
    const auth::AuthorizationServer& as = out_.server.server;
    http::Request req;
    req.method = "POST";
    req.url = as.tokenEndpoint;
    req.registryEgress = in_.spec.source == registry::Source::kRedis;
    req.headers = {"Content-Type: application/x-www-form-urlencoded", "Accept: application/json"};
    req.timeoutMs = in_.spec.timeoutMs;
    req.connectTimeoutMs = in_.spec.connectTimeoutMs;
    req.maxBody = kMaxAnswer;
    Redactor redactor;
    redactor.add(code.reveal());
    redactor.add(pkce_.verifier.reveal());
    redactor.add(out_.clientSecret.reveal());
    const bool confidential = !out_.clientSecret.empty();
    req.body = auth::codeExchangeBody(code, redirectUri_, pkce_.verifier, out_.clientId,
                                      !confidential, out_.resource);
    if (confidential) {
      registry::TokenAuthMethod method = registry::TokenAuthMethod::kAuto;
      if (registeredMethod_ == "client_secret_post") {
        method = registry::TokenAuthMethod::kClientSecretPost;
      } else if (registeredMethod_ == "client_secret_basic") {
        method = registry::TokenAuthMethod::kClientSecretBasic;
      } else {
        method = in_.spec.auth.oauth2.method;
      }
      method = auth::chooseMethod(method, as.authMethods, true, false);
      if (method == registry::TokenAuthMethod::kClientSecretPost) {
        req.body += "&client_id=" + auth::formEncode(out_.clientId) +
                    "&client_secret=" + auth::formEncode(out_.clientSecret.reveal());
      } else {
        // RFC 6749 §2.3.1: form-encode both before base64.
        std::string pair =
            auth::formEncode(out_.clientId) + ":" + auth::formEncode(out_.clientSecret.reveal());
        std::string encoded = base64(pair);
        req.headers.push_back("Authorization: Basic " + encoded);
        redactor.addHeaderValue("Basic " + encoded);
        wipeString(pair);
        wipeString(encoded);
      }
    }
    call_ = http_->send(std::move(req), [this, redactor](http::Response r) {
      if (r.failure != http::Failure::kNone) {
        return finish(failure("the code exchange failed: " + out_.server.server.tokenEndpoint +
                              " is unreachable: " + r.failureMessage));
      }
      if (r.status < 200 || r.status >= 300) {
        const std::string why = auth::tokenErrorSummary(r.body, redactor);
        wipeString(r.body);
        return finish(failure("the token endpoint refused the code: HTTP " +
                              std::to_string(r.status) + (why.empty() ? "" : ": " + why)));
      }
      auto tokens = auth::parseTokenResponse(r.body);
      wipeString(r.body);
      if (!tokens) {
        return finish(failure("the code exchange: " + tokens.error().message));
      }
      out_.tokens = std::move(tokens.value());
      finish(std::move(out_));
    });
  }

  void finish(Outcome<Authorized> r) {
    if (done_) {
      return;
    }
    done_ = true;
    result_ = std::move(r);
    timer_.reset();
    // Not from inside a call's or the listener's own callback: on the next turn, after the
    // page sent to the browser had its moment to be written.
    linger_ = loop_.createTimer();
    linger_->start(kLingerMs, [this] {
      call_.reset();
      listener_.reset();
    });
  }

  const InteractiveRequest& in_;
  loop::UvLoop loop_;
  std::unique_ptr<http::CurlMultiClient> http_;
  Authorized out_;
  std::string registeredMethod_;
  std::string redirectUri_;
  auth::Pkce pkce_;
  std::string state_;
  std::unique_ptr<http::HttpServer> listener_;
  std::unique_ptr<loop::Timer> timer_;
  std::unique_ptr<loop::Timer> linger_;
  std::unique_ptr<http::Call> call_;
  std::optional<Outcome<Authorized>> result_;
  bool done_ = false;
};

}  // namespace

Outcome<Authorized> authorizeInteractively(const Context& ctx, const InteractiveRequest& in) {
  auto found = discoverServer(ctx, in.spec, true);
  if (!found) {
    return found.error();
  }
  const auth::AuthorizationServer& as = found->server;
  const std::string& bound = in.spec.auth.oauth2.tokenUrl;
  if (!bound.empty() && bound != as.tokenEndpoint) {
    return failure("the record's token_url is " + bound + ", but discovery found " +
                   printable(as.tokenEndpoint) + " (issuer " + printable(found->issuer) +
                   "): the credentials stay bound to the record's; if the server moved, run "
                   "mcp-healthctl edit with --rediscover first");
  }
  if (as.authorizationEndpoint.empty()) {
    return failure("the authorization server " + printable(found->issuer) +
                   " names no authorization_endpoint: it offers no authorization-code flow");
  }
  if (!plainText(as.authorizationEndpoint) ||
      as.authorizationEndpoint.find('#') != std::string::npos) {
    return failure("the authorization endpoint the metadata of " + printable(found->issuer) +
                   " names holds spaces, control characters or a fragment: not used");
  }
  if (!plainText(in.spec.auth.oauth2.clientId) && !in.spec.auth.oauth2.clientId.empty()) {
    return failure("the client id holds spaces or characters outside printable ASCII");
  }
  if (!safeEndpoint(as.authorizationEndpoint)) {
    return failure("the authorization endpoint " + as.authorizationEndpoint +
                   " is neither https:// nor on a loopback host: not used");
  }
  // The MCP authorization spec: no PKCE support advertised, no authorization.
  if (std::find(as.codeChallengeMethods.begin(), as.codeChallengeMethods.end(), "S256") ==
      as.codeChallengeMethods.end()) {
    return failure("the authorization server " + printable(found->issuer) +
                   " does not list S256 in code_challenge_methods_supported: without PKCE the "
                   "MCP authorization spec forbids going on");
  }
  Flow flow(ctx, in, std::move(found.value()));
  return flow.run();
}

namespace {

// `target` with `token` as its bearer token: what the check of a fresh authorization sends.
registry::ServerSpec withToken(const registry::ServerSpec& target, const Secret& token) {
  registry::ServerSpec s = target;
  s.auth = registry::AuthSpec{};
  s.auth.type = registry::AuthType::kBearer;
  s.auth.token = token;
  return s;
}

// One check of `target` with the access token of `a`; the scope its 403 asks for, if it does.
Outcome<std::optional<std::string>> checkWith(const Context& ctx,
                                              const registry::ServerSpec& target,
                                              const Authorized& a,
                                              std::optional<mcp::ProbeResult>& check) {
  auto checked = checkOnce(ctx, withToken(target, a.tokens.accessToken));
  if (!checked) {
    return Failure{Exit::kSoftware, checked.error().message};
  }
  check = std::move(checked.value());
  if (!check) {
    return std::optional<std::string>();
  }
  // Built in place (no temporaries holding the token), wiped after.
  const std::string_view token = a.tokens.accessToken.reveal();
  std::vector<std::string> sent(1);
  sent[0].reserve(sizeof("Authorization: Bearer ") + token.size());
  sent[0].append("Authorization: Bearer ").append(token);
  auto wanted = insufficientScope(*check, sent);
  wipeString(sent[0]);
  return wanted;
}

}  // namespace

Outcome<CheckedAuthorization> authorizeAndCheck(const Context& ctx, InteractiveRequest in,
                                                const registry::ServerSpec& target) {
  auto first = authorizeInteractively(ctx, in);
  if (!first) {
    return first.error();
  }
  CheckedAuthorization out{std::move(first.value()), std::nullopt};
  auto wanted = checkWith(ctx, target, out.authorized, out.check);
  if (!wanted) {
    return wanted.error();
  }
  if (!*wanted) {
    return out;
  }
  // A token without the scope the server wants: authorized again, once, with it added (a
  // server that never accepts is not asked a third time).
  const std::string& wider = **wanted;
  if (auth::unionScopes(out.authorized.scope, wider) == out.authorized.scope) {
    std::fprintf(stderr,
                 "the server answered 403 insufficient_scope but names no scope beyond those "
                 "asked for (%s): not authorizing again\n",
                 out.authorized.scope.empty() ? "none" : out.authorized.scope.c_str());
    return out;
  }
  std::fprintf(stderr, "the server wants another scope (%s): authorizing again\n", wider.c_str());
  in.addScope = wider;
  const bool registered = out.authorized.registered;
  if (registered) {
    // The client the first round registered (its registration names no scope), as registered.
    in.spec.auth.oauth2.clientId = out.authorized.clientId;
    in.spec.auth.oauth2.clientSecret = out.authorized.clientSecret;
    if (out.authorized.authMethod == "client_secret_post") {
      in.spec.auth.oauth2.method = registry::TokenAuthMethod::kClientSecretPost;
    } else if (out.authorized.authMethod == "client_secret_basic") {
      in.spec.auth.oauth2.method = registry::TokenAuthMethod::kClientSecretBasic;
    }
  }
  auto second = authorizeInteractively(ctx, in);
  if (!second) {
    return second.error();
  }
  if (registered) {  // still that client: it is to be stored as registered
    second->registered = true;
    second->authMethod = out.authorized.authMethod;
  }
  out.authorized = std::move(second.value());
  out.steppedUp = true;
  auto again = checkWith(ctx, target, out.authorized, out.check);
  if (!again) {
    return again.error();
  }
  if (*again) {
    std::fprintf(stderr,
                 "the server still answers 403 insufficient_scope after the second "
                 "authorization (it wants %s)\n",
                 (*again)->empty() ? "an unnamed scope" : (*again)->c_str());
  }
  return out;
}

}  // namespace mcphd::ctl
