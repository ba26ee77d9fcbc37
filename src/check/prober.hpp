#pragma once

#include <functional>
#include <memory>

#include "mcp/probe_result.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::check {

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

// Runs the checks and watches of servers: what the scheduler drives.
class Prober {
 public:
  virtual ~Prober() = default;
  // `done` runs exactly once, from the loop, never inline from start(), unless the returned
  // handle is destroyed first. `done` may destroy the handle.
  virtual std::unique_ptr<RunningCheck> start(const registry::ServerSpec& spec,
                                              std::function<void(mcp::ProbeResult)> done) = 0;
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
};

}  // namespace mcphd::check
