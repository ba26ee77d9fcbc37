#include "mcp/prober.hpp"

#include <optional>

#include "common/secret.hpp"
#include "mcp/probe.hpp"
#include "mcp/probe_common.hpp"
#include "mcp/sse_probe.hpp"
#include "mcp/stdio_probe.hpp"
#include "mcp/tool_watch.hpp"

namespace mcphd::mcp {

namespace {

class ServerCheck final : public RunningCheck {
 public:
  ServerCheck(http::Client& client, auth::AuthProvider& auth, const Clock& clock,
              loop::TimerFactory& timers, const registry::ServerSpec& spec,
              std::function<void(ProbeResult)> done,
              DetectedTransports& detected, loop::ProcessSpawner* processes,
              const std::vector<std::string>& inheritedEnv)
      : client_(client),
        auth_(auth),
        clock_(clock),
        spec_(spec),
        done_(std::move(done)),
        timers_(timers),
        deferred_(timers.createTimer()),
        detected_(detected),
        processes_(processes),
        inheritedEnv_(inheritedEnv) {}

  void begin() {
    if (startUs_ == 0) {
      startUs_ = clock_.nowUs();
    }
    if (!spec_.invalidReason.empty()) {
      // An unusable record is reported, never sent.
      ProbeResult r;
      r.error = CheckError{ErrorKind::kConfig, spec_.invalidReason, 0};
      deferred_->start(0, [this, r = std::move(r)]() mutable { finish(std::move(r)); });
      return;
    }
    if (auth_.needsAuthorization(spec_)) {
      ProbeResult r;
      r.error = CheckError{ErrorKind::kAuth,
                           "authorization required: no usable refresh_token is stored for this "
                           "authorization_code server; authorize the client and store the token",
                           0};
      r.authRequired = true;
      deferred_->start(0, [this, r = std::move(r)]() mutable { finish(std::move(r)); });
      return;
    }
    pendingAuth_ = auth_.authorize(spec_, [this](Result<std::vector<std::string>> headers) {
      // May run inline: defer to the loop so `done` never runs inside Prober::start().
      if (!headers) {
        ProbeResult r;
        r.error = CheckError{ErrorKind::kAuth, headers.error().message, 0};
        r.totalUs = clock_.nowUs() - startUs_;
        deferred_->start(0, [this, r = std::move(r)]() mutable { finish(std::move(r)); });
        return;
      }
      authHeaders_ = std::move(headers.value());
      deferred_->start(0, [this] { runProbe(); });
    });
  }

  ~ServerCheck() override {
    for (auto& h : authHeaders_) {
      wipeString(h);
    }
  }

 private:
  ProbeOptions options() const {
    ProbeOptions o;
    o.url = spec_.url;
    o.headers = serverHeaders(spec_, authHeaders_);
    o.timeoutMs = spec_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
    o.connectTimeoutMs = spec_.connectTimeoutMs;
    o.maxBody = spec_.maxBody;
    o.registryEgress = spec_.source == registry::Source::kRedis;
    o.toolLimits = ToolLimits{spec_.maxTools, spec_.maxToolsBytes};
    return o;
  }

  void runProbe() {
    runTransport(detected_.forSpec(spec_));
  }

  void runTransport(registry::Transport t) {
    auto onResult = [this, t](ProbeResult r) { onProbeDone(t, std::move(r)); };
    if (t == registry::Transport::kStdio) {
      runStdio(std::move(onResult));
    } else if (t == registry::Transport::kSse) {
      probe_.reset();
      sseProbe_ = std::make_unique<SseProbe>(client_, clock_, options(), onResult);
      sseProbe_->start();
    } else {
      sseProbe_.reset();
      probe_ = std::make_unique<Probe>(client_, clock_, options(), onResult);
      probe_->start();
    }
  }

  void runStdio(std::function<void(ProbeResult)> onResult) {
    if (processes_ == nullptr) {
      ProbeResult r;
      r.error = CheckError{
          ErrorKind::kConfig,
          "stdio servers are checked by mcp-healthd only: declare them in its config file", 0};
      return finish(std::move(r));
    }
    StdioOptions o;
    o.serverId = spec_.id;
    o.command = spec_.command;
    o.args = spec_.args;
    o.env = spec_.env;
    o.inheritedEnv = inheritedEnv_;
    o.cwd = spec_.cwd;
    o.timeoutMs = spec_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
    o.maxBody = spec_.maxBody;
    o.toolLimits = mcp::ToolLimits{spec_.maxTools, spec_.maxToolsBytes};
    stdioProbe_ = std::make_unique<StdioProbe>(*processes_, clock_, timers_, std::move(o),
                                               std::move(onResult));
    stdioProbe_->start();
  }

  void onProbeDone(registry::Transport t, ProbeResult r) {
    if (r.error && r.error->kind == ErrorKind::kAuth && r.error->httpStatus == 401) {
      auth_.rejected(spec_);  // drop the token the server refused
      if (!retried_ && auth_.retriesOn401(spec_)) {
        // Once: learn from the challenge (OAuth discovery), get a fresh token, check again.
        retried_ = true;
        pendingDiscovery_ = auth_.discover(spec_, r.wwwAuthenticate, [this](Result<void> d) {
          if (!d) {
            ProbeResult failed;
            failed.error = CheckError{ErrorKind::kAuth, d.error().message, 0};
            failed.totalUs = clock_.nowUs() - startUs_;
            deferred_->start(
                0, [this, failed = std::move(failed)]() mutable { finish(std::move(failed)); });
            return;
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
          !triedSse_) {
        // The spec's backwards-compatibility rule: a legacy HTTP+SSE server answers 400/404/405.
        triedSse_ = true;
        firstError_ = r;
        deferred_->start(0, [this] { runTransport(registry::Transport::kSse); });
        return;
      }
      if (r.initialized) {
        detected_.remember(spec_, t);  // for this server's next checks
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

  void finish(ProbeResult r) {
    auto done = std::move(done_);
    done(std::move(r));  // may destroy this
  }

  http::Client& client_;
  auth::AuthProvider& auth_;
  const Clock& clock_;
  registry::ServerSpec spec_;
  std::function<void(ProbeResult)> done_;
  loop::TimerFactory& timers_;
  std::unique_ptr<loop::Timer> deferred_;
  std::unique_ptr<auth::Pending> pendingAuth_;
  std::unique_ptr<auth::Pending> pendingDiscovery_;
  bool retried_ = false;
  std::vector<std::string> authHeaders_;
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<SseProbe> sseProbe_;
  std::unique_ptr<StdioProbe> stdioProbe_;
  bool triedSse_ = false;
  std::optional<ProbeResult>
      firstError_;  // the Streamable HTTP failure that led to the SSE attempt
  DetectedTransports& detected_;
  loop::ProcessSpawner* processes_;
  const std::vector<std::string>& inheritedEnv_;
  int64_t startUs_ = 0;
};

}  // namespace

std::unique_ptr<RunningCheck> ServerProber::start(const registry::ServerSpec& spec,
                                                  std::function<void(ProbeResult)> done) {
  auto check = std::make_unique<ServerCheck>(client_, auth_, clock_, timers_, spec, std::move(done),
                                             detected_, processes_, inheritedEnv_);
  check->begin();
  return check;
}

std::unique_ptr<ToolWatch> ServerProber::watch(const registry::ServerSpec& spec,
                                               std::function<void()> onToolsChanged) {
  if (!spec.invalidReason.empty()) {
    return nullptr;
  }
  registry::Transport t = detected_.forSpec(spec);
  WatchContext ctx{client_, auth_, clock_, timers_, processes_, inheritedEnv_, detached_};
  return startToolWatch(ctx, spec, t, std::move(onToolsChanged));
}

}  // namespace mcphd::mcp
