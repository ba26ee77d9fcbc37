#include "mcp/session.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "common/json_writer.hpp"
#include "common/secret.hpp"
#include "common/utf8.hpp"
#include "mcp/protocol.hpp"
#include "mcp/redaction.hpp"

namespace mcphd::mcp {

namespace {

constexpr std::string_view kInitialize = "initialize";
constexpr std::string_view kInitialized = "notifications/initialized";
constexpr std::string_view kToolsList = "tools/list";

// A health checker offers no client features: ping gets an empty result, anything else
// "Method not found".
std::string replyTo(const Message& request) {
  return request.method == "ping" ? encodeResult(request.id, "{}")
                                  : encodeError(request.id, -32601, "Method not found");
}

std::string rpcErrorText(std::string_view step, const Message& m) {
  return std::string(step) + " failed: JSON-RPC error " + std::to_string(m.errorCode) + " " +
         snippet(m.errorMessage);
}

}  // namespace

McpSession::McpSession(std::unique_ptr<Transport> transport, const Clock& clock,
                       loop::TimerFactory& timers, SessionOptions options,
                       std::function<void(ProbeResult)> done)
    : transport_(std::move(transport)),
      clock_(clock),
      timers_(timers),
      options_(std::move(options)),
      done_(std::move(done)),
      timer_(timers.createTimer()) {
  pages_.setLimits(options_.toolLimits);
}

McpSession::~McpSession() {
  if (keepOpen() && transport_) {
    // A kept session is ended, in whatever phase (a no-op when it was closed already); nobody
    // waits for it. A check cancelled half-way gets no goodbye, as at a timeout.
    transport_->close(nullptr);
  }
  transport_.reset();
  for (auto& s : options_.secrets) {
    wipeString(s);
  }
}

void McpSession::start() {
  startUs_ = clock_.nowUs();
  state_ = State::kOpening;
  // A check whose credentials took all its time is due at once (never a negative delay).
  timer_->start(std::max<int64_t>(options_.timeoutMs, 0), [this] { onDeadline(); });
  transport_->open(*this);
}

void McpSession::onOpen() {
  if (state_ != State::kOpening) {
    return;
  }
  state_ = State::kInitializing;
  request(kInitialize, initializeParams(transport_->offeredProtocolVersion()));
}

void McpSession::request(std::string_view method, std::string_view params) {
  const int64_t id = nextId_++;
  expectId_ = std::to_string(id);
  sentUs_ = clock_.nowUs();
  transport_->send(
      Outgoing{Outgoing::Kind::kRequest, encodeRequest(id, method, params), expectId_, method});
}

void McpSession::onMessage(const Message& m) {
  if (state_ == State::kDone || state_ == State::kClosing || state_ == State::kIdle) {
    return;
  }
  switch (m.kind) {
    case MessageKind::kRequest:
      transport_->send(Outgoing{Outgoing::Kind::kReply, replyTo(m), {}, "a reply"});
      return;
    case MessageKind::kNotification:
      // A kept session hears notifications from the moment initialized is sent: a server may
      // send one while it handles initialized (server-everything sends list_changed then).
      if (keepOpen() && (state_ == State::kInitialized || state_ == State::kWatching)) {
        options_.onNotification(m.method);
      }
      return;
    case MessageKind::kResponse:
    case MessageKind::kErrorResponse:
      if (!expectId_.empty() && m.id == expectId_) {
        expectId_.clear();
        onResponse(m);
      }
      return;  // a response to something else: not ours
  }
}

void McpSession::onResponse(const Message& m) {
  const int64_t tookUs = clock_.nowUs() - sentUs_;
  if (state_ == State::kInitializing) {
    result_.initializeUs = tookUs;
    if (m.kind == MessageKind::kErrorResponse) {
      return fail({ErrorKind::kProtocol, rpcErrorText(kInitialize, m), transport_->answerStatus()},
                  false);
    }
    auto init = decodeInitializeResult(m.result);
    if (!init) {
      return fail({ErrorKind::kProtocol, init.error().message, 0}, false);
    }
    const std::string& v = init->protocolVersion;
    if (!isAcceptedProtocolVersion(v) &&
        !(transport_->acceptsLegacyProtocol() && v == kLegacyProtocolVersion)) {
      return fail({ErrorKind::kProtocol,
                   "server chose unsupported protocol version '" + snippet(v) + "'", 0},
                  false);
    }
    result_.protocolVersion = v;
    result_.serverName =
        std::string(truncateUtf8(std::string_view(init->serverName), kMaxServerInfo));
    result_.serverVersion =
        std::string(truncateUtf8(std::string_view(init->serverVersion), kMaxServerInfo));
    result_.toolsListChanged = init->toolsListChanged;
    result_.initialized = true;
    transport_->negotiated(v);
    state_ = State::kInitialized;
    transport_->send(Outgoing{
        Outgoing::Kind::kNotification, encodeNotification(kInitialized), {}, kInitialized});
    return;
  }
  if (state_ != State::kListing) {
    return;
  }
  result_.toolsListUs += tookUs;
  if (m.kind == MessageKind::kErrorResponse) {
    return fail({ErrorKind::kProtocol, rpcErrorText(kToolsList, m), transport_->answerStatus()},
                false);
  }
  auto next = pages_.add(m.result);
  if (!next) {
    return fail({ErrorKind::kProtocol, next.error().message, 0}, false);
  }
  if (next.value()) {
    return request(kToolsList, "{\"cursor\":" + json::quote(*next.value()) + "}");
  }
  result_.tools = std::move(pages_.tools());
  result_.toolsComplete = true;
  result_.toolsHash = computeToolsHash(result_.tools);
  finish(true);
}

void McpSession::onSent(std::string_view what) {
  if (state_ != State::kInitialized || what != kInitialized) {
    return;
  }
  if (!keepOpen()) {
    state_ = State::kListing;
    return request(kToolsList, "{}");
  }
  // The handshake is reported; the session stays for the server's notifications.
  state_ = State::kWatching;
  timer_->stop();
  lostTimer_ = timers_.createTimer();
  transport_->listen();
  deliverSoon();
}

void McpSession::onError(TransportError e) {
  if (state_ == State::kWatching) {
    return lost(std::move(e.error.message), false);
  }
  if (state_ == State::kDone || state_ == State::kClosing || state_ == State::kIdle) {
    return;
  }
  if (e.retryAfterMs) {
    result_.retryAfterMs = e.retryAfterMs;
  }
  if (!e.wwwAuthenticate.empty()) {
    result_.wwwAuthenticate = std::move(e.wwwAuthenticate);
  }
  fail(std::move(e.error), e.retriable);
}

void McpSession::onLost(const std::string& why, bool permanent) {
  if (state_ == State::kWatching) {
    return lost(why, permanent);
  }
  if (state_ != State::kDone && state_ != State::kClosing && state_ != State::kIdle) {
    fail({ErrorKind::kProtocol, why, 0}, false);
  }
}

void McpSession::onDeadline() {
  const char* waiting = "";
  switch (state_) {
    case State::kOpening:
      waiting = " opening the session";
      break;
    case State::kInitializing:
      waiting = " waiting for the initialize result";
      break;
    case State::kInitialized:
      waiting = " waiting for notifications/initialized to be taken";
      break;
    case State::kListing:
      waiting = " waiting for tools/list";
      break;
    default:
      return;
  }
  recordFailure(
      result_,
      {ErrorKind::kTimeout,
       "check timed out after " + std::to_string(options_.timeoutMs) + " ms" + waiting, 0},
      true, options_.secrets);
  finish(false);  // time is up: no goodbye to the server
}

void McpSession::fail(CheckError error, bool retriable) {
  if (state_ == State::kDone || state_ == State::kClosing) {
    return;
  }
  const bool timeout = error.kind == ErrorKind::kTimeout;
  recordFailure(result_, std::move(error), retriable, options_.secrets);
  finish(!timeout);
}

void McpSession::finish(bool closeSession) {
  state_ = State::kClosing;
  timer_->stop();
  if (!closeSession) {
    // Time is up: no goodbye, but nothing kept either (a stream stops, a process is let go; a
    // kept session's DELETE goes out detached).
    transport_->close(nullptr);
    return deliverSoon();
  }
  // May run inline: the delivery itself always comes from the loop.
  transport_->close([this] { deliverSoon(); });
}

void McpSession::deliverSoon() {
  if (state_ != State::kWatching) {
    state_ = State::kDone;
  }
  if (result_.connectUs == 0) {
    result_.connectUs = transport_->connectUs();
  }
  result_.totalUs = clock_.nowUs() - startUs_;
  timer_->start(0, [this] {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) {
      done(std::move(result_));  // may destroy this
    }
  });
}

void McpSession::lost(std::string why, bool permanent) {
  if (lostReported_) {
    return;
  }
  lostReported_ = true;
  // Logged by the watch: no credential in it either.
  redactSecrets(why, options_.secrets);
  lostTimer_->start(0, [this, why = std::move(why), permanent] {
    if (options_.onLost) {
      auto onLost = options_.onLost;  // may destroy this
      onLost(why, permanent);
    }
  });
}

}  // namespace mcphd::mcp
