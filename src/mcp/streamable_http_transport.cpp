#include "mcp/streamable_http_transport.hpp"

#include <algorithm>
#include <optional>

#include "common/secret.hpp"
#include "mcp/http_wire.hpp"
#include "mcp/protocol.hpp"
#include "mcp/tool_pages.hpp"

namespace mcphd::mcp {

namespace {

constexpr size_t kErrorSnippet = 4096;     // cut to its published length after redaction
constexpr size_t kMaxRepliesInFlight = 4;  // a server that pings without end gets the last few
constexpr size_t kAckBody = 64 * 1024;     // the body of an answer that carries no message

}  // namespace

// One POST in flight.
struct StreamableHttpTransport::Exchange {
  Exchange(Outgoing::Kind k, std::string_view w, std::string id, size_t maxBody)
      : kind(k),
        what(w),
        expectId(std::move(id)),
        sse(k == Outgoing::Kind::kRequest ? maxBody : 0) {}
  Outgoing::Kind kind;
  std::string_view what;
  std::string expectId;
  SseParser sse;
  std::string body;  // a JSON body, or the start of an error body
  std::optional<std::string> streamError;
  bool sawSse = false;
  bool responded = false;  // the response was passed on
  bool first = false;      // the session's first request (initialize): it carries the session id
  int resumptions = 0;     // GETs that resumed its stream (Last-Event-ID) so far
  std::unique_ptr<loop::Timer> resumeTimer;
  std::unique_ptr<http::Call> call;
};

StreamableHttpTransport::StreamableHttpTransport(http::Client& client, const Clock& clock,
                                                 loop::TimerFactory& timers,
                                                 HttpTransportOptions options)
    : client_(client), clock_(clock), timers_(timers), options_(std::move(options)) {}

StreamableHttpTransport::~StreamableHttpTransport() {
  stream_.reset();
  delete_.reset();
  exchanges_.clear();
  for (auto& h : options_.headers) {
    wipeString(h);
  }
}

std::string_view StreamableHttpTransport::offeredProtocolVersion() const {
  return kOfferedProtocolVersion;
}

int64_t StreamableHttpTransport::remainingMs() const {
  return options_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
}

int64_t StreamableHttpTransport::requestTimeoutMs() const {
  // Within the check, each request gets the time left of it; a kept session's replies get 5 s.
  return listening_ ? kSessionDeleteTimeoutMs : std::max<int64_t>(1, remainingMs());
}

const http::SharedHeaders& StreamableHttpTransport::headers(bool json) const {
  http::SharedHeaders& cached = json ? jsonHeaders_ : streamHeaders_;
  if (!cached && options_.headers.empty() && sessionId_.empty() && protocolVersion_.empty()) {
    // Every check's first request (initialize) of a server without headers of its own: one set
    // for the process, nothing secret in it, instead of one built per check.
    static const http::SharedHeaders kJson =
        std::make_shared<const std::vector<std::string>>(requestHeaders({}, true));
    static const http::SharedHeaders kStream =
        std::make_shared<const std::vector<std::string>>(requestHeaders({}, false));
    cached = json ? kJson : kStream;
  }
  if (!cached) {
    std::vector<std::string> h = requestHeaders(options_.headers, json);
    if (!sessionId_.empty()) {
      h.push_back("Mcp-Session-Id: " + sessionId_);
    }
    if (!protocolVersion_.empty()) {
      h.push_back("MCP-Protocol-Version: " + protocolVersion_);
    }
    cached = http::shareHeaders(std::move(h));
  }
  return cached;
}

void StreamableHttpTransport::open(TransportListener& listener) {
  listener_ = &listener;
  startUs_ = clock_.nowUs();
  listener_->onOpen();  // nothing to connect first: every message is its own request
}

void StreamableHttpTransport::negotiated(std::string_view protocolVersion) {
  protocolVersion_ = std::string(protocolVersion);
  jsonHeaders_.reset();
  streamHeaders_.reset();
}

void StreamableHttpTransport::send(Outgoing message) {
  if (closed_) {
    return;
  }
  http::Request req = baseRequest("POST", true);
  req.body = std::move(message.json);
  req.timeoutMs = requestTimeoutMs();
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, req.timeoutMs);
  const bool isRequest = message.kind == Outgoing::Kind::kRequest;
  req.maxBody = isRequest ? options_.maxBody : kAckBody;
  if (message.kind == Outgoing::Kind::kReply) {
    size_t replies = 0;
    for (const auto& e : exchanges_) {
      replies += e->kind == Outgoing::Kind::kReply ? 1 : 0;
    }
    if (replies >= kMaxRepliesInFlight) {
      auto oldest = std::find_if(exchanges_.begin(), exchanges_.end(),
                                 [](const auto& e) { return e->kind == Outgoing::Kind::kReply; });
      exchanges_.erase(oldest);  // a reply has no onChunk: never the call we may be inside
    }
  }
  auto ex = std::make_unique<Exchange>(message.kind, message.what, std::move(message.id),
                                       options_.maxBody);
  Exchange* raw = ex.get();
  raw->first = isRequest && !connectKnown_ && sessionId_.empty() && protocolVersion_.empty();
  if (isRequest) {
    req.onChunk = [this, raw](const http::Response& head, std::string_view chunk) {
      return onChunk(*raw, head, chunk);
    };
  }
  exchanges_.push_back(std::move(ex));
  raw->call =
      client_.send(std::move(req), [this, raw](http::Response r) { onDone(*raw, std::move(r)); });
}

bool StreamableHttpTransport::adoptSessionId(const std::string& id) {
  if (id.empty() || !sessionId_.empty()) {
    return true;
  }
  if (!validSessionId(id)) {
    return false;
  }
  sessionId_ = id;
  jsonHeaders_.reset();
  streamHeaders_.reset();
  return true;
}

bool StreamableHttpTransport::onChunk(Exchange& ex, const http::Response& head,
                                      std::string_view chunk) {
  if (!isSuccess(head.status)) {
    if (ex.body.size() < kErrorSnippet) {
      ex.body.append(chunk.substr(0, kErrorSnippet - ex.body.size()));
    }
    return true;
  }
  // The session id comes with initialize's answer: adopted at once, so that a server request on
  // its stream (a ping before the result) is answered within the session. (Not from a GET that
  // resumes it: that one is sent within the session.)
  if (ex.first && ex.resumptions == 0 && !adoptSessionId(head.sessionId)) {
    ex.streamError = "server sent an invalid Mcp-Session-Id";
    return false;
  }
  if (head.contentType != "text/event-stream") {
    ex.body.append(chunk);  // bounded by maxBody in the client
    return true;
  }
  ex.sawSse = true;
  auto r = ex.sse.feed(chunk, [&](SseEvent& ev) {
    if (ev.data.empty() || ev.type != "message") {
      return true;  // priming events and other event types carry no JSON-RPC message
    }
    auto m = decodeMessage(ev.data);
    if (!m) {
      ex.streamError = m.error().message;
      return false;
    }
    if (m->kind == MessageKind::kResponse || m->kind == MessageKind::kErrorResponse) {
      if (!m->id.empty() && m->id != ex.expectId) {
        return true;  // a response to something else: not ours
      }
      m->id = ex.expectId;  // an error without an id answers this request
      ex.responded = true;
      answerStatus_ = head.status;
      listener_->onMessage(m.value());
      return false;  // done with this stream
    }
    listener_->onMessage(m.value());
    return !closed_;
  });
  if (!r) {
    ex.streamError = r.error().message;
  }
  return !ex.responded && !ex.streamError && !closed_;
}

void StreamableHttpTransport::onDone(Exchange& exRef, http::Response r) {
  // Ours until this returns; its Call may be destroyed here.
  std::unique_ptr<Exchange> ex;
  for (auto it = exchanges_.begin(); it != exchanges_.end(); ++it) {
    if (it->get() == &exRef) {
      ex = std::move(*it);
      exchanges_.erase(it);
      break;
    }
  }
  if (!ex) {
    return;
  }
  if (ex->first && !connectKnown_) {
    connectKnown_ = true;
    connectUs_ = r.timings.newConnection ? r.timings.connectUs : 0;
  }
  if (closed_) {
    return;
  }
  if (ex->kind == Outgoing::Kind::kReply || ex->responded) {
    return;  // nobody waits for a reply; a response was passed on already
  }
  // Built only for an error: most answers need no message.
  const auto where = [&ex] {
    std::string w = " during " + std::string(ex->what);
    if (ex->resumptions > 0) {
      w += " (the GET resuming its response stream, attempt " + std::to_string(ex->resumptions) +
           ")";
    }
    return w;
  };
  if (r.failure != http::Failure::kNone && !r.stopped) {
    return listener_->onError(transferError(r, where(), options_.timeoutMs));
  }
  if (!isSuccess(r.status)) {
    std::string msg = "HTTP " + std::to_string(r.status) + where();
    if (!ex->body.empty()) {
      msg += ": " + snippet(ex->body);
    }
    return listener_->onError(statusError(r, std::move(msg), clock_));
  }
  if (ex->kind == Outgoing::Kind::kNotification) {
    return listener_->onSent(ex->what);
  }
  auto protocolError = [&](std::string message) {
    TransportError e;
    e.error = {ErrorKind::kProtocol, std::move(message), r.status};
    listener_->onError(std::move(e));
  };
  if (ex->streamError) {
    if (*ex->streamError == "server sent an invalid Mcp-Session-Id") {
      return protocolError(*ex->streamError);
    }
    return protocolError("bad SSE stream" + where() + ": " + *ex->streamError);
  }
  if (ex->resumptions > 0 && r.contentType != "text/event-stream") {
    return protocolError("unexpected Content-Type '" + snippet(r.contentType) + "'" + where() +
                         " (want text/event-stream)");
  }
  if (r.contentType == "application/json") {
    if (ex->first && !adoptSessionId(r.sessionId)) {
      return protocolError("server sent an invalid Mcp-Session-Id");
    }
    auto m = decodeMessage(ex->body);
    if (!m) {
      return protocolError(m.error().message + where());
    }
    if (m->kind == MessageKind::kErrorResponse) {
      m->id = ex->expectId;  // the error answering this POST, whatever id it carries
    } else if (m->kind != MessageKind::kResponse || m->id != ex->expectId) {
      return protocolError("response id does not match the request" + where());
    }
    answerStatus_ = r.status;
    return listener_->onMessage(m.value());
  }
  if (ex->sawSse) {
    std::string whyNot;
    const std::string at = where();  // before `ex` may go back to exchanges_
    if (resumeLater(ex, &whyNot)) {
      return;
    }
    return protocolError("SSE stream ended without the response" + at + ", not resumed: " + whyNot);
  }
  protocolError("unexpected Content-Type '" + snippet(r.contentType) + "'" + where() +
                " (want application/json or text/event-stream)");
}

bool StreamableHttpTransport::resumeLater(std::unique_ptr<Exchange>& ex, std::string* whyNot) {
  const std::string& id = ex->sse.lastEventId();
  if (id.empty()) {
    *whyNot = "the stream gave no event id to resume it from";
    return false;
  }
  // It goes back as a header: no line breaks or other control characters, and not without bound.
  if (id.size() > kMaxEventIdBytes ||
      !std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    *whyNot = "its event id is not usable as Last-Event-ID (over " +
              std::to_string(kMaxEventIdBytes) + " bytes, or not printable ASCII)";
    return false;
  }
  if (ex->resumptions >= kMaxResumptions) {
    *whyNot = "it ended early again after " + std::to_string(kMaxResumptions) + " resumptions";
    return false;
  }
  const int64_t retry = ex->sse.retryMs();
  const int64_t delay = retry < 0 ? kDefaultResumeDelayMs : std::max(kMinResumeDelayMs, retry);
  const int64_t left = listening_ ? kSessionDeleteTimeoutMs : remainingMs();
  if (delay >= left) {
    *whyNot = "its retry delay of " + std::to_string(delay) + " ms is not shorter than the " +
              std::to_string(std::max<int64_t>(0, left)) + " ms left";
    return false;
  }
  Exchange* raw = ex.get();
  raw->resumeTimer = timers_.createTimer();
  exchanges_.push_back(std::move(ex));
  raw->resumeTimer->start(delay, [this, raw] { resume(*raw); });
  return true;
}

void StreamableHttpTransport::resume(Exchange& ex) {
  if (closed_) {
    return;
  }
  ++ex.resumptions;
  // A new stream: its own parse state, from the last event id and retry of the one before.
  SseParser next(options_.maxBody);
  next.resumeFrom(ex.sse.lastEventId(), ex.sse.retryMs());
  ex.sse = std::move(next);
  ex.body.clear();
  http::Request req = baseRequest("GET", false);
  req.headers.push_back("Last-Event-ID: " + ex.sse.lastEventId());
  req.timeoutMs = requestTimeoutMs();
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, req.timeoutMs);
  req.maxBody = options_.maxBody;
  Exchange* raw = &ex;
  req.onChunk = [this, raw](const http::Response& head, std::string_view chunk) {
    return onChunk(*raw, head, chunk);
  };
  // The call it replaces completed (its callback ran before this timer was armed).
  raw->call =
      client_.send(std::move(req), [this, raw](http::Response r) { onDone(*raw, std::move(r)); });
}

void StreamableHttpTransport::listen() {
  if (closed_ || listening_) {
    return;
  }
  listening_ = true;
  openStream("");
}

void StreamableHttpTransport::openStream(const std::string& lastEventId) {
  // A kept session hears the server on its GET stream (notifications that answer no request).
  http::Request req = baseRequest("GET", false);
  req.longLived = true;
  req.connectTimeoutMs = options_.connectTimeoutMs;
  auto parser = std::make_unique<SseParser>(options_.maxBody);
  if (!lastEventId.empty()) {
    req.headers.push_back("Last-Event-ID: " + lastEventId);
    parser->resumeFrom(lastEventId, streamParser_->retryMs());
  }
  streamParser_ = std::move(parser);
  streamLost_ = false;
  streamResumed_ = !lastEventId.empty();
  streamOpenedUs_ = clock_.nowUs();
  req.onChunk = [this](const http::Response& head, std::string_view chunk) {
    if (head.status != 200 || head.contentType != "text/event-stream") {
      return false;  // judged at completion
    }
    inStream_ = true;
    auto r = streamParser_->feed(chunk, [this](SseEvent& ev) {
      onStreamEvent(ev);
      return !closed_ && !streamLost_;
    });
    inStream_ = false;
    if (!r && !streamLost_) {
      streamLost_ = true;
      listener_->onLost("bad SSE on the GET stream: " + r.error().message, false);
    }
    return !closed_ && !streamLost_;
  };
  stream_ = client_.send(std::move(req), [this](http::Response r) { onStreamDone(r); });
}

void StreamableHttpTransport::onStreamEvent(SseEvent& ev) {
  if (ev.data.empty() || ev.type != "message") {
    return;
  }
  auto m = decodeMessage(ev.data);
  if (!m) {
    streamLost_ = true;
    listener_->onLost("bad message on the GET stream: " + m.error().message, false);
    return;
  }
  listener_->onMessage(m.value());
}

void StreamableHttpTransport::onStreamDone(const http::Response& r) {
  if (closed_ || streamLost_) {
    return;
  }
  streamLost_ = true;
  if (r.failure != http::Failure::kNone && !r.stopped) {
    return listener_->onLost("the GET stream failed: " + r.failureMessage, false);
  }
  if (r.status == 405 && !streamResumed_) {
    return listener_->onLost(
        "the server offers no GET stream (HTTP 405): list_changed cannot reach us", true);
  }
  if (r.status != 200) {
    return listener_->onLost("the GET stream answered HTTP " + std::to_string(r.status), false);
  }
  // 2025-11-25 SSE polling: a server may end the stream and expect the client back with the
  // last event id; the session goes on (no new session, no re-list).
  std::string whyNot;
  if (r.contentType == "text/event-stream" && resumeStreamLater(&whyNot)) {
    return;
  }
  listener_->onLost("the GET stream ended" + (whyNot.empty() ? "" : " (" + whyNot + ")"), false);
}

bool StreamableHttpTransport::resumeStreamLater(std::string* whyNot) {
  const std::string& id = streamParser_->lastEventId();
  if (id.empty()) {
    return false;  // nothing to resume from: a plain end, as before SSE polling
  }
  if (id.size() > kMaxEventIdBytes ||
      !std::all_of(id.begin(), id.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
    *whyNot = "its event id is not usable as Last-Event-ID";
    return false;
  }
  // A stream that ended within kShortStreamMs (with messages or not) doubles the wait before
  // the next one, up to kMaxStreamResumeDelayMs; one that lasted starts again from retry:.
  const bool shortEnd = clock_.nowUs() - streamOpenedUs_ < kShortStreamMs * 1000;
  streamShortEnds_ = shortEnd ? std::min(streamShortEnds_ + 1, 16) : 0;
  const int64_t retry = streamParser_->retryMs();
  const int64_t base = std::clamp(retry < 0 ? kDefaultResumeDelayMs : retry,
                                  kMinStreamResumeDelayMs, kMaxStreamResumeDelayMs);
  const int doublings = std::min(std::max(streamShortEnds_ - 1, 0), 6);
  const int64_t delay = std::min(base << doublings, kMaxStreamResumeDelayMs);
  streamResumeTimer_ = timers_.createTimer();
  // The call that ended is released by then (its callback has returned).
  streamResumeTimer_->start(delay, [this, from = id] {
    if (!closed_) {
      openStream(from);
    }
  });
  return true;
}

http::Request StreamableHttpTransport::baseRequest(const char* method, bool json) const {
  http::Request req;
  req.method = method;
  req.url = options_.url;
  req.registryEgress = options_.registryEgress;
  req.sharedHeaders = headers(json);
  return req;
}

http::Request StreamableHttpTransport::deleteRequest(int64_t timeoutMs) const {
  http::Request req = baseRequest("DELETE", true);
  req.timeoutMs = timeoutMs;
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, timeoutMs);
  req.maxBody = kAckBody;
  return req;
}

void StreamableHttpTransport::close(std::function<void()> done) {
  if (closed_) {
    if (done) {
      done();
    }
    return;
  }
  closed_ = true;
  // The GET stream stops: at once, or (when this runs inside its chunk callback, which must not
  // destroy its own call) when that callback returns.
  if (!inStream_) {
    stream_.reset();
  }
  streamResumeTimer_.reset();
  if (sessionId_.empty()) {
    if (done) {
      done();
    }
    return;
  }
  // Ending the session is courtesy: its outcome (200, 405, anything) changes nothing.
  if (done) {
    const int64_t remaining = remainingMs();
    if (remaining <= 0) {
      return done();
    }
    delete_ = client_.send(deleteRequest(remaining),
                           [done = std::move(done)](http::Response) { done(); });
  } else if (options_.detached != nullptr) {
    options_.detached->send(
        deleteRequest(std::min<int64_t>(options_.timeoutMs, kSessionDeleteTimeoutMs)));
  }
}

}  // namespace mcphd::mcp
