#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::mcp {

// A short printable excerpt of text a server sent, for error messages.
// Generous on purpose: error messages are redacted of every sent secret and only then cut to their
// published length (kMaxErrorMessage); cutting here first could leave half a secret behind.
std::string snippet(std::string_view text, size_t max = 4096);

// How large a server's whole tool list may be (max_tools, max_tools_bytes): beyond, the list is
// a protocol error (the server is degraded), never kept in part.
struct ToolLimits {
  size_t maxTools = 10'000;
  size_t maxBytes = 16 * 1024 * 1024;  // the tool definitions as the server sent them
};

// Collects the pages of a tools/list: at most 64 pages; a repeated cursor or a list over its
// limits is a protocol error, never a silently truncated list. A tool name seen twice is kept
// (the tool-baseline lint reports it as duplicate_name). Shared by every transport.
class ToolPages {
 public:
  static constexpr int kMaxPages = 64;

  void setLimits(ToolLimits limits) { limits_ = limits; }

  // Adds one tools/list result; returns the cursor of the next page, nullopt when the list is
  // complete, or the protocol error.
  Result<std::optional<std::string>> add(std::string_view resultJson);
  std::vector<Tool>& tools() { return tools_; }
  int pages() const { return pages_; }

 private:
  std::vector<Tool> tools_;
  std::vector<std::string> cursors_;
  int pages_ = 0;
  size_t bytes_ = 0;
  ToolLimits limits_;
};

}  // namespace mcphd::mcp
