#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mcphd::mcp {

struct SseEvent {
  std::string type;  // "message" when the stream gave none
  std::string data;  // data lines joined with '\n'; may be empty (priming events)
  std::string id;
};

// Incremental text/event-stream parser (WHATWG rules): LF, CRLF and CR line ends, also split
// across chunks; ':' comment lines; one space stripped after the colon; multi-line data. A line
// or event larger than `maxEventBytes` is an error, so a hostile stream cannot grow memory.
class SseParser {
 public:
  explicit SseParser(size_t maxEventBytes) : max_(maxEventBytes) {}

  // Feeds the next chunk; `onEvent` runs for each completed event and may return false to stop
  // parsing (the rest of the chunk is dropped).
  Result<void> feed(std::string_view chunk, const std::function<bool(SseEvent&)>& onEvent);
  // The last valid `retry:` value, or -1.
  int64_t retryMs() const { return retryMs_; }
  const std::string& lastEventId() const { return lastId_; }
  // A stream that resumes another (Last-Event-ID) starts from that stream's id and retry.
  void resumeFrom(std::string lastEventId, int64_t retryMs) {
    lastId_ = std::move(lastEventId);
    retryMs_ = retryMs;
  }

 private:
  Result<void> line(const std::function<bool(SseEvent&)>& onEvent, bool& stop);

  size_t max_;
  std::string line_;
  std::string data_;
  std::string type_;
  std::string lastId_;
  bool hasData_ = false;
  bool afterCr_ = false;
  int64_t retryMs_ = -1;
};

}  // namespace mcphd::mcp
