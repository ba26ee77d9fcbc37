#include "mcp/legacy_sse_transport.hpp"

#include <algorithm>

#include "common/secret.hpp"
#include "mcp/http_wire.hpp"
#include "mcp/protocol.hpp"
#include "mcp/tool_pages.hpp"

namespace mcphd::mcp {

namespace {

constexpr size_t kMaxRepliesInFlight = 4;  // a server that pings without end gets the last few
constexpr size_t kAckBody =
    64 * 1024;  // the answer to a POST is an ack: the message comes on the stream

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

LegacySseTransport::LegacySseTransport(http::Client& client, const Clock& clock,
                                       HttpTransportOptions options)
    : client_(client), clock_(clock), options_(std::move(options)), sse_(options_.maxBody) {}

LegacySseTransport::~LegacySseTransport() {
  stream_.reset();
  posts_.clear();
  for (auto& h : options_.headers) {
    wipeString(h);
  }
}

std::string_view LegacySseTransport::offeredProtocolVersion() const {
  return kLegacyProtocolVersion;
}

int64_t LegacySseTransport::remainingMs() const {
  return options_.timeoutMs - (clock_.nowUs() - startUs_) / 1000;
}

void LegacySseTransport::open(TransportListener& listener) {
  listener_ = &listener;
  startUs_ = clock_.nowUs();
  http::Request req;
  req.method = "GET";
  req.url = options_.url;
  req.registryEgress = options_.registryEgress;
  req.headers = requestHeaders(options_.headers, false);
  req.timeoutMs = options_.timeoutMs;  // a check's stream lives at most as long as the check
  req.longLived = options_.keepOpen;   // a watch's stays
  req.connectTimeoutMs = options_.connectTimeoutMs;
  req.maxBody = options_.maxBody;
  req.onChunk = [this](const http::Response& head, std::string_view chunk) {
    if (!isSuccess(head.status) || head.contentType != "text/event-stream") {
      return false;  // judged when the transfer completes
    }
    // Everything the listener may do meanwhile (close() included) happens with inChunk_ set:
    // the stream's call must not be destroyed inside its own chunk callback.
    inChunk_ = true;
    auto r = sse_.feed(chunk, [this](SseEvent& ev) { return onEvent(ev); });
    if (!r) {
      TransportError e;
      e.error = {ErrorKind::kProtocol, "bad SSE stream: " + r.error().message, 0};
      failed(std::move(e));
    }
    inChunk_ = false;
    return !closed_ && !failed_;
  };
  stream_ = client_.send(std::move(req), [this](http::Response r) { onStreamDone(r); });
}

bool LegacySseTransport::onEvent(SseEvent& ev) {
  if (endpoint_.empty()) {
    if (ev.type != "endpoint") {
      return true;
    }
    endpoint_ = resolveEndpoint(options_.url, ev.data);
    if (endpoint_.empty()) {
      TransportError e;
      e.error = {ErrorKind::kProtocol,
                 "the endpoint event names '" + snippet(ev.data) +
                     "', which is not a URL on the server's own origin",
                 0};
      failed(std::move(e));
      return false;
    }
    listener_->onOpen();
    return !closed_ && !failed_;
  }
  if (ev.type != "message" || ev.data.empty()) {
    return true;
  }
  auto m = decodeMessage(ev.data);
  if (!m) {
    TransportError e;
    e.error = {ErrorKind::kProtocol, m.error().message + " on the SSE stream", 0};
    failed(std::move(e));
    return false;
  }
  listener_->onMessage(m.value());
  return !closed_ && !failed_;
}

void LegacySseTransport::failed(TransportError error) {
  if (failed_ || closed_) {
    return;
  }
  failed_ = true;
  if (listening_) {
    return listener_->onLost(error.error.message, false);
  }
  listener_->onError(std::move(error));
}

void LegacySseTransport::onStreamDone(const http::Response& r) {
  if (closed_) {
    if (closeDone_) {
      auto done = std::move(closeDone_);
      closeDone_ = nullptr;
      done();
    }
    return;
  }
  if (failed_) {
    return;
  }
  if (listening_) {
    failed_ = true;
    return listener_->onLost(r.failure != http::Failure::kNone && !r.stopped
                                 ? "the SSE stream failed: " + r.failureMessage
                                 : std::string("the SSE stream ended"),
                             false);
  }
  const char* where =
      endpoint_.empty() ? " while waiting for the endpoint event" : " on the SSE stream";
  if (r.failure != http::Failure::kNone && !r.stopped) {
    return failed(transferError(r, where, options_.timeoutMs));
  }
  if (!isSuccess(r.status)) {
    return failed(statusError(r, "HTTP " + std::to_string(r.status) + " from the SSE URL", clock_));
  }
  TransportError e;
  e.error.kind = ErrorKind::kProtocol;
  e.error.message = r.contentType != "text/event-stream"
                        ? "the SSE URL answered Content-Type '" + snippet(r.contentType) +
                              "', not text/event-stream"
                        : std::string("the SSE stream ended") + where;
  failed(std::move(e));
}

void LegacySseTransport::send(Outgoing message) {
  if (closed_ || failed_ || endpoint_.empty()) {
    return;
  }
  http::Request req;
  req.method = "POST";
  req.url = endpoint_;
  req.registryEgress = options_.registryEgress;
  if (!postHeaders_) {
    postHeaders_ = http::shareHeaders(requestHeaders(options_.headers, true));
  }
  req.sharedHeaders = postHeaders_;
  req.body = std::move(message.json);
  req.timeoutMs = listening_ ? kSessionDeleteTimeoutMs : std::max<int64_t>(1, remainingMs());
  req.connectTimeoutMs = std::min(options_.connectTimeoutMs, req.timeoutMs);
  req.maxBody = kAckBody;
  if (message.kind == Outgoing::Kind::kReply) {
    size_t replies = 0;
    for (const auto& p : posts_) {
      replies += p.kind == Outgoing::Kind::kReply ? 1 : 0;
    }
    if (replies >= kMaxRepliesInFlight) {
      posts_.erase(std::find_if(posts_.begin(), posts_.end(),
                                [](const Post& p) { return p.kind == Outgoing::Kind::kReply; }));
    }
  }
  posts_.push_back(Post{message.kind, message.what, nullptr});
  Post* post = &posts_.back();
  post->call =
      client_.send(std::move(req), [this, post](http::Response r) { onPostDone(*post, r); });
}

void LegacySseTransport::onPostDone(Post& post, const http::Response& r) {
  const Outgoing::Kind kind = post.kind;
  const std::string_view sent = post.what;  // a literal: outlives the post
  const std::string what = " posting " + std::string(sent);
  posts_.remove_if([&post](const Post& p) { return &p == &post; });  // its call may go here
  if (closed_ || failed_) {
    return;
  }
  if (connectUs_ == 0 && r.timings.newConnection) {
    connectUs_ = r.timings.connectUs;
  }
  if (kind == Outgoing::Kind::kReply) {
    return;
  }
  if (r.failure != http::Failure::kNone) {
    return failed(transferError(r, what, options_.timeoutMs));
  }
  if (!isSuccess(r.status)) {
    return failed(statusError(r, "HTTP " + std::to_string(r.status) + what, clock_));
  }
  if (kind == Outgoing::Kind::kNotification) {
    listener_->onSent(sent);
  }
}

void LegacySseTransport::close(std::function<void()> done) {
  if (closed_) {
    if (done) {
      done();
    }
    return;
  }
  closed_ = true;
  posts_.clear();
  if (inChunk_) {
    // The stream stops when its chunk callback returns; its completion runs `done`.
    closeDone_ = std::move(done);
    return;
  }
  stream_.reset();
  if (done) {
    done();
  }
}

}  // namespace mcphd::mcp
