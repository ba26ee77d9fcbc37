#pragma once

#include <string>
#include <utility>

#include "common/result.hpp"

namespace mcphd::http {

// Splits "host:port" / "[v6]:port" / ":port" (every address); an error says what is wrong.
Result<std::pair<std::string, int>> parseListenAddress(const std::string& address);

}  // namespace mcphd::http
