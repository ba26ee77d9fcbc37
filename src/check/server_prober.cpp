#include "check/server_prober.hpp"

#include <optional>

#include "auth/authorization_code.hpp"
#include "auth/oauth2.hpp"
#include "check/tool_watch.hpp"
#include "common/secret.hpp"
#include "common/utf8.hpp"
#include "mcp/redaction.hpp"

namespace mcphd::check {

namespace {

using mcp::CheckError;
using mcp::ErrorKind;
using mcp::ProbeResult;

class ServerCheck final : public RunningCheck {
 public:
  ServerCheck(SessionFactory& sessions, auth::AuthProvider& auth, const Clock& clock,
              loop::TimerFactory& timers, const registry::ServerSpec& spec,
              std::function<void(ProbeResult)> done)
      : sessions_(sessions),
        auth_(auth),
        clock_(clock),
        spec_(spec),
        done_(std::move(done)),
        deferred_(timers.createTimer()) {}

  ~ServerCheck() override {
    session_.reset();
    for (auto& h : authHeaders_) {
      wipeString(h);
    }
  }

  void begin() {
    if (startUs_ == 0) {
      startUs_ = clock_.nowUs();
    }
    if (!spec_.invalidReason.empty()) {
      // An unusable record is reported, never sent.
      return finishSoon(failure(ErrorKind::kConfig, spec_.invalidReason));
    }
    if (auth_.needsAuthorization(spec_)) {
      return finishSoon(
          loginRequired("authorization required: no usable refresh token is stored for this "
                        "authorization_code server"));
    }
    pendingAuth_ = auth_.authorize(spec_, [this](Result<std::vector<std::string>> headers) {
      // May run inline: continue from the loop so `done` never runs inside Prober::start().
      if (!headers) {
        // A refresh token refused for good (invalid_grant): someone must log in again.
        if (interactive() && auth_.needsAuthorization(spec_)) {
          return finishSoon(loginRequired(headers.error().message));
        }
        return finishSoon(failure(ErrorKind::kAuth, headers.error().message));
      }
      for (auto& h : authHeaders_) {
        wipeString(h);
      }
      authHeaders_ = std::move(headers.value());
      deferred_->start(0, [this] { run(sessions_.detected().forSpec(spec_)); });
    });
  }

 private:
  // An OAuth authorization-code server: only a person can authorize it again.
  bool interactive() const {
    return spec_.auth.type == registry::AuthType::kOAuth2 &&
           spec_.auth.oauth2.flow == registry::OAuth2Flow::kAuthorizationCode;
  }
  // auth_required, saying why and what to run (with `scope`, the scope to ask for). The command
  // ends the message (the dashboard shows it): it is never cut, the reason is (already redacted,
  // so a cut leaves no part of a secret); a scope too long to fit is left out (login asks for
  // more scope by itself when the server answers 403 insufficient_scope).
  ProbeResult loginRequired(std::string why, const std::string& scope = "") const {
    std::string command = "; run: mcp-healthctl login " + spec_.id;
    if (!scope.empty() && scope.size() <= kMaxCommandScope) {
      command += " --scope '" + scope + "'";
    }
    // (an id has at most 128 bytes: the command, at most 422, always leaves room)
    truncateUtf8(
        why, mcp::kMaxErrorMessage > command.size() ? mcp::kMaxErrorMessage - command.size() : 0);
    ProbeResult r = failure(ErrorKind::kAuth, why + command);
    r.authRequired = true;
    return r;
  }
  static constexpr size_t kMaxCommandScope = 256;  // with a 128-byte id, 90 bytes are left for why

  ProbeResult failure(ErrorKind kind, std::string message) const {
    ProbeResult r;
    r.error = CheckError{kind, std::move(message), 0};
    r.totalUs = startUs_ == 0 ? 0 : clock_.nowUs() - startUs_;
    return r;
  }

  void run(registry::Transport t) {
    const int64_t left = spec_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
    if (left <= 0) {
      // The credentials (a token request, OAuth discovery) or a first transport took it all.
      ProbeResult r =
          failure(ErrorKind::kTimeout, "check timed out after " + std::to_string(spec_.timeoutMs) +
                                           " ms before initialize");
      r.retriable = true;
      return onSessionDone(t, std::move(r));  // after a fallback: reported with the first error
    }
    auto s = sessions_.open(spec_, t, authHeaders_, left, {},
                            [this, t](ProbeResult r) { onSessionDone(t, std::move(r)); });
    if (!s) {
      return finish(failure(ErrorKind::kConfig, s.error().message));
    }
    session_ = std::move(s.value());
    session_->start();
  }

  void onSessionDone(registry::Transport t, ProbeResult r) {
    if (r.error && r.error->kind == ErrorKind::kAuth && r.error->httpStatus == 403 &&
        interactive()) {
      // A token without the scope the server wants (step-up): a new authorization must ask for
      // it, so the server waits for a login, as without a token.
      auto challenge = auth::parseChallenge(r.wwwAuthenticate);
      if (challenge["error"] == "insufficient_scope") {
        auth_.rejected(spec_);  // the token the server refused is not used again
        // The scope comes from the server: only scope-token characters (RFC 6749 §3.3; no quote,
        // so it can stand in the command below), what this check sent redacted (a server may
        // echo its token), then cut (ASCII: no character split, no secret half-left).
        std::string wanted = auth::scopeTokens(challenge["scope"]);
        mcp::redactSecrets(wanted, authHeaders_);
        // The record's scopes too (a Redis writer's words): the command must stay one word.
        wanted =
            auth::scopeTokens(auth::unionScopes(spec_.auth.oauth2.scopes, wanted.substr(0, 200)));
        std::string why = "the server answered HTTP 403 insufficient_scope";
        if (!wanted.empty()) {
          why += " (it wants scope '" + wanted + "')";
        }
        ProbeResult required = loginRequired(why, wanted);
        required.totalUs = r.totalUs;
        required.initialized = r.initialized;
        return finish(std::move(required));
      }
    }
    if (r.error && r.error->kind == ErrorKind::kAuth && r.error->httpStatus == 401) {
      auth_.rejected(spec_);  // drop the token the server refused
      if (!retried_ && auth_.retriesOn401(spec_)) {
        // Once: learn from the challenge (OAuth discovery), get a fresh token, check again.
        retried_ = true;
        pendingDiscovery_ = auth_.discover(spec_, r.wwwAuthenticate, [this](Result<void> d) {
          if (!d) {
            return finishSoon(failure(ErrorKind::kAuth, d.error().message));
          }
          begin();
        });
        return;
      }
    }
    if (spec_.transport == registry::Transport::kAuto) {
      const long status = r.error ? r.error->httpStatus : 0;
      if (t == registry::Transport::kStreamableHttp && !r.initialized && r.error &&
          r.error->kind == ErrorKind::kHttp && (status == 400 || status == 404 || status == 405) &&
          !firstError_) {
        // The spec's backwards-compatibility rule: a legacy HTTP+SSE server answers 400/404/405.
        firstError_ = std::move(r);
        deferred_->start(0, [this] { run(registry::Transport::kSse); });
        return;
      }
      if (r.initialized) {
        sessions_.detected().remember(spec_, t);  // for this server's next checks
      } else if (t == registry::Transport::kSse && firstError_) {
        // Neither transport answered: report the Streamable HTTP failure first, it is usually the
        // one that explains a wrong URL.
        ProbeResult first = std::move(*firstError_);
        first.error->message += "; the legacy HTTP+SSE fallback failed too: " + r.error->message;
        first.totalUs = clock_.nowUs() - startUs_;
        r = std::move(first);
      }
    }
    finish(std::move(r));
  }

  void finishSoon(ProbeResult r) {
    deferred_->start(0, [this, r = std::move(r)]() mutable { finish(std::move(r)); });
  }

  void finish(ProbeResult r) {
    auto done = std::move(done_);
    done(std::move(r));  // may destroy this
  }

  SessionFactory& sessions_;
  auth::AuthProvider& auth_;
  const Clock& clock_;
  registry::ServerSpec spec_;
  std::function<void(ProbeResult)> done_;
  std::unique_ptr<loop::Timer> deferred_;
  std::unique_ptr<auth::Pending> pendingAuth_;
  std::unique_ptr<auth::Pending> pendingDiscovery_;
  bool retried_ = false;
  std::vector<std::string> authHeaders_;
  std::unique_ptr<mcp::McpSession> session_;
  // The Streamable HTTP failure that led to the legacy SSE attempt.
  std::optional<ProbeResult> firstError_;
  int64_t startUs_ = 0;
};

}  // namespace

ServerProber::ServerProber(http::Client& client, auth::AuthProvider& auth, const Clock& clock,
                           loop::TimerFactory& timers, loop::ProcessSpawner* processes,
                           std::vector<std::string> inheritedEnv)
    : auth_(auth),
      clock_(clock),
      timers_(timers),
      detached_(client),
      sessions_(client, clock, timers, processes, std::move(inheritedEnv), detached_) {}

std::unique_ptr<RunningCheck> ServerProber::start(const registry::ServerSpec& spec,
                                                  std::function<void(ProbeResult)> done) {
  auto check =
      std::make_unique<ServerCheck>(sessions_, auth_, clock_, timers_, spec, std::move(done));
  check->begin();
  return check;
}

std::unique_ptr<ToolWatch> ServerProber::watch(const registry::ServerSpec& spec,
                                               std::function<void()> onToolsChanged) {
  if (!spec.invalidReason.empty()) {
    return nullptr;
  }
  return startToolWatch(sessions_, auth_, clock_, timers_, spec, std::move(onToolsChanged));
}

}  // namespace mcphd::check
