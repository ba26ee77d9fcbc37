#pragma once

#include <string>
#include <string_view>

namespace mcphd::mcp {

// The MCP protocol versions mcp-healthd speaks: the one place they are written.

// What initialize offers over Streamable HTTP and stdio.
inline constexpr std::string_view kOfferedProtocolVersion = "2025-11-25";
// The HTTP+SSE transport's version, offered over legacy SSE and accepted over stdio too.
inline constexpr std::string_view kLegacyProtocolVersion = "2024-11-05";

// Versions a server may choose in its initialize result (besides the legacy one, where the
// transport allows it).
inline constexpr bool isAcceptedProtocolVersion(std::string_view v) {
  return v == "2025-11-25" || v == "2025-06-18" || v == "2025-03-26";
}

// The params of an initialize request offering `protocolVersion`: a health checker declares no
// client capabilities.
inline std::string initializeParams(std::string_view protocolVersion,
                                    std::string_view clientName = "mcp-healthd") {
  std::string p;
  p.reserve(112 + protocolVersion.size() + clientName.size());
  p += "{\"protocolVersion\":\"";
  p.append(protocolVersion);
  p += "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"";
  p.append(clientName);
  p += "\",\"version\":\"" MCPHD_VERSION "\"}}";
  return p;
}

inline constexpr std::string_view kListChangedMethod = "notifications/tools/list_changed";

}  // namespace mcphd::mcp
