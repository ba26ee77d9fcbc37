#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "auth/auth_provider.hpp"
#include "common/clock.hpp"
#include "http/client.hpp"
#include "loop/timer.hpp"
#include "mcp/probe_result.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::mcp {

// A check in flight; destroying it cancels the check and its callback never runs.
class RunningCheck {
 public:
  virtual ~RunningCheck() = default;
};

// Runs one full check of one server.
class Prober {
 public:
  virtual ~Prober() = default;
  // `done` runs exactly once, from the loop, never inline from start(), unless the returned
  // handle is destroyed first. `done` may destroy the handle.
  virtual std::unique_ptr<RunningCheck> start(const registry::ServerSpec& spec,
                                              std::function<void(ProbeResult)> done) = 0;
};

// The real prober: credentials from an AuthProvider, then an MCP Probe over HTTP.
class HttpProber final : public Prober {
 public:
  HttpProber(http::Client& client, auth::AuthProvider& auth, const Clock& clock,
             loop::TimerFactory& timers)
      : client_(client), auth_(auth), clock_(clock), timers_(timers) {}

  std::unique_ptr<RunningCheck> start(const registry::ServerSpec& spec,
                                      std::function<void(ProbeResult)> done) override;

 private:
  http::Client& client_;
  auth::AuthProvider& auth_;
  const Clock& clock_;
  loop::TimerFactory& timers_;
  // transport: auto servers, by id: the transport that worked last time.
  std::map<std::string, registry::Transport> detected_;
};

}  // namespace mcphd::mcp
