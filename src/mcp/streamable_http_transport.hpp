#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "http/client.hpp"
#include "http/detached_calls.hpp"
#include "loop/timer.hpp"
#include "mcp/sse_parser.hpp"
#include "mcp/transport.hpp"

namespace mcphd::mcp {

struct HttpTransportOptions {
  std::string url;
  // "Name: value": the configured headers and the credentials (secret: wiped at the end).
  std::vector<std::string> headers;
  int64_t timeoutMs = 10'000;  // the whole check: each request gets what is left of it
  int64_t connectTimeoutMs = 3'000;
  size_t maxBody = 8 * 1024 * 1024;
  bool registryEgress = false;  // a server from Redis: egress.registry applies (http::Request)
  bool keepOpen = false;        // a watch: streams stay open without a timeout
  // Where a DELETE nobody waits for goes (close without `done`): it outlives the transport.
  http::DetachedCalls* detached = nullptr;
};

// The DELETE that ends a kept session gets at most this long.
inline constexpr int64_t kSessionDeleteTimeoutMs = 5'000;

// Resuming a response stream that the server ended early (2025-11-25 "SSE polling"): at most this
// many times per request, each after the stream's `retry:` (at least kMinResumeDelayMs; without
// one, kDefaultResumeDelayMs), and only from an event id of at most kMaxEventIdBytes printable
// ASCII characters (it goes back to the server as a header).
inline constexpr int kMaxResumptions = 5;
inline constexpr int64_t kMinResumeDelayMs = 100;
inline constexpr int64_t kDefaultResumeDelayMs = 1'000;
inline constexpr size_t kMaxEventIdBytes = 1024;
// The GET stream of a kept session (a watch) that the server ends after an event id is resumed on
// the same session with Last-Event-ID (no new session, no re-list), after its `retry:` but at
// least kMinStreamResumeDelayMs (a watch waits for notifications, not for an answer) and at most
// kMaxStreamResumeDelayMs. Each stream in a row that ended within kShortStreamMs doubles that
// wait (up to kMaxStreamResumeDelayMs), messages or not, so a server that ends its streams at
// once costs one GET a minute, not one a second; a stream that lasted starts again from retry:.
inline constexpr int64_t kMinStreamResumeDelayMs = 1'000;
inline constexpr int64_t kMaxStreamResumeDelayMs = 60'000;
inline constexpr int64_t kShortStreamMs = 10'000;

// MCP Streamable HTTP (2025-03-26 and later): each message is a POST to the server's URL; a
// request's response comes as a JSON body or on an SSE stream in the POST's answer, where the
// server may also send its own requests and notifications; the session id (Mcp-Session-Id) and
// the negotiated version (MCP-Protocol-Version) go on every request after initialize; a kept
// session hears the server on a GET stream; DELETE ends the session.
class StreamableHttpTransport final : public Transport {
 public:
  StreamableHttpTransport(http::Client& client, const Clock& clock, loop::TimerFactory& timers,
                          HttpTransportOptions options);
  ~StreamableHttpTransport() override;

  std::string_view offeredProtocolVersion() const override;
  bool acceptsLegacyProtocol() const override { return false; }
  void open(TransportListener& listener) override;
  void send(Outgoing message) override;
  void negotiated(std::string_view protocolVersion) override;
  void listen() override;
  void close(std::function<void()> done) override;
  int64_t connectUs() const override { return connectUs_; }
  long answerStatus() const override { return answerStatus_; }

  const std::string& sessionId() const { return sessionId_; }

 private:
  struct Exchange;

  // The headers of every request (json) or of the GET stream: built once per session state.
  const http::SharedHeaders& headers(bool json) const;
  int64_t remainingMs() const;
  // The time a request sent now gets: what is left of the check, or 5 s in a kept session.
  int64_t requestTimeoutMs() const;
  bool onChunk(Exchange& ex, const http::Response& head, std::string_view chunk);
  void onDone(Exchange& ex, http::Response r);
  // The stream of `ex` ended before its response: resumes it later (true), or says why not.
  bool resumeLater(std::unique_ptr<Exchange>& ex, std::string* whyNot);
  void resume(Exchange& ex);
  bool adoptSessionId(const std::string& id);
  // The GET stream, from `lastEventId` ("" a new one).
  void openStream(const std::string& lastEventId);
  void onStreamEvent(SseEvent& ev);
  void onStreamDone(const http::Response& r);
  // The GET stream ended after an event id: resumes it later (true), or says why not.
  bool resumeStreamLater(std::string* whyNot);
  // A request to the server's URL with the session's headers (json: those of a POST).
  http::Request baseRequest(const char* method, bool json) const;
  http::Request deleteRequest(int64_t timeoutMs) const;

  http::Client& client_;
  const Clock& clock_;
  loop::TimerFactory& timers_;
  HttpTransportOptions options_;
  TransportListener* listener_ = nullptr;
  int64_t startUs_ = 0;
  int64_t connectUs_ = 0;
  long answerStatus_ = 0;
  bool connectKnown_ = false;
  std::string sessionId_;
  mutable http::SharedHeaders jsonHeaders_;    // headers(true), until the session changes
  mutable http::SharedHeaders streamHeaders_;  // headers(false)
  std::string protocolVersion_;
  std::list<std::unique_ptr<Exchange>> exchanges_;  // POSTs in flight (replies: the last few)
  // The GET stream of a kept session.
  std::unique_ptr<SseParser> streamParser_;
  std::unique_ptr<http::Call> stream_;
  std::unique_ptr<loop::Timer> streamResumeTimer_;
  int64_t streamOpenedUs_ = 0;
  bool streamResumed_ = false;  // the GET stream resumes one before it (Last-Event-ID)
  int streamShortEnds_ = 0;     // GET streams in a row that ended within kShortStreamMs
  std::unique_ptr<http::Call> delete_;
  bool listening_ = false;
  bool inStream_ = false;    // inside the GET stream's chunk callback
  bool streamLost_ = false;  // this GET stream ended (onLost was said, or it is to be resumed)
  bool closed_ = false;
};

}  // namespace mcphd::mcp
