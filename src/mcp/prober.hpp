#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_provider.hpp"
#include "common/clock.hpp"
#include "http/client.hpp"
#include "http/detached_calls.hpp"
#include "loop/process.hpp"
#include "loop/timer.hpp"
#include "mcp/probe_result.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::mcp {

// A check in flight; destroying it cancels the check and its callback never runs.
class RunningCheck {
 public:
  virtual ~RunningCheck() = default;
};

// A session kept open to a server to hear notifications/tools/list_changed; destroying it closes
// the session.
class ToolWatch {
 public:
  virtual ~ToolWatch() = default;
};

// Runs one full check of one server.
class Prober {
 public:
  virtual ~Prober() = default;
  // Keeps a session open to `spec` (the GET stream of Streamable HTTP, the SSE stream, the stdio
  // process) and calls `onToolsChanged` (from the loop, bursts coalesced over 500 ms) when the
  // server says its tools changed; reconnects with backoff when the session ends. Null when this
  // prober cannot watch.
  virtual std::unique_ptr<ToolWatch> watch(const registry::ServerSpec& spec,
                                           std::function<void()> onToolsChanged) {
    (void)spec;
    (void)onToolsChanged;
    return nullptr;
  }
  // `done` runs exactly once, from the loop, never inline from start(), unless the returned
  // handle is destroyed first. `done` may destroy the handle.
  virtual std::unique_ptr<RunningCheck> start(const registry::ServerSpec& spec,
                                              std::function<void(ProbeResult)> done) = 0;
};

// What `transport: auto` found for each server, with the url it was found for.
class DetectedTransports {
 public:
  // The transport to try first for `spec` (auto resolved; Streamable HTTP when nothing is known).
  registry::Transport forSpec(const registry::ServerSpec& spec) const {
    if (spec.transport != registry::Transport::kAuto) {
      return spec.transport;
    }
    auto it = known_.find(spec.id);
    return it != known_.end() && it->second.first == spec.url
               ? it->second.second
               : registry::Transport::kStreamableHttp;
  }
  void remember(const registry::ServerSpec& spec, registry::Transport t) {
    known_[spec.id] = {spec.url, t};
  }

 private:
  std::map<std::string, std::pair<std::string, registry::Transport>> known_;
};

// The real prober: credentials from an AuthProvider, then the server's transport — Streamable
// HTTP or legacy HTTP+SSE over `client`, or a process from `processes` for stdio servers.
class ServerProber final : public Prober {
 public:
  // `processes` may be null (no stdio servers); `inheritedEnv` ("NAME=value") is what a stdio
  // server inherits from the daemon (see kInheritedEnvNames).
  ServerProber(http::Client& client, auth::AuthProvider& auth, const Clock& clock,
               loop::TimerFactory& timers, loop::ProcessSpawner* processes = nullptr,
               std::vector<std::string> inheritedEnv = {})
      : client_(client),
        auth_(auth),
        clock_(clock),
        timers_(timers),
        processes_(processes),
        inheritedEnv_(std::move(inheritedEnv)),
        detached_(client) {}

  std::unique_ptr<RunningCheck> start(const registry::ServerSpec& spec,
                                      std::function<void(ProbeResult)> done) override;
  std::unique_ptr<ToolWatch> watch(const registry::ServerSpec& spec,
                                   std::function<void()> onToolsChanged) override;
  size_t detachedInFlight() const { return detached_.inFlight(); }
  // Runs `done` once the requests of ended watches (session DELETEs) have completed.
  void whenDetachedDone(std::function<void()> done) { detached_.whenIdle(std::move(done)); }

 private:
  http::Client& client_;
  auth::AuthProvider& auth_;
  const Clock& clock_;
  loop::TimerFactory& timers_;
  loop::ProcessSpawner* processes_;
  std::vector<std::string> inheritedEnv_;
  // transport: auto servers, by id: the transport that worked last time, for the url it worked
  // with (a record whose url changes starts over).
  DetectedTransports detected_;
  http::DetachedCalls detached_;  // requests of watches that ended
};

}  // namespace mcphd::mcp
