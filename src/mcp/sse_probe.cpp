#include "mcp/sse_probe.hpp"

#include <algorithm>

#include "common/json_writer.hpp"
#include "common/secret.hpp"
#include "mcp/probe_common.hpp"

namespace mcphd::mcp {

namespace {

bool isSuccess(long status) { return status >= 200 && status < 300; }

// scheme://host[:port] of an http(s) URL, lower-cased; empty when it is not one.
std::string originOf(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) {
    return "";
  }
  std::string s = url.substr(0, scheme);
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s != "http" && s != "https") {
    return "";
  }
  size_t end = url.find_first_of("/?#", scheme + 3);
  std::string origin = url.substr(0, end);
  std::transform(origin.begin(), origin.end(), origin.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return origin;
}

}  // namespace

std::string resolveEndpoint(const std::string& sseUrl, const std::string& data) {
  std::string origin = originOf(sseUrl);
  // Backslashes (read as slashes by WHATWG parsers: "\\evil/m" is "//evil/m") and control or
  // space characters have no place in an endpoint: refused rather than interpreted.
  if (origin.empty() || data.empty() || data.size() > 2048 ||
      std::any_of(data.begin(), data.end(), [](char c) {
        return c == '\\' || static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
      })) {
    return "";
  }
  std::string resolved;
  size_t firstDelimiter = data.find_first_of("/?#");
  size_t colon = data.find(':');
  if (data.find("://") != std::string::npos) {
    resolved = data;  // absolute: checked below like every other form
  } else if (colon != std::string::npos && colon < firstDelimiter) {
    return "";  // "evil:2/m", "http:evil/m": a scheme or host-like first segment, not a path
  } else if (data.rfind("//", 0) == 0) {
    return "";  // scheme-relative: another host
  } else if (data.front() == '/') {
    resolved = origin + data;
  } else {
    // Relative to the SSE URL's directory.
    std::string base = sseUrl.substr(0, sseUrl.find_first_of("?#"));
    resolved = base.substr(0, base.rfind('/') + 1) + data;
  }
  // Whatever the form, the result must be on the SSE URL's own origin.
  if (originOf(resolved) != origin || resolved.size() <= origin.size() ||
      (resolved[origin.size()] != '/' && resolved[origin.size()] != '?')) {
    return "";
  }
  return resolved;
}

SseProbe::SseProbe(http::Client& client, const Clock& clock, ProbeOptions options,
                   std::function<void(ProbeResult)> done)
    : client_(client),
      clock_(clock),
      options_(std::move(options)),
      done_(std::move(done)),
      sse_(options_.maxBody) {
  pages_.setLimits(options_.toolLimits);
}

SseProbe::~SseProbe() {
  stream_.reset();
  posts_.clear();
  for (auto& h : options_.headers) {
    wipeString(h);
  }
}

int64_t SseProbe::remainingMs() const {
  return options_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
}

std::vector<std::string> SseProbe::headers(bool json) const {
  std::vector<std::string> h;
  if (json) {
    h.emplace_back("Content-Type: application/json");
    h.emplace_back("Accept: application/json, text/event-stream");
  } else {
    h.emplace_back("Accept: text/event-stream");
  }
  h.insert(h.end(), options_.headers.begin(), options_.headers.end());
  return h;
}

void SseProbe::start() {
  startUs_ = clock_.nowUs();
  stepStartUs_ = startUs_;
  http::Request req;
  req.method = "GET";
  req.url = options_.url;
  req.registryEgress = options_.registryEgress;
  req.headers = headers(false);
  req.timeoutMs = options_.timeoutMs;  // the stream lives at most as long as the check
  req.connectTimeoutMs = options_.connectTimeoutMs;
  req.maxBody = options_.maxBody;
  req.onChunk = [this](const http::Response& head, std::string_view chunk) {
    if (!isSuccess(head.status) || head.contentType != "text/event-stream") {
      return false;  // judged when the transfer completes
    }
    inChunk_ = true;
    auto r = sse_.feed(chunk, [this](SseEvent& ev) { return onEvent(ev); });
    if (!r && !finished_) {
      fail(ErrorKind::kProtocol, "bad SSE stream: " + r.error().message);
    }
    inChunk_ = false;
    if (watching_) {
      return !closed_;
    }
    // When the result is decided, stop the stream: its completion delivers the result.
    return !finished_;
  };
  req.longLived = options_.keepOpen != nullptr;
  stream_ = client_.send(std::move(req), [this](http::Response r) {
    if (watching_) {
      return closed(r.failure != http::Failure::kNone && !r.stopped
                        ? "the SSE stream failed: " + r.failureMessage
                        : std::string("the SSE stream ended"));
    }
    if (finished_) {
      return deliver();
    }
    const char* where =
        step_ == Step::kEndpoint ? " while waiting for the endpoint event" : " on the SSE stream";
    if (r.failure != http::Failure::kNone && !r.stopped) {
      bool retriable = false;
      CheckError e = transferError(r, where, options_.timeoutMs, retriable);
      return fail(e.kind, std::move(e.message), e.httpStatus, retriable);
    }
    if (r.status == 401 || r.status == 403) {
      result_.wwwAuthenticate = r.wwwAuthenticate.substr(0, 4096);
      return fail(ErrorKind::kAuth, "HTTP " + std::to_string(r.status) + " from the SSE URL",
                  r.status);
    }
    if (!isSuccess(r.status)) {
      return fail(ErrorKind::kHttp, "HTTP " + std::to_string(r.status) + " from the SSE URL",
                  r.status, r.status >= 500 || r.status == 429);
    }
    if (r.contentType != "text/event-stream") {
      return fail(ErrorKind::kProtocol, "the SSE URL answered Content-Type '" +
                                            snippet(r.contentType) + "', not text/event-stream");
    }
    fail(ErrorKind::kProtocol, std::string("the SSE stream ended") + where);
  });
}

bool SseProbe::onEvent(SseEvent& ev) {
  if (step_ == Step::kEndpoint) {
    if (ev.type != "endpoint") {
      return true;
    }
    endpoint_ = resolveEndpoint(options_.url, ev.data);
    if (endpoint_.empty()) {
      fail(ErrorKind::kProtocol, "the endpoint event names '" + snippet(ev.data) +
                                     "', which is not a URL on the server's own origin");
      return false;
    }
    step_ = Step::kInitialize;
    stepStartUs_ = clock_.nowUs();
    std::string params = initializeParams(kLegacyProtocolVersion);
    expectId_ = std::to_string(nextId_);
    post(encodeRequest(nextId_++, "initialize", params), Step::kInitialize);
    return reading();
  }
  if (ev.type != "message" || ev.data.empty()) {
    return true;
  }
  auto m = decodeMessage(ev.data);
  if (!m) {
    fail(ErrorKind::kProtocol, m.error().message + " on the SSE stream");
    return false;
  }
  onMessage(m.value());
  return reading();
}

void SseProbe::onMessage(const Message& m) {
  if (m.kind == MessageKind::kRequest) {
    return post(replyToServerRequest(m), step_);
  }
  if (m.kind == MessageKind::kNotification) {
    // A kept session hears notifications from the moment initialized is posted: a server may
    // send one on the stream while it handles initialized, before the POST's own answer arrives
    // (server-everything sends list_changed then).
    const bool kept = watching_ || (options_.keepOpen && step_ == Step::kInitialized);
    if (kept && !closed_ && options_.keepOpen->onNotification) {
      options_.keepOpen->onNotification(m.method);
    }
    return;
  }
  if (m.id != expectId_) {
    return;
  }
  const char* what = step_ == Step::kInitialize ? "initialize" : "tools/list";
  if (m.kind == MessageKind::kErrorResponse) {
    return fail(ErrorKind::kProtocol, rpcErrorText(what, m));
  }
  int64_t tookUs = clock_.nowUs() - stepStartUs_;
  if (step_ == Step::kInitialize) {
    result_.initializeUs = tookUs;
    if (auto bad = applyInitializeResult(m.result, /*acceptLegacy=*/true, result_)) {
      return fail(ErrorKind::kProtocol, std::move(*bad));
    }
    step_ = Step::kInitialized;
    return post(encodeNotification("notifications/initialized"), Step::kInitialized);
  }
  if (step_ == Step::kToolsList) {
    result_.toolsListUs += tookUs;
    auto next = addToolsPage(pages_, m.result, result_);
    if (!next) {
      return fail(ErrorKind::kProtocol, next.error().message);
    }
    if (!next.value()) {
      return complete();
    }
    sendToolsList(*next.value());
  }
}

void SseProbe::sendToolsList(const std::string& params) {
  step_ = Step::kToolsList;
  stepStartUs_ = clock_.nowUs();
  expectId_ = std::to_string(nextId_);
  post(encodeRequest(nextId_++, "tools/list", params), Step::kToolsList);
}

void SseProbe::post(std::string body, Step step) {
  int64_t remaining = remainingMs();
  if (remaining <= 0) {
    return fail(ErrorKind::kTimeout,
                "check timed out after " + std::to_string(options_.timeoutMs) + " ms", 0, true);
  }
  http::Request req;
  req.method = "POST";
  req.url = endpoint_;
  req.registryEgress = options_.registryEgress;
  req.headers = headers(true);
  req.body = std::move(body);
  req.timeoutMs = remaining;
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, remaining);
  req.maxBody = 64 * 1024;  // the answer comes on the stream; the POST's own body is an ack
  if (watching_ && posts_.size() >= 4) {
    posts_.erase(posts_.begin());  // a kept session answers pings for long: keep the last few
  }
  posts_.push_back(client_.send(
      std::move(req), [this, step](http::Response r) { onPostDone(step, std::move(r)); }));
}

void SseProbe::onPostDone(Step step, http::Response r) {
  if (finished_) {
    return;
  }
  if (result_.connectUs == 0 && r.timings.newConnection) {
    result_.connectUs = r.timings.connectUs;
  }
  const char* what = step == Step::kInitialize    ? " posting initialize"
                     : step == Step::kInitialized ? " posting notifications/initialized"
                                                  : " posting tools/list";
  if (r.failure != http::Failure::kNone) {
    bool retriable = false;
    CheckError e = transferError(r, what, options_.timeoutMs, retriable);
    return fail(e.kind, std::move(e.message), e.httpStatus, retriable);
  }
  if (r.status == 401 || r.status == 403) {
    result_.wwwAuthenticate = r.wwwAuthenticate.substr(0, 4096);
    return fail(ErrorKind::kAuth, "HTTP " + std::to_string(r.status) + what, r.status);
  }
  if (!isSuccess(r.status)) {
    return fail(ErrorKind::kHttp, "HTTP " + std::to_string(r.status) + what, r.status,
                r.status >= 500 || r.status == 429);
  }
  if (step == Step::kInitialized && step_ == Step::kInitialized) {
    if (options_.keepOpen) {
      // The handshake is reported; the stream stays open for notifications.
      watching_ = true;
      finished_ = true;
      result_.totalUs = clock_.nowUs() - startUs_;
      return deliver();
    }
    sendToolsList("{}");
  }
}

void SseProbe::closed(const std::string& why) {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (options_.keepOpen->onClosed) {
    options_.keepOpen->onClosed(why);
  }
}

void SseProbe::fail(ErrorKind kind, std::string message, long status, bool retriable) {
  if (watching_) {
    redactSentHeaders(message, options_.headers);  // logged by the watch: no secret in it either
    return closed(message);  // e.g. a bad event on the kept stream
  }
  recordFailure(result_, CheckError{kind, std::move(message), status}, retriable, options_.headers);
  complete();
}

void SseProbe::complete() {
  if (finished_) {
    return;
  }
  finished_ = true;
  result_.totalUs = clock_.nowUs() - startUs_;
  if (!inChunk_) {
    deliver();
  }
}

void SseProbe::deliver() {
  if (delivered_) {
    return;
  }
  delivered_ = true;
  auto done = std::move(done_);
  done(std::move(result_));  // may destroy this
}

}  // namespace mcphd::mcp
