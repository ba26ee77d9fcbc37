#pragma once

#include "config/config.hpp"

namespace mcphd::app {

// mcp-healthd --once: every configured server checked once (at most max_concurrent_checks at a
// time), without Redis; one health JSON line per server on stdout, in config order. 0 when all
// are healthy, 1 otherwise.
int runOnce(const config::Config& cfg);

}  // namespace mcphd::app
