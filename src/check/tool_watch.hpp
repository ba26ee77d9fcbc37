#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "auth/auth_provider.hpp"
#include "check/prober.hpp"
#include "check/transport_factory.hpp"
#include "common/clock.hpp"
#include "loop/timer.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::check {

inline constexpr int64_t kListChangedCoalesceMs = 500;
inline constexpr int64_t kWatchBackoffFirstMs = 1'000;
inline constexpr int64_t kWatchBackoffMaxMs = 60'000;
// A session that lasted this long resets the reconnect backoff.
inline constexpr int64_t kWatchStableMs = 30'000;

// The watch of one server: a kept MCP session (opened by `sessions`, over the transport that
// works for the server) whose notifications/tools/list_changed call `onToolsChanged` (a burst is
// one call 500 ms after its first; later ones wait for min_relist_interval); reconnected with
// backoff (1 s doubling to 60 s, reset by a session that lasted 30 s) when it is lost, and
// re-listed once after a reconnect (a change made meanwhile reached nobody).
std::unique_ptr<ToolWatch> startToolWatch(SessionFactory& sessions, auth::AuthProvider& auth,
                                          const Clock& clock, loop::TimerFactory& timers,
                                          const registry::ServerSpec& spec,
                                          std::function<void()> onToolsChanged);

}  // namespace mcphd::check
