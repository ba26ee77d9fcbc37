#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "http/client.hpp"
#include "mcp/probe_result.hpp"
#include "mcp/sse_parser.hpp"
#include "mcp/tool_pages.hpp"

namespace mcphd::mcp {

struct ProbeOptions {
  std::string url;
  std::vector<std::string> headers;  // "Name: value", configured and auth (secret: wiped after)
  int64_t timeoutMs = 10'000;        // the whole check
  int64_t connectTimeoutMs = 3'000;
  size_t maxBody = 8 * 1024 * 1024;
  bool registryEgress = false;  // a server from Redis: egress.registry applies (http::Request)
  ToolLimits toolLimits;
  // Set: stop after the handshake and keep the session (see KeepOpen); no tools/list, no DELETE.
  std::shared_ptr<KeepOpen> keepOpen;
};

inline constexpr const char* kOfferedProtocolVersion = "2025-11-25";
bool isAcceptedProtocolVersion(std::string_view v);

// One Streamable HTTP check: initialize, notifications/initialized, tools/list (every page),
// DELETE of the session. Destroying the Probe cancels every request in flight.
class Probe {
 public:
  Probe(http::Client& client, const Clock& clock, ProbeOptions options,
        std::function<void(ProbeResult)> done);
  ~Probe();
  Probe(const Probe&) = delete;
  Probe& operator=(const Probe&) = delete;

  // Starts the exchange; `done` runs once, from the loop, and may destroy the Probe.
  void start();
  // The session id the server gave (kept-open sessions: the GET stream needs it).
  const std::string& sessionId() const { return sessionId_; }
  const std::string& protocolVersion() const { return protocolVersion_; }

 private:
  struct Exchange;
  enum class Step { kInitialize, kInitialized, kToolsList, kDelete };

  void sendRequest(Step step, std::string body, int64_t expectId);
  void onExchangeDone(Step step, http::Response response);
  void onInitializeResult(const Message& m);
  void onToolsPage(const Message& m, const http::Response& r);
  void sendDelete();
  void fail(ErrorKind kind, std::string message, long status = 0, bool retriable = false);
  void complete();
  std::vector<std::string> requestHeaders(bool afterInit) const;
  int64_t remainingMs() const;
  const char* stepName(Step s) const;
  void replyToServer(const Message& request, const std::string& streamSessionId);

  http::Client& client_;
  const Clock& clock_;
  ProbeOptions options_;
  std::function<void(ProbeResult)> done_;
  ProbeResult result_;
  int64_t startUs_ = 0;
  int64_t nextId_ = 1;
  std::string sessionId_;
  ToolPages pages_;
  std::unique_ptr<Exchange> exchange_;
  std::unique_ptr<http::Call> call_;
  std::vector<std::unique_ptr<http::Call>> replies_;  // answers to server requests (ping)
  bool finished_ = false;
  std::string protocolVersion_;
};

}  // namespace mcphd::mcp
