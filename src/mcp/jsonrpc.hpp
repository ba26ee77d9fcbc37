#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/sha256.hpp"

namespace mcphd::mcp {

enum class MessageKind { kResponse, kErrorResponse, kRequest, kNotification };

// One decoded JSON-RPC 2.0 message.
struct Message {
  MessageKind kind = MessageKind::kNotification;
  std::string id;      // the id's raw JSON token (1, "abc"); empty for notifications
  std::string method;  // requests and notifications
  std::string result;  // raw JSON of `result` (responses)
  int64_t errorCode = 0;
  std::string errorMessage;
};

// Decodes one JSON-RPC 2.0 message. Batches (arrays) are refused: they were removed in 2025-06-18.
Result<Message> decodeMessage(std::string_view json);

// The JSON-RPC request text, `params` being raw JSON (or empty for none).
std::string encodeRequest(int64_t id, std::string_view method, std::string_view params);
std::string encodeNotification(std::string_view method);
// A reply to a server's request: `result` is raw JSON.
std::string encodeResult(std::string_view rawId, std::string_view result);
std::string encodeError(std::string_view rawId, int64_t code, std::string_view message);

struct InitializeResult {
  std::string protocolVersion;
  std::string serverName;
  std::string serverVersion;
  bool toolsCapability = false;
  bool toolsListChanged = false;
};
Result<InitializeResult> decodeInitializeResult(std::string_view resultJson);

class Tool {
 public:
  std::string name;
  Sha256 hash{};  // of raw()

  // The tool object exactly as the server sent it. A view into the page it came in (the
  // tools/list result), which the tools of that page share: one copy of a page, not one per
  // tool. Set only through inPage, so a view never outlives what it points into.
  std::string_view raw() const { return raw_; }
  // A tool whose raw JSON `raw` lies inside `*page`; its hash computed.
  static Tool inPage(std::string name, std::string_view raw,
                     std::shared_ptr<const std::string> page);
  // Points the tool at an equal copy of its raw JSON inside another page (a compacted one).
  void rehome(std::string_view raw, std::shared_ptr<const std::string> page);

 private:
  std::string_view raw_;
  std::shared_ptr<const std::string> page_;
};
// A tool whose raw JSON is `raw` (its own page): for tests and tools that come from elsewhere.
Tool makeTool(std::string name, std::string raw);

struct ToolsPage {
  std::vector<Tool> tools;
  std::optional<std::string> nextCursor;
};
// How much of a text is known to be valid JSON already.
enum class Trust {
  kUnchecked,  // anything: validated in full
  kValidated,  // a part of a message that decodeMessage accepted: not validated again
};
Result<ToolsPage> decodeToolsListResult(std::string_view resultJson,
                                        Trust trust = Trust::kUnchecked);

}  // namespace mcphd::mcp
