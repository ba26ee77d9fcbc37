// libFuzzer target: JSON-RPC decoding and the initialize / tools/list result decoders.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mcp/jsonrpc.hpp"
#include "mcp/tool_pages.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto m = mcphd::mcp::decodeMessage(text);
  if (m && m->kind == mcphd::mcp::MessageKind::kResponse) {
    (void)mcphd::mcp::decodeInitializeResult(m->result);
    mcphd::mcp::ToolPages pages;
    (void)pages.add(m->result);
  }
  (void)mcphd::mcp::decodeToolsListResult(text);
  return 0;
}
