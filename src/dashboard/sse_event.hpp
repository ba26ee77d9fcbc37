#pragma once

#include <string>
#include <string_view>

namespace mcphd::dashboard {

// One Server-Sent Events frame: "event: <name>" and the data, one "data:" line per line of it
// (CR, LF and CRLF all end a line, so a payload cannot start an event of its own).
std::string sseEvent(std::string_view name, std::string_view data);

}  // namespace mcphd::dashboard
