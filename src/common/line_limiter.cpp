#include "common/line_limiter.hpp"

#include <algorithm>

namespace mcphd {

void LineLimiter::feed(std::string_view chunk, int64_t nowMs) {
  while (!chunk.empty()) {
    size_t nl = chunk.find('\n');
    std::string_view part = chunk.substr(0, nl);
    if (line_.size() < maxLine_) {
      size_t room = maxLine_ - line_.size();
      line_.append(part.substr(0, room));
      cut_ = cut_ || part.size() > room;
    } else if (!part.empty()) {
      cut_ = true;
    }
    if (nl == std::string_view::npos) {
      return;
    }
    endLine(nowMs);
    chunk.remove_prefix(nl + 1);
  }
}

void LineLimiter::flush(int64_t nowMs) {
  if (!line_.empty() || cut_) {
    endLine(nowMs);
  }
  if (pending_ > 0) {
    emit_("", pending_);
    pending_ = 0;
  }
}

void LineLimiter::endLine(int64_t nowMs) {
  if (lastMs_ >= 0 && nowMs > lastMs_) {
    tokens_ = std::min(burst_, tokens_ + static_cast<double>(nowMs - lastMs_) * perSecond_ / 1000);
  }
  lastMs_ = std::max(lastMs_, nowMs);
  if (!line_.empty() && line_.back() == '\r') {
    line_.pop_back();
  }
  if (tokens_ >= 1) {
    tokens_ -= 1;
    if (cut_) {
      line_ += "…";
    }
    uint64_t dropped = pending_;
    pending_ = 0;
    emit_(line_, dropped);
  } else {
    ++pending_;
    ++totalDropped_;
  }
  line_.clear();
  cut_ = false;
}

}  // namespace mcphd
