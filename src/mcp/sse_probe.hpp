#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "http/client.hpp"
#include "mcp/probe.hpp"
#include "mcp/probe_result.hpp"
#include "mcp/sse_parser.hpp"
#include "mcp/tool_pages.hpp"

namespace mcphd::mcp {

inline constexpr const char* kLegacyProtocolVersion = "2024-11-05";

// One check over the legacy HTTP+SSE transport (spec 2024-11-05): GET the SSE URL, wait for the
// `endpoint` event (resolved against the SSE URL; another origin is refused, so credentials never
// leave the server's origin), POST each request there and read its response from the stream by
// id; initialize, notifications/initialized, tools/list (every page), then close the stream.
// Destroying it cancels everything.
class SseProbe {
 public:
  SseProbe(http::Client& client, const Clock& clock, ProbeOptions options,
           std::function<void(ProbeResult)> done);
  ~SseProbe();
  SseProbe(const SseProbe&) = delete;
  SseProbe& operator=(const SseProbe&) = delete;

  void start();

 private:
  enum class Step { kEndpoint, kInitialize, kInitialized, kToolsList };

  bool onEvent(SseEvent& ev);
  void onMessage(const Message& m);
  void post(std::string body, Step step);
  void onPostDone(Step step, http::Response r);
  void sendToolsList(const std::string& params);
  void fail(ErrorKind kind, std::string message, long status = 0, bool retriable = false);
  void complete();
  void deliver();
  void closed(const std::string& why);
  // Events are still wanted: the check is undecided, or the kept stream is open.
  bool reading() const { return watching_ ? !closed_ : !finished_; }
  std::vector<std::string> headers(bool json) const;
  int64_t remainingMs() const;

  http::Client& client_;
  const Clock& clock_;
  ProbeOptions options_;
  std::function<void(ProbeResult)> done_;
  ProbeResult result_;
  SseParser sse_;
  ToolPages pages_;
  Step step_ = Step::kEndpoint;
  std::string endpoint_;
  std::string expectId_;
  int64_t nextId_ = 1;
  int64_t startUs_ = 0;
  int64_t stepStartUs_ = 0;
  std::unique_ptr<http::Call> stream_;
  std::vector<std::unique_ptr<http::Call>> posts_;
  bool finished_ = false;   // the result is decided
  bool delivered_ = false;  // done_ has run
  bool inChunk_ = false;    // inside the stream's chunk callback, which must not destroy the stream
  bool watching_ = false;   // keepOpen: the handshake is done and reported, the stream stays
  bool closed_ = false;     // keepOpen: onClosed has run
};

// The endpoint URL of an `endpoint` event, resolved against the SSE URL; empty when it is
// malformed or names another origin.
std::string resolveEndpoint(const std::string& sseUrl, const std::string& data);

}  // namespace mcphd::mcp
