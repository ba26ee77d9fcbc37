#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "http/client.hpp"
#include "http/detached_calls.hpp"
#include "loop/process.hpp"
#include "loop/timer.hpp"
#include "mcp/session.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::check {

// What `transport: auto` found for each server, with the url it was found for.
class DetectedTransports {
 public:
  // The transport to try first for `spec` (auto resolved; Streamable HTTP when nothing is known).
  registry::Transport forSpec(const registry::ServerSpec& spec) const;
  void remember(const registry::ServerSpec& spec, registry::Transport t) {
    known_[spec.id] = {spec.url, t};
  }

 private:
  std::map<std::string, std::pair<std::string, registry::Transport>> known_;
};

// Keep-open callbacks of a session (a watch); both empty for a check.
struct KeepOpen {
  std::function<void(const std::string& method)> onNotification;
  std::function<void(const std::string& why, bool permanent)> onLost;
};

// Builds the MCP session of a server from its settings: the transport (Streamable HTTP, legacy
// HTTP+SSE, or a stdio process; `auto` resolved by what worked before), its headers and
// credentials, its limits, and what the session must never let a server echo back. The check
// and the watch both open their sessions here.
class SessionFactory {
 public:
  // `processes` may be null (no stdio servers: mcp-healthctl); `inheritedEnv` ("NAME=value") is
  // what a stdio server inherits from the daemon (see mcp::kInheritedEnvNames); `detached` takes
  // the DELETE of a kept Streamable HTTP session that ends.
  SessionFactory(http::Client& client, const Clock& clock, loop::TimerFactory& timers,
                 loop::ProcessSpawner* processes, std::vector<std::string> inheritedEnv,
                 http::DetachedCalls& detached);

  DetectedTransports& detected() { return detected_; }

  // A session (not started) with `spec` over `transport` (never kAuto), sending `authHeaders`
  // ("Name: value", secret) and taking at most `timeoutMs`; an error (kind config) when this
  // process cannot run it (a stdio server outside mcp-healthd).
  Result<std::unique_ptr<mcp::McpSession>> open(const registry::ServerSpec& spec,
                                                registry::Transport transport,
                                                const std::vector<std::string>& authHeaders,
                                                int64_t timeoutMs, KeepOpen keepOpen,
                                                std::function<void(mcp::ProbeResult)> done);

 private:
  http::Client& client_;
  const Clock& clock_;
  loop::TimerFactory& timers_;
  loop::ProcessSpawner* processes_;
  std::vector<std::string> inheritedEnv_;
  http::DetachedCalls& detached_;
  // transport: auto servers, by id: the transport that worked last time, for the url it worked
  // with (a record whose url changes starts over).
  DetectedTransports detected_;
};

}  // namespace mcphd::check
