// libFuzzer target: JSON-RPC decoding, the initialize / tools/list result decoders, and the
// OAuth answers the daemon reads (protected resource and authorization server metadata, token
// responses and errors).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/oauth2.hpp"
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
  std::string resource;
  (void)mcphd::auth::parseProtectedResource(text, "http://127.0.0.1:8/mcp", &resource);
  auto as = mcphd::auth::parseAuthorizationServer(text);
  if (as) {
    (void)mcphd::auth::checkAuthorizationServer(as.value(), "http://127.0.0.1:9");
  }
  (void)mcphd::auth::parseTokenResponse(text);
  mcphd::Redactor redactor;
  redactor.add("s3cret value");
  (void)mcphd::auth::tokenErrorSummary(text, redactor);
  return 0;
}
