#include "check/tool_watch.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "common/secret.hpp"
#include "mcp/protocol.hpp"

namespace mcphd::check {

namespace {

class Watch final : public ToolWatch {
 public:
  Watch(SessionFactory& sessions, auth::AuthProvider& auth, const Clock& clock,
        loop::TimerFactory& timers, const registry::ServerSpec& spec,
        std::function<void()> onToolsChanged)
      : sessions_(sessions),
        auth_(auth),
        clock_(clock),
        spec_(spec),
        transport_(sessions.detected().forSpec(spec)),
        onToolsChanged_(std::move(onToolsChanged)),
        coalesce_(timers.createTimer()),
        retry_(timers.createTimer()),
        deferred_(timers.createTimer()) {}

  ~Watch() override { closeSession(); }

  void connect() {
    closeSession();
    const uint64_t gen = ++generation_;
    pendingAuth_ = auth_.authorize(spec_, [this, gen](Result<std::vector<std::string>> h) {
      // May run inline: continue from the loop.
      if (!h) {
        std::string why = "credentials: " + h.error().message;
        deferred_->start(0, [this, gen, why] { lost(gen, why, false); });
        return;
      }
      authHeaders_ = std::move(h.value());
      deferred_->start(0, [this, gen] { open(gen); });
    });
  }

 private:
  void open(uint64_t gen) {
    if (gen != generation_) {
      return;
    }
    openedUs_ = clock_.nowUs();
    KeepOpen keep;
    keep.onNotification = [this](const std::string& method) {
      if (method == mcp::kListChangedMethod) {
        relistSoon();
      }
    };
    keep.onLost = [this, gen](const std::string& why, bool permanent) {
      lost(gen, why, permanent);
    };
    auto s = sessions_.open(spec_, transport_, authHeaders_, spec_.timeoutMs, std::move(keep),
                            [this, gen](mcp::ProbeResult r) { established(gen, r); });
    if (!s) {
      return;  // cannot be watched from here (a stdio server outside mcp-healthd)
    }
    session_ = std::move(s.value());
    session_->start();
  }

  void established(uint64_t gen, const mcp::ProbeResult& r) {
    if (gen != generation_) {
      return;
    }
    if (r.error) {
      if (r.error->kind == mcp::ErrorKind::kAuth && r.error->httpStatus == 401) {
        auth_.rejected(spec_);  // a fresh token next time
      }
      return lost(gen, mcp::errorKindName(r.error->kind) + std::string(": ") + r.error->message,
                  false);
    }
    if (!r.toolsListChanged) {
      log::notice("server " + spec_.id +
                  ": watch_tools is set but the server does not advertise tools.listChanged; "
                  "its tools are re-listed by the periodic checks only");
      closeSession();
      return;
    }
    log::info("server " + spec_.id + ": watching for tools/list_changed (" +
              registry::transportName(transport_) + ")");
    if (hadSession_) {
      // A notification sent while no session was open (the server restarted, perhaps with
      // other tools) reached nobody: re-list once, as for a notification.
      relistSoon();
    }
    hadSession_ = true;
  }

  // A burst of notifications is one re-list, 500 ms after the first; later ones wait until
  // min_relist_interval has passed since the last re-list (a server that says list_changed all the
  // time cannot make us list it all the time).
  void relistSoon() {
    if (coalesce_->active()) {
      return;
    }
    int64_t delayMs = kListChangedCoalesceMs;
    if (lastRelistUs_ >= 0) {
      const int64_t sinceMs = (clock_.nowUs() - lastRelistUs_) / 1000;
      delayMs = std::max(delayMs, spec_.minRelistIntervalMs - sinceMs);
    }
    coalesce_->start(delayMs, [this] {
      lastRelistUs_ = clock_.nowUs();
      onToolsChanged_();
    });
  }

  // `why` never holds a credential: the session redacts what it reports.
  void lost(uint64_t gen, const std::string& why, bool permanent) {
    if (gen != generation_) {
      return;
    }
    const bool stable = clock_.nowUs() - openedUs_ >= kWatchStableMs * 1000;
    closeSession();
    ++generation_;  // late callbacks of the closed session are ignored
    if (permanent) {
      log::notice("server " + spec_.id + ": " + why +
                  "; its tools are re-listed by the periodic checks only");
      return;
    }
    backoffMs_ = stable || backoffMs_ == 0 ? kWatchBackoffFirstMs
                                           : std::min(backoffMs_ * 2, kWatchBackoffMaxMs);
    log::info("server " + spec_.id + ": watch ended (" + why + "); reconnecting in " +
              std::to_string(backoffMs_) + " ms");
    retry_->start(backoffMs_, [this] { connect(); });
  }

  void closeSession() {
    pendingAuth_.reset();
    session_.reset();  // a kept session is ended (the DELETE outlives it)
    coalesce_->stop();
    for (auto& h : authHeaders_) {
      wipeString(h);
    }
    authHeaders_.clear();
  }

  SessionFactory& sessions_;
  auth::AuthProvider& auth_;
  const Clock& clock_;
  registry::ServerSpec spec_;
  registry::Transport transport_;
  std::function<void()> onToolsChanged_;
  std::unique_ptr<loop::Timer> coalesce_;
  int64_t lastRelistUs_ = -1;  // when the last re-list was asked for; -1: never
  std::unique_ptr<loop::Timer> retry_;
  std::unique_ptr<loop::Timer> deferred_;
  std::unique_ptr<auth::Pending> pendingAuth_;
  std::vector<std::string> authHeaders_;
  std::unique_ptr<mcp::McpSession> session_;
  uint64_t generation_ = 0;
  bool hadSession_ = false;  // a session was established before: reconnects re-list
  int64_t backoffMs_ = 0;
  int64_t openedUs_ = 0;
};

}  // namespace

std::unique_ptr<ToolWatch> startToolWatch(SessionFactory& sessions, auth::AuthProvider& auth,
                                          const Clock& clock, loop::TimerFactory& timers,
                                          const registry::ServerSpec& spec,
                                          std::function<void()> onToolsChanged) {
  auto w = std::make_unique<Watch>(sessions, auth, clock, timers, spec, std::move(onToolsChanged));
  w->connect();
  return w;
}

}  // namespace mcphd::check
