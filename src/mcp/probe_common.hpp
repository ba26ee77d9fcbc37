#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "http/client.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/probe_result.hpp"
#include "mcp/tool_pages.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::mcp {

// Pieces shared by the probes of every transport.

// The params of an initialize request offering `protocolVersion`.
std::string initializeParams(std::string_view protocolVersion);

// The check error for a transfer that ended without an HTTP response (`r.failure` is set):
// network kinds are retriable, an egress refusal is a config error, an oversized body a protocol
// error. `where` ends the message (" during initialize").
CheckError transferError(const http::Response& r, const std::string& where, int64_t timeoutMs,
                         bool& retriable);

// Replaces in `message` every header value we sent ("Name: value" lines, and the credential part
// of "Bearer x"/"Basic x"), so a server echoing a request cannot publish a token.
void redactSentHeaders(std::string& message, const std::vector<std::string>& headers);

// Published bounds: an error message (after redaction), a server_info name or version.
constexpr size_t kMaxErrorMessage = 512;
constexpr size_t kMaxServerInfo = 256;

// Records a failed check in `result`: the error (message redacted of `sentHeaders`), whether it is
// retriable, and no tool list (a partial list is never published).
void recordFailure(ProbeResult& result, CheckError error, bool retriable,
                   const std::vector<std::string>& sentHeaders);

// The headers every request to `spec` carries: its configured headers, then `authHeaders`
// ("Name: value" lines; secret — the caller wipes what it keeps).
std::vector<std::string> serverHeaders(const registry::ServerSpec& spec,
                                       const std::vector<std::string>& authHeaders);

// The answer to a request a server sent us: ping gets an empty result, anything else "Method not
// found" (a health checker offers no client features).
std::string replyToServerRequest(const Message& request);

// "initialize failed: JSON-RPC error -32602 <message>".
std::string rpcErrorText(const char* step, const Message& errorResponse);

// Records a successful initialize result (protocol version, server info, listChanged) in
// `result`, or says why it is unusable. `acceptLegacy`: 2024-11-05 is fine too (SSE, stdio).
std::optional<std::string> applyInitializeResult(std::string_view resultJson, bool acceptLegacy,
                                                 ProbeResult& result);

// Adds one tools/list page. Returns the next page's params ("{"cursor":…}"), or nullopt when the
// list is complete (then `result` holds the tools and their hash), or the protocol error.
Result<std::optional<std::string>> addToolsPage(ToolPages& pages, std::string_view resultJson,
                                                ProbeResult& result);

}  // namespace mcphd::mcp
