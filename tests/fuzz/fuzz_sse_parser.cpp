// libFuzzer target: the SSE parser on arbitrary bytes, split at an input-chosen point.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mcp/sse_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) {
    return 0;
  }
  std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t split = data[0] % (all.size() + 1);
  mcphd::mcp::SseParser p(4096);
  size_t events = 0;
  auto onEvent = [&](mcphd::mcp::SseEvent& e) {
    events += e.data.size() <= 4096 ? 1 : 1000000;  // an event past the limit must never appear
    return true;
  };
  if (p.feed(all.substr(0, split), onEvent).ok()) {
    (void)p.feed(all.substr(split), onEvent);
  }
  if (events >= 1000000) {
    __builtin_trap();
  }
  return 0;
}
