#include "mcp/tool_watch.hpp"

#include <algorithm>
#include <list>

#include "common/log.hpp"
#include "common/secret.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/probe.hpp"
#include "mcp/probe_common.hpp"
#include "mcp/sse_parser.hpp"
#include "mcp/sse_probe.hpp"
#include "mcp/stdio_probe.hpp"

namespace mcphd::mcp {

namespace {

constexpr const char* kListChanged = "notifications/tools/list_changed";

// The GET stream of a Streamable HTTP session: where a server sends notifications that answer
// no request. Server pings on it are answered.
class GetStream {
 public:
  GetStream(http::Client& client, std::string url, bool registryEgress,
            std::vector<std::string> headers, std::shared_ptr<KeepOpen> events, size_t maxEvent)
      : client_(client),
        url_(std::move(url)),
        registryEgress_(registryEgress),
        headers_(std::move(headers)),
        events_(std::move(events)),
        sse_(maxEvent) {}
  ~GetStream() {
    stream_.reset();
    replies_.clear();
    for (auto& h : headers_) {
      wipeString(h);
    }
  }

  void start() {
    http::Request req;
    req.method = "GET";
    req.url = url_;
    req.registryEgress = registryEgress_;
    req.headers = headers_;
    req.headers.emplace_back("Accept: text/event-stream");
    req.longLived = true;
    req.connectTimeoutMs = 3000;
    req.onChunk = [this](const http::Response& head, std::string_view chunk) {
      if (head.status != 200 || head.contentType != "text/event-stream") {
        return false;  // judged at completion
      }
      auto r = sse_.feed(chunk, [this](SseEvent& ev) { return onEvent(ev); });
      if (!r) {
        closed("bad SSE on the GET stream: " + r.error().message);
      }
      return !closed_;
    };
    stream_ = client_.send(std::move(req), [this](http::Response r) {
      if (r.failure != http::Failure::kNone && !r.stopped) {
        return closed("the GET stream failed: " + r.failureMessage);
      }
      if (r.status == 405) {
        permanent_ = true;
        return closed("the server offers no GET stream (HTTP 405): list_changed cannot reach us");
      }
      if (r.status != 200) {
        return closed("the GET stream answered HTTP " + std::to_string(r.status));
      }
      closed("the GET stream ended");
    });
  }
  bool permanent() const { return permanent_; }

 private:
  bool onEvent(SseEvent& ev) {
    if (ev.data.empty() || ev.type != "message") {
      return true;
    }
    auto m = decodeMessage(ev.data);
    if (!m) {
      closed("bad message on the GET stream: " + m.error().message);
      return false;
    }
    if (m->kind == MessageKind::kNotification && events_->onNotification) {
      events_->onNotification(m->method);
    } else if (m->kind == MessageKind::kRequest) {
      http::Request req;
      req.url = url_;
      req.registryEgress = registryEgress_;
    req.registryEgress = registryEgress_;
      req.headers = headers_;
      req.headers.emplace_back("Content-Type: application/json");
      req.headers.emplace_back("Accept: application/json, text/event-stream");
      req.body = replyToServerRequest(*m);
      req.timeoutMs = 5000;
      req.maxBody = 64 * 1024;
      // A session lives long: keep the last few replies only (older ones finished long ago).
      if (replies_.size() >= 4) {
        replies_.pop_front();
      }
      replies_.push_back(client_.send(std::move(req), [](http::Response) {}));
    }
    return !closed_;
  }

  void closed(const std::string& why) {
    if (closed_) {
      return;
    }
    closed_ = true;
    if (events_->onClosed) {
      events_->onClosed(why);
    }
  }

  http::Client& client_;
  std::string url_;
  bool registryEgress_;
  std::vector<std::string> headers_;
  std::shared_ptr<KeepOpen> events_;
  SseParser sse_;
  std::unique_ptr<http::Call> stream_;
  std::list<std::unique_ptr<http::Call>> replies_;
  bool closed_ = false;
  bool permanent_ = false;
};

class Watch final : public ToolWatch {
 public:
  Watch(const WatchContext& ctx, const registry::ServerSpec& spec, registry::Transport transport,
        std::function<void()> onToolsChanged)
      : ctx_(ctx),
        spec_(spec),
        transport_(transport),
        onToolsChanged_(std::move(onToolsChanged)),
        coalesce_(ctx.timers.createTimer()),
        retry_(ctx.timers.createTimer()),
        deferred_(ctx.timers.createTimer()),
        deferredLost_(ctx.timers.createTimer()) {}

  ~Watch() override { closeSession(); }

  void connect() {
    closeSession();
    ++generation_;
    const uint64_t gen = generation_;
    pendingAuth_ = ctx_.auth.authorize(spec_, [this, gen](Result<std::vector<std::string>> h) {
      // May run inline: continue from the loop.
      if (!h) {
        std::string why = "credentials: " + h.error().message;
        deferred_->start(0, [this, gen, why] { lost(gen, why); });
        return;
      }
      authHeaders_ = std::move(h.value());
      deferred_->start(0, [this, gen] { open(gen); });
    });
  }

 private:
  std::shared_ptr<KeepOpen> events(uint64_t gen) {
    auto e = std::make_shared<KeepOpen>();
    e->onNotification = [this, gen](const std::string& method) {
      if (gen == generation_ && method == kListChanged) {
        relistSoon();
      }
    };
    e->onClosed = [this, gen](const std::string& why) {
      // Runs inside the session's own callbacks: tear down from the loop. A timer of its own, so
      // a handshake report still pending cannot replace it.
      deferredLost_->start(0, [this, gen, why] { lost(gen, why); });
    };
    return e;
  }

  void open(uint64_t gen) {
    if (gen != generation_) {
      return;
    }
    openedUs_ = ctx_.clock.nowUs();
    auto onHandshake = [this, gen](ProbeResult r) {
      deferred_->start(0, [this, gen, r] { established(gen, r); });
    };
    if (transport_ == registry::Transport::kStdio) {
      if (ctx_.processes == nullptr) {
        return;
      }
      StdioOptions o;
      o.serverId = spec_.id;
      o.command = spec_.command;
      o.args = spec_.args;
      o.env = spec_.env;
      o.inheritedEnv = ctx_.inheritedEnv;
      o.cwd = spec_.cwd;
      o.timeoutMs = spec_.timeoutMs;
      o.maxBody = spec_.maxBody;
      o.keepOpen = events(gen);
      stdio_ = std::make_unique<StdioProbe>(*ctx_.processes, ctx_.clock, ctx_.timers, std::move(o),
                                            onHandshake);
      stdio_->start();
      return;
    }
    ProbeOptions o;
    o.url = spec_.url;
    o.headers = serverHeaders(spec_, authHeaders_);
    o.timeoutMs = spec_.timeoutMs;
    o.connectTimeoutMs = spec_.connectTimeoutMs;
    o.maxBody = spec_.maxBody;
    o.registryEgress = spec_.source == registry::Source::kRedis;
    o.keepOpen = events(gen);
    if (transport_ == registry::Transport::kSse) {
      sse_ = std::make_unique<SseProbe>(ctx_.client, ctx_.clock, std::move(o), onHandshake);
      sse_->start();
    } else {
      http_ = std::make_unique<Probe>(ctx_.client, ctx_.clock, std::move(o), onHandshake);
      http_->start();
    }
  }

  void established(uint64_t gen, const ProbeResult& r) {
    if (gen != generation_) {
      return;
    }
    if (r.error) {
      if (r.error->kind == ErrorKind::kAuth && r.error->httpStatus == 401) {
        ctx_.auth.rejected(spec_);  // a fresh token next time
      }
      return lost(gen, errorKindName(r.error->kind) + std::string(": ") + r.error->message);
    }
    if (!r.toolsListChanged) {
      log::notice("server " + spec_.id +
                  ": watch_tools is set but the server does not advertise tools.listChanged; "
                  "its tools are re-listed by the periodic checks only");
      closeSession();
      return;
    }
    if (http_) {
      // Streamable HTTP: notifications come on the session's GET stream.
      get_ = std::make_unique<GetStream>(ctx_.client, spec_.url,
                                         spec_.source == registry::Source::kRedis, sessionHeaders(), events(gen),
                                         spec_.maxBody);
      get_->start();
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

  // Requests within the Streamable HTTP session (its GET stream, its DELETE): the server's
  // headers and credentials, the session id and the negotiated protocol version.
  std::vector<std::string> sessionHeaders() const {
    std::vector<std::string> h = serverHeaders(spec_, authHeaders_);
    if (!http_->sessionId().empty()) {
      h.push_back("Mcp-Session-Id: " + http_->sessionId());
    }
    if (!http_->protocolVersion().empty()) {
      h.push_back("MCP-Protocol-Version: " + http_->protocolVersion());
    }
    return h;
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
      const int64_t sinceMs = (ctx_.clock.nowUs() - lastRelistUs_) / 1000;
      delayMs = std::max(delayMs, spec_.minRelistIntervalMs - sinceMs);
    }
    coalesce_->start(delayMs, [this] {
      lastRelistUs_ = ctx_.clock.nowUs();
      onToolsChanged_();
    });
  }

  void lost(uint64_t gen, const std::string& reason) {
    // Logged: a server that echoes our headers back must not put a credential in the log.
    std::string why = reason;
    auto sent = serverHeaders(spec_, authHeaders_);
    redactSentHeaders(why, sent);
    for (auto& h : sent) {
      wipeString(h);
    }
    if (gen != generation_) {
      return;
    }
    const bool permanent = get_ && get_->permanent();
    const bool stable = ctx_.clock.nowUs() - openedUs_ >= kWatchStableMs * 1000;
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
    get_.reset();
    if (http_ && !http_->sessionId().empty()) {
      // The session is ours to end (the spec's DELETE); nobody waits for the answer.
      http::Request req;
      req.method = "DELETE";
      req.url = spec_.url;
      req.registryEgress = spec_.source == registry::Source::kRedis;
      req.headers = sessionHeaders();
      req.timeoutMs = std::min<int64_t>(spec_.timeoutMs, kSessionDeleteTimeoutMs);
      req.connectTimeoutMs = std::min(spec_.connectTimeoutMs, req.timeoutMs);
      req.maxBody = 64 * 1024;
      ctx_.detached.send(std::move(req));
    }
    http_.reset();
    sse_.reset();
    stdio_.reset();  // the process goes through the shutdown ladder
    coalesce_->stop();
    for (auto& h : authHeaders_) {
      wipeString(h);
    }
    authHeaders_.clear();
  }

  WatchContext ctx_;
  registry::ServerSpec spec_;
  registry::Transport transport_;
  std::function<void()> onToolsChanged_;
  std::unique_ptr<loop::Timer> coalesce_;
  int64_t lastRelistUs_ = -1;  // when the last re-list was asked for; -1: never
  std::unique_ptr<loop::Timer> retry_;
  std::unique_ptr<loop::Timer> deferred_;
  std::unique_ptr<loop::Timer> deferredLost_;
  std::unique_ptr<auth::Pending> pendingAuth_;
  std::vector<std::string> authHeaders_;
  std::unique_ptr<Probe> http_;
  std::unique_ptr<GetStream> get_;
  std::unique_ptr<SseProbe> sse_;
  std::unique_ptr<StdioProbe> stdio_;
  uint64_t generation_ = 0;
  bool hadSession_ = false;  // a session was established before: reconnects re-list
  int64_t backoffMs_ = 0;
  int64_t openedUs_ = 0;
};

}  // namespace

std::unique_ptr<ToolWatch> startToolWatch(const WatchContext& ctx, const registry::ServerSpec& spec,
                                          registry::Transport transport,
                                          std::function<void()> onToolsChanged) {
  auto w = std::make_unique<Watch>(ctx, spec, transport, std::move(onToolsChanged));
  w->connect();
  return w;
}

}  // namespace mcphd::mcp
