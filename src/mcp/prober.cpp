#include "mcp/prober.hpp"

#include "common/secret.hpp"
#include "mcp/probe.hpp"

namespace mcphd::mcp {

namespace {

class HttpCheck final : public RunningCheck {
 public:
  HttpCheck(http::Client& client, auth::AuthProvider& auth, const Clock& clock,
            loop::TimerFactory& timers, const registry::ServerSpec& spec,
            std::function<void(ProbeResult)> done)
      : client_(client),
        auth_(auth),
        clock_(clock),
        spec_(spec),
        done_(std::move(done)),
        deferred_(timers.createTimer()) {}

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

  ~HttpCheck() override {
    for (auto& h : authHeaders_) {
      wipeString(h);
    }
  }

 private:
  void runProbe() {
    ProbeOptions o;
    o.url = spec_.url;
    for (const auto& [name, value] : spec_.headers) {
      o.headers.push_back(name + ": " + value);
    }
    for (auto& h : authHeaders_) {
      o.headers.push_back(std::move(h));
    }
    authHeaders_.clear();
    o.timeoutMs = spec_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
    o.connectTimeoutMs = spec_.connectTimeoutMs;
    o.maxBody = spec_.maxBody;
    probe_ = std::make_unique<Probe>(client_, clock_, std::move(o), [this](ProbeResult r) {
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
      finish(std::move(r));
    });
    probe_->start();
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
  std::unique_ptr<loop::Timer> deferred_;
  std::unique_ptr<auth::Pending> pendingAuth_;
  std::unique_ptr<auth::Pending> pendingDiscovery_;
  bool retried_ = false;
  std::vector<std::string> authHeaders_;
  std::unique_ptr<Probe> probe_;
  int64_t startUs_ = 0;
};

}  // namespace

std::unique_ptr<RunningCheck> HttpProber::start(const registry::ServerSpec& spec,
                                                std::function<void(ProbeResult)> done) {
  auto check = std::make_unique<HttpCheck>(client_, auth_, clock_, timers_, spec, std::move(done));
  check->begin();
  return check;
}

}  // namespace mcphd::mcp
