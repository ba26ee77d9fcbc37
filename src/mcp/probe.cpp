#include "mcp/probe.hpp"

#include <algorithm>
#include <optional>
#include <unordered_set>

#include "common/json_writer.hpp"
#include "common/secret.hpp"
#include "mcp/probe_common.hpp"
#include "mcp/retry_after.hpp"
#include "mcp/tool_pages.hpp"

namespace mcphd::mcp {

namespace {

constexpr size_t kErrorSnippet = 4096;  // cut to its published length after redaction

bool isSuccess(long status) { return status >= 200 && status < 300; }

// A server-chosen session id goes back into a header: only visible ASCII, bounded length.
bool validSessionId(std::string_view s) {
  if (s.empty() || s.size() > 512) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

bool isAcceptedProtocolVersion(std::string_view v) {
  return v == "2025-11-25" || v == "2025-06-18" || v == "2025-03-26";
}

// The state of one HTTP exchange that expects a JSON-RPC response: JSON or an SSE stream.
struct Probe::Exchange {
  explicit Exchange(size_t maxBody, std::string expect)
      : sse(maxBody), expectId(std::move(expect)) {}
  SseParser sse;
  std::string expectId;
  std::string body;  // a JSON body, or the start of an error body
  std::optional<Message> response;
  std::optional<std::string> streamError;
  bool sawSse = false;
};

Probe::Probe(http::Client& client, const Clock& clock, ProbeOptions options,
             std::function<void(ProbeResult)> done)
    : client_(client), clock_(clock), options_(std::move(options)), done_(std::move(done)) {
  pages_.setLimits(options_.toolLimits);
}

Probe::~Probe() {
  call_.reset();
  replies_.clear();
  for (auto& h : options_.headers) {
    wipeString(h);
  }
}

void Probe::start() {
  startUs_ = clock_.nowUs();
  std::string params = initializeParams(kOfferedProtocolVersion);
  int64_t id = nextId_++;
  sendRequest(Step::kInitialize, encodeRequest(id, "initialize", params), id);
}

const char* Probe::stepName(Step s) const {
  switch (s) {
    case Step::kInitialize:
      return "initialize";
    case Step::kInitialized:
      return "notifications/initialized";
    case Step::kToolsList:
      return "tools/list";
    case Step::kDelete:
      return "DELETE";
  }
  return "?";
}

int64_t Probe::remainingMs() const {
  return options_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
}

std::vector<std::string> Probe::requestHeaders(bool afterInit) const {
  std::vector<std::string> h = {"Content-Type: application/json",
                                "Accept: application/json, text/event-stream"};
  h.insert(h.end(), options_.headers.begin(), options_.headers.end());
  if (afterInit) {
    if (!sessionId_.empty()) {
      h.push_back("Mcp-Session-Id: " + sessionId_);
    }
    h.push_back("MCP-Protocol-Version: " + result_.protocolVersion);
  }
  return h;
}

void Probe::sendRequest(Step step, std::string body, int64_t expectId) {
  int64_t remaining = remainingMs();
  if (remaining <= 0) {
    fail(ErrorKind::kTimeout, std::string("check timed out before ") + stepName(step), 0, true);
    return;
  }
  http::Request req;
  req.method = "POST";
  req.url = options_.url;
  req.registryEgress = options_.registryEgress;
  req.headers = requestHeaders(step != Step::kInitialize);
  req.body = std::move(body);
  req.timeoutMs = remaining;
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, remaining);
  req.maxBody = options_.maxBody;
  if (expectId > 0) {
    exchange_ = std::make_unique<Exchange>(options_.maxBody, std::to_string(expectId));
    Exchange* ex = exchange_.get();
    req.onChunk = [this, ex](const http::Response& head, std::string_view chunk) {
      if (!isSuccess(head.status)) {
        if (ex->body.size() < kErrorSnippet) {
          ex->body.append(chunk.substr(0, kErrorSnippet - ex->body.size()));
        }
        return true;
      }
      if (head.contentType != "text/event-stream") {
        ex->body.append(chunk);  // bounded by maxBody in the client
        return true;
      }
      ex->sawSse = true;
      auto r = ex->sse.feed(chunk, [&](SseEvent& ev) {
        if (ev.data.empty() || ev.type != "message") {
          return true;  // priming events and other event types carry no JSON-RPC message
        }
        auto m = decodeMessage(ev.data);
        if (!m) {
          ex->streamError = m.error().message;
          return false;
        }
        if (m->kind == MessageKind::kRequest) {
          replyToServer(*m, head.sessionId);
          return true;
        }
        if (m->kind == MessageKind::kNotification) {
          return true;
        }
        if (m->id == ex->expectId || m->id.empty()) {
          ex->response = std::move(m.value());
          return false;
        }
        return true;  // a response to something else: not ours
      });
      if (!r) {
        ex->streamError = r.error().message;
      }
      return !ex->response && !ex->streamError;
    };
  } else {
    exchange_.reset();
  }
  call_ = client_.send(std::move(req),
                       [this, step](http::Response r) { onExchangeDone(step, std::move(r)); });
}

void Probe::replyToServer(const Message& request, const std::string& streamSessionId) {
  // Answer a server's ping so it does not give up on us; refuse anything else politely.
  std::string body = replyToServerRequest(request);
  http::Request req;
  req.url = options_.url;
  req.registryEgress = options_.registryEgress;
  req.headers = requestHeaders(!result_.protocolVersion.empty());
  // A request that arrives on the initialize stream comes before we know the session from the
  // result: take it from that response's headers.
  if (sessionId_.empty() && validSessionId(streamSessionId)) {
    req.headers.push_back("Mcp-Session-Id: " + streamSessionId);
  }
  req.body = std::move(body);
  req.timeoutMs = std::max<int64_t>(1, remainingMs());
  req.connectTimeoutMs = options_.connectTimeoutMs;
  req.maxBody = 64 * 1024;
  replies_.push_back(client_.send(std::move(req), [](http::Response) {}));
}

void Probe::onExchangeDone(Step step, http::Response r) {
  std::unique_ptr<Exchange> ex = std::move(exchange_);
  if (step == Step::kDelete) {
    complete();
    return;
  }
  if (step == Step::kInitialize) {
    result_.initializeUs = r.timings.totalUs;
    result_.connectUs = r.timings.newConnection ? r.timings.connectUs : 0;
  } else if (step == Step::kToolsList) {
    result_.toolsListUs += r.timings.totalUs;
  }
  const std::string where = std::string(" during ") + stepName(step);
  if (r.failure != http::Failure::kNone && !r.stopped) {
    bool retriable = false;
    CheckError e = transferError(r, where, options_.timeoutMs, retriable);
    return fail(e.kind, std::move(e.message), e.httpStatus, retriable);
  }
  if (!isSuccess(r.status)) {
    if (auto ra = parseRetryAfter(r.retryAfter, clock_.wallMs()); ra) {
      result_.retryAfterMs = ra;
    }
    std::string msg = "HTTP " + std::to_string(r.status) + where;
    if (ex && !ex->body.empty()) {
      msg += ": " + snippet(ex->body);
    }
    if (r.status == 401 || r.status == 403) {
      result_.wwwAuthenticate = r.wwwAuthenticate.substr(0, 4096);
      return fail(ErrorKind::kAuth, msg, r.status);
    }
    bool retriable = r.status >= 500 || r.status == 429;
    return fail(ErrorKind::kHttp, msg, r.status, retriable);
  }
  if (step == Step::kInitialized) {
    if (options_.keepOpen) {
      protocolVersion_ = result_.protocolVersion;
      return complete();  // the caller keeps the session: no tools/list, no DELETE
    }
    int64_t id = nextId_++;
    sendRequest(Step::kToolsList, encodeRequest(id, "tools/list", "{}"), id);
    return;
  }
  // initialize or tools/list: a JSON-RPC response is expected.
  std::optional<Message> m;
  if (ex && ex->streamError) {
    return fail(ErrorKind::kProtocol, "bad SSE stream" + where + ": " + *ex->streamError, r.status);
  }
  if (ex && ex->response) {
    m = std::move(ex->response);
  } else if (r.contentType == "application/json") {
    auto decoded = decodeMessage(ex ? ex->body : r.body);
    if (!decoded) {
      return fail(ErrorKind::kProtocol, decoded.error().message + where, r.status);
    }
    m = std::move(decoded.value());
  } else if (ex && ex->sawSse) {
    return fail(ErrorKind::kProtocol, "SSE stream ended without the response" + where, r.status);
  } else {
    return fail(ErrorKind::kProtocol,
                "unexpected Content-Type '" + snippet(r.contentType) + "'" + where +
                    " (want application/json or text/event-stream)",
                r.status);
  }
  if (m->kind == MessageKind::kErrorResponse) {
    return fail(ErrorKind::kProtocol, rpcErrorText(stepName(step), *m), r.status);
  }
  if (m->kind != MessageKind::kResponse || (ex && m->id != ex->expectId)) {
    return fail(ErrorKind::kProtocol, "response id does not match the request" + where, r.status);
  }
  if (step == Step::kInitialize) {
    if (!r.sessionId.empty() && !validSessionId(r.sessionId)) {
      return fail(ErrorKind::kProtocol, "server sent an invalid Mcp-Session-Id", r.status);
    }
    sessionId_ = r.sessionId;
    onInitializeResult(*m);
  } else {
    onToolsPage(*m, r);
  }
}

void Probe::onInitializeResult(const Message& m) {
  if (auto bad = applyInitializeResult(m.result, /*acceptLegacy=*/false, result_)) {
    return fail(ErrorKind::kProtocol, std::move(*bad));
  }
  sendRequest(Step::kInitialized, encodeNotification("notifications/initialized"), 0);
}

void Probe::onToolsPage(const Message& m, const http::Response&) {
  auto next = addToolsPage(pages_, m.result, result_);
  if (!next) {
    return fail(ErrorKind::kProtocol, next.error().message);
  }
  if (!next.value()) {
    return sendDelete();
  }
  int64_t id = nextId_++;
  sendRequest(Step::kToolsList, encodeRequest(id, "tools/list", *next.value()), id);
}

void Probe::sendDelete() {
  int64_t remaining = remainingMs();
  if (sessionId_.empty() || remaining <= 0) {
    complete();
    return;
  }
  // Ending the session is courtesy: its outcome (200, 405, anything) does not change the result.
  http::Request req;
  req.method = "DELETE";
  req.url = options_.url;
  req.registryEgress = options_.registryEgress;
  req.headers = requestHeaders(true);
  req.timeoutMs = remaining;
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, remaining);
  req.maxBody = 64 * 1024;
  exchange_.reset();
  call_ = client_.send(std::move(req),
                       [this](http::Response r) { onExchangeDone(Step::kDelete, std::move(r)); });
}

void Probe::fail(ErrorKind kind, std::string message, long status, bool retriable) {
  // The message may quote the server: never let it carry back a header value we sent (a token).
  recordFailure(result_, CheckError{kind, std::move(message), status}, retriable, options_.headers);
  // A session was opened: close it, unless time is up.
  if (!sessionId_.empty() && kind != ErrorKind::kTimeout && !options_.keepOpen) {
    sendDelete();
    return;
  }
  complete();
}

void Probe::complete() {
  if (finished_) {
    return;
  }
  finished_ = true;
  result_.totalUs = clock_.nowUs() - startUs_;
  auto done = std::move(done_);
  done(std::move(result_));  // may destroy this
}

}  // namespace mcphd::mcp
