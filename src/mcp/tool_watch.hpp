#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "auth/auth_provider.hpp"
#include "common/clock.hpp"
#include "http/client.hpp"
#include "http/detached_calls.hpp"
#include "loop/process.hpp"
#include "loop/timer.hpp"
#include "mcp/prober.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::mcp {

struct WatchContext {
  http::Client& client;
  auth::AuthProvider& auth;
  const Clock& clock;
  loop::TimerFactory& timers;
  loop::ProcessSpawner* processes;
  const std::vector<std::string>& inheritedEnv;
  // Where the DELETE that ends a Streamable HTTP session goes when its watch ends.
  http::DetachedCalls& detached;
};

inline constexpr int64_t kListChangedCoalesceMs = 500;
inline constexpr int64_t kWatchBackoffFirstMs = 1'000;
inline constexpr int64_t kWatchBackoffMaxMs = 60'000;
// A session that lasted this long resets the reconnect backoff.
inline constexpr int64_t kWatchStableMs = 30'000;
// The DELETE that ends a watched Streamable HTTP session gets at most this long.
inline constexpr int64_t kSessionDeleteTimeoutMs = 5'000;

// Creates the watch of one server over `transport` (resolved: never kAuto).
std::unique_ptr<ToolWatch> startToolWatch(const WatchContext& ctx, const registry::ServerSpec& spec,
                                          registry::Transport transport,
                                          std::function<void()> onToolsChanged);

}  // namespace mcphd::mcp
