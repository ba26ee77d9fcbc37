#include "mcp/tool_pages.hpp"

#include <algorithm>
#include <iterator>

#include "common/utf8.hpp"

namespace mcphd::mcp {

std::string snippet(std::string_view text, size_t max) {
  std::string_view cut = truncateUtf8(text, max);
  // Valid UTF-8 keeps its characters: a secret with non-ASCII characters that a server echoes
  // must still match its redaction. Control characters, and every byte of invalid UTF-8, become
  // spaces.
  const bool utf8 = validUtf8(cut);
  std::string out;
  out.reserve(cut.size());
  for (char c : cut) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u != 0x7f && (u < 0x80 || utf8)) ? c : ' ';
  }
  return out;
}

namespace {

std::string formatSize(size_t bytes) {
  if (bytes % (1024 * 1024) == 0) {
    return std::to_string(bytes / (1024 * 1024)) + " MiB";
  }
  if (bytes % 1024 == 0) {
    return std::to_string(bytes / 1024) + " KiB";
  }
  return std::to_string(bytes) + " bytes";
}

}  // namespace

Result<std::optional<std::string>> ToolPages::add(std::string_view resultJson) {
  // Every transport hands over the result of a message that decodeMessage accepted.
  auto page = decodeToolsListResult(resultJson, Trust::kValidated);
  if (!page) {
    return page.error();
  }
  ++pages_;
  for (const auto& t : page->tools) {
    bytes_ += t.raw().size();
  }
  if (tools_.empty()) {
    tools_ = std::move(page->tools);  // the first (often only) page: no copy, no regrowth
  } else {
    tools_.insert(tools_.end(), std::make_move_iterator(page->tools.begin()),
                  std::make_move_iterator(page->tools.end()));
  }
  if (tools_.size() > limits_.maxTools) {
    tools_.clear();
    return makeError("tools/list returned more than max_tools (" +
                     std::to_string(limits_.maxTools) + ") tools");
  }
  if (bytes_ > limits_.maxBytes) {
    tools_.clear();
    return makeError("tools/list returned more than max_tools_bytes (" +
                     formatSize(limits_.maxBytes) + ") of tool definitions");
  }
  if (!page->nextCursor) {
    // A name listed twice is kept: the lint reports it (duplicate_name), a status does not.
    return std::optional<std::string>();
  }
  const std::string& cursor = *page->nextCursor;
  if (std::find(cursors_.begin(), cursors_.end(), cursor) != cursors_.end()) {
    return makeError("tools/list repeated the cursor '" + snippet(cursor) + "' after " +
                     std::to_string(pages_) + " pages");
  }
  if (pages_ >= kMaxPages) {
    return makeError("tools/list has more than " + std::to_string(kMaxPages) + " pages");
  }
  cursors_.push_back(cursor);
  return std::optional<std::string>(cursor);
}

}  // namespace mcphd::mcp
