#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/client.hpp"
#include "mcp/probe_result.hpp"

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

// Records a failed check in `result`: the error (message redacted of `sentHeaders`), whether it is
// retriable, and no tool list (a partial list is never published).
void recordFailure(ProbeResult& result, CheckError error, bool retriable,
                   const std::vector<std::string>& sentHeaders);

}  // namespace mcphd::mcp
