#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_provider.hpp"
#include "check/prober.hpp"
#include "check/transport_factory.hpp"
#include "common/clock.hpp"
#include "http/client.hpp"
#include "http/detached_calls.hpp"
#include "loop/process.hpp"
#include "loop/timer.hpp"

namespace mcphd::check {

// The real prober: credentials from an AuthProvider, then one MCP session over the server's
// transport. Around the session: an invalid record or a missing authorization is reported
// without one; a 401 drops the token and, once, discovers and retries; `transport: auto` falls
// back from Streamable HTTP to legacy HTTP+SSE on 400/404/405 and remembers what worked; watches
// reconnect with backoff (tool_watch.hpp).
class ServerProber final : public Prober {
 public:
  // `processes` may be null (no stdio servers); `inheritedEnv` ("NAME=value") is what a stdio
  // server inherits from the daemon (see mcp::kInheritedEnvNames).
  ServerProber(http::Client& client, auth::AuthProvider& auth, const Clock& clock,
               loop::TimerFactory& timers, loop::ProcessSpawner* processes = nullptr,
               std::vector<std::string> inheritedEnv = {});

  std::unique_ptr<RunningCheck> start(const registry::ServerSpec& spec,
                                      std::function<void(mcp::ProbeResult)> done) override;
  std::unique_ptr<ToolWatch> watch(const registry::ServerSpec& spec,
                                   std::function<void()> onToolsChanged) override;
  size_t detachedInFlight() const { return detached_.inFlight(); }
  // Runs `done` once the requests of ended watches (session DELETEs) have completed.
  void whenDetachedDone(std::function<void()> done) { detached_.whenIdle(std::move(done)); }

 private:
  auth::AuthProvider& auth_;
  const Clock& clock_;
  loop::TimerFactory& timers_;
  http::DetachedCalls detached_;  // requests of watches that ended
  SessionFactory sessions_;
};

}  // namespace mcphd::check
