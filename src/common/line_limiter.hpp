#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace mcphd {

// Splits a byte stream into lines and lets through a bounded number of them: each line is cut to
// `maxLine` bytes, and a token bucket (`burst` lines, refilled at `perSecond`) limits the rate.
// Dropped lines are counted and reported in the next line let through (or by flush()). Memory is
// bounded by `maxLine` whatever the input. Time comes from the caller.
class LineLimiter {
 public:
  using Emit = std::function<void(std::string_view line, uint64_t droppedBefore)>;

  LineLimiter(size_t maxLine, double burst, double perSecond, Emit emit)
      : maxLine_(maxLine),
        burst_(burst),
        perSecond_(perSecond),
        tokens_(burst),
        emit_(std::move(emit)) {}

  void feed(std::string_view chunk, int64_t nowMs);
  // Ends a last unterminated line and reports lines still counted as dropped.
  void flush(int64_t nowMs);
  uint64_t dropped() const { return totalDropped_; }

 private:
  void endLine(int64_t nowMs);

  size_t maxLine_;
  double burst_;
  double perSecond_;
  double tokens_;
  int64_t lastMs_ = -1;
  std::string line_;
  bool cut_ = false;      // the current line went over maxLine_
  uint64_t pending_ = 0;  // dropped since the last emitted line
  uint64_t totalDropped_ = 0;
  Emit emit_;
};

}  // namespace mcphd
