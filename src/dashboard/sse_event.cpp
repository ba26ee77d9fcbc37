#include "dashboard/sse_event.hpp"

namespace mcphd::dashboard {

std::string sseEvent(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(data.size() + name.size() + 16);
  out.append("event: ").append(name).append("\n");
  size_t pos = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", pos);
    out.append("data: ").append(data.substr(pos, end - pos)).append("\n");
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + (data.compare(end, 2, "\r\n") == 0 ? 2 : 1);
  }
  out.append("\n");
  return out;
}

}  // namespace mcphd::dashboard
