#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.hpp"
#include "http/client.hpp"
#include "mcp/transport.hpp"

namespace mcphd::mcp {

// Pieces shared by the two HTTP transports (Streamable HTTP, legacy HTTP+SSE).

inline bool isSuccess(long status) { return status >= 200 && status < 300; }

// The error of a transfer that ended without an HTTP response (`r.failure` is set): network kinds
// are retriable, an egress refusal is a config error, an oversized body a protocol error.
// `where` ends the message (" during initialize").
TransportError transferError(const http::Response& r, std::string_view where, int64_t timeoutMs);

// The error of a non-2xx answer: 401/403 are auth errors (with the challenge), 5xx and 429
// retriable http errors (with Retry-After), other statuses http errors. `message` says what
// failed ("HTTP 404 during initialize: <body>").
TransportError statusError(const http::Response& r, std::string message, const Clock& clock);

// The headers of a request to the server: the media types (a JSON-RPC message, or an SSE stream
// for a GET), then `configured` (the server's headers and credentials).
std::vector<std::string> requestHeaders(const std::vector<std::string>& configured, bool json);

// A server-chosen session id goes back into a header: only visible ASCII, bounded length.
bool validSessionId(std::string_view s);

}  // namespace mcphd::mcp
