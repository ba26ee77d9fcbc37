#pragma once

#include <string>
#include <utility>

#include "common/result.hpp"

namespace mcphd::http {

// Splits "host:port" / "[v6]:port" / ":port" (every address); an error says what is wrong.
// `anyPort`: port 0 too (the system chooses one).
Result<std::pair<std::string, int>> parseListenAddress(const std::string& address,
                                                       bool anyPort = false);

}  // namespace mcphd::http
