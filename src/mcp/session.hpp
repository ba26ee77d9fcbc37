#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "loop/timer.hpp"
#include "mcp/probe_result.hpp"
#include "mcp/tool_pages.hpp"
#include "mcp/transport.hpp"

namespace mcphd::mcp {

struct SessionOptions {
  int64_t timeoutMs = 10'000;  // the whole check (keep-open: the handshake)
  ToolLimits toolLimits;
  // "Name: value" lines whose values never appear in an error message or a reported reason (the
  // headers and credentials sent, a stdio server's configured environment). Wiped at the end.
  std::vector<std::string> secrets;
  // Keep-open mode (a watch) when set: the session stops after notifications/initialized,
  // reports the handshake through `done`, then passes on the server's notifications until it is
  // lost (onLost, at most once) or destroyed. onNotification runs inside the transport's
  // callback: it must not destroy the session (a watch arms a timer). onLost comes from the loop
  // and may destroy it.
  std::function<void(const std::string& method)> onNotification;
  std::function<void(const std::string& why, bool permanent)> onLost;
};

// One MCP session with one server, over any Transport: initialize, notifications/initialized,
// tools/list (every page, within ToolLimits), then the session is closed; requests from the
// server are answered (ping: an empty result; anything else: method not found), notifications
// passed on in keep-open mode; the phases are timed; `done` runs exactly once, from the loop,
// never inline from start(), and may destroy the session. Destroying it cancels everything; a
// kept session is ended on the way (Transport::close without waiting).
class McpSession final : private TransportListener {
 public:
  enum class State {
    kIdle,          // not started
    kOpening,       // the transport connects
    kInitializing,  // initialize sent
    kInitialized,   // notifications/initialized sent, not yet taken
    kListing,       // a tools/list page asked for
    kClosing,       // decided; the transport ends the session
    kWatching,      // keep-open: the handshake is reported, notifications are passed on
    kDone,          // the result is (being) delivered; nothing more happens
  };

  McpSession(std::unique_ptr<Transport> transport, const Clock& clock, loop::TimerFactory& timers,
             SessionOptions options, std::function<void(ProbeResult)> done);
  ~McpSession() override;
  McpSession(const McpSession&) = delete;
  McpSession& operator=(const McpSession&) = delete;

  void start();
  State state() const { return state_; }

 private:
  void onOpen() override;
  void onMessage(const Message& message) override;
  void onSent(std::string_view what) override;
  void onError(TransportError error) override;
  void onLost(const std::string& why, bool permanent) override;

  bool keepOpen() const { return static_cast<bool>(options_.onNotification); }
  void request(std::string_view method, std::string_view params);
  void onResponse(const Message& m);
  void onDeadline();
  void fail(CheckError error, bool retriable);
  // Closes the session (unless `closeSession` is false: time is up) and then delivers.
  void finish(bool closeSession);
  void deliverSoon();
  void lost(std::string why, bool permanent);

  std::unique_ptr<Transport> transport_;
  const Clock& clock_;
  loop::TimerFactory& timers_;
  SessionOptions options_;
  std::function<void(ProbeResult)> done_;
  std::unique_ptr<loop::Timer> timer_;      // the deadline, then the delivery
  std::unique_ptr<loop::Timer> lostTimer_;  // keep-open: onLost, from the loop
  ProbeResult result_;
  ToolPages pages_;
  State state_ = State::kIdle;
  std::string expectId_;  // the id of the request whose response is awaited
  int64_t nextId_ = 1;
  int64_t startUs_ = 0;
  int64_t sentUs_ = 0;  // when the awaited request went out
  bool lostReported_ = false;
};

}  // namespace mcphd::mcp
