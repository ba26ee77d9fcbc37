#include "mcp/sse_parser.hpp"

namespace mcphd::mcp {

Result<void> SseParser::feed(std::string_view chunk,
                             const std::function<bool(SseEvent&)>& onEvent) {
  bool stop = false;
  for (char c : chunk) {
    if (c == '\n' && afterCr_) {
      afterCr_ = false;  // the LF of a CRLF whose CR ended the line already
      continue;
    }
    afterCr_ = false;
    if (c == '\r' || c == '\n') {
      afterCr_ = c == '\r';
      if (auto r = line(onEvent, stop); !r) {
        return r;
      }
      if (stop) {
        return {};
      }
      continue;
    }
    if (line_.size() >= max_) {
      return makeError("SSE line longer than " + std::to_string(max_) + " bytes");
    }
    line_ += c;
  }
  return {};
}

Result<void> SseParser::line(const std::function<bool(SseEvent&)>& onEvent, bool& stop) {
  std::string_view l = line_;
  if (l.empty()) {
    // Blank line: dispatch. An event without any data line is not dispatched.
    if (hasData_) {
      SseEvent ev;
      ev.type = type_.empty() ? "message" : type_;
      ev.data = std::move(data_);
      ev.id = lastId_;
      data_.clear();
      type_.clear();
      hasData_ = false;
      if (!onEvent(ev)) {
        stop = true;
      }
    } else {
      type_.clear();
    }
    return {};
  }
  if (l.front() == ':') {
    line_.clear();
    return {};
  }
  size_t colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = l.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
  }
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_) {
      line_.clear();
      return makeError("SSE event larger than " + std::to_string(max_) + " bytes");
    }
    if (hasData_) {
      data_ += '\n';
    }
    data_.append(value);
    hasData_ = true;
  } else if (field == "event") {
    type_ = std::string(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) {
      lastId_ = std::string(value);
    }
  } else if (field == "retry") {
    bool digits = !value.empty() && value.size() < 10;
    for (char c : value) {
      digits = digits && c >= '0' && c <= '9';
    }
    if (digits) {
      retryMs_ = std::stoll(std::string(value));
    }
  }
  line_.clear();
  return {};
}

}  // namespace mcphd::mcp
