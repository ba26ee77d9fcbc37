#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "ctl/context.hpp"
#include "mcp/probe_result.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::ctl {

// One check of `spec` as the daemon makes it (ServerProber, OAuth2Provider), on a loop of its
// own, with the config's egress policies: its result, or nullopt when it ended without one.
Result<std::optional<mcp::ProbeResult>> checkOnce(const Context& ctx,
                                                  const registry::ServerSpec& spec);

// The scope an HTTP 403 insufficient_scope answer asks for ("" when it names none), or nullopt
// when `r` is no such answer: scope-token characters only, whatever of `sent` (the "Name: value"
// headers the check sent) it echoes redacted, at most kMaxWantedScope bytes.
inline constexpr size_t kMaxWantedScope = 200;
std::optional<std::string> insufficientScope(const mcp::ProbeResult& r,
                                             const std::vector<std::string>& sent);

}  // namespace mcphd::ctl
