#include "mcp/probe_common.hpp"

#include "common/json_writer.hpp"
#include "common/redact.hpp"
#include "common/utf8.hpp"
#include "mcp/probe.hpp"
#include "mcp/sse_probe.hpp"

namespace mcphd::mcp {

std::string initializeParams(std::string_view protocolVersion) {
  return std::string("{\"protocolVersion\":\"") + std::string(protocolVersion) +
         "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"mcp-healthd\",\"version\":\"" +
         MCPHD_VERSION + "\"}}";
}

CheckError transferError(const http::Response& r, const std::string& where, int64_t timeoutMs,
                         bool& retriable) {
  retriable = true;
  switch (r.failure) {
    case http::Failure::kDns:
      return {ErrorKind::kDns, r.failureMessage + where, 0};
    case http::Failure::kTls:
      return {ErrorKind::kTls, r.failureMessage + where, 0};
    case http::Failure::kTimeout:
      return {ErrorKind::kTimeout,
              "check timed out after " + std::to_string(timeoutMs) + " ms" + where, 0};
    case http::Failure::kDenied:
      retriable = false;
      return {ErrorKind::kConfig, r.failureMessage + where, 0};
    case http::Failure::kTooLarge:
      retriable = false;
      return {ErrorKind::kProtocol, r.failureMessage + where, r.status};
    case http::Failure::kNone:
    case http::Failure::kConnect:
    case http::Failure::kOther:
      break;
  }
  return {ErrorKind::kConnect, r.failureMessage + where, 0};
}

void redactSentHeaders(std::string& message, const std::vector<std::string>& headers) {
  Redactor r;
  for (const auto& h : headers) {
    size_t colon = h.find(": ");
    if (colon == std::string::npos) {
      continue;
    }
    r.addHeaderValue(std::string_view(h).substr(colon + 2));
  }
  r.apply(message);
}

void recordFailure(ProbeResult& result, CheckError error, bool retriable,
                   const std::vector<std::string>& sentHeaders) {
  redactSentHeaders(error.message, sentHeaders);
  truncateUtf8(error.message, kMaxErrorMessage);  // after redaction: a cut never hides a secret
  result.error = std::move(error);
  result.retriable = retriable;
  result.toolsComplete = false;
  result.tools.clear();
  result.toolsHash.clear();
}

std::vector<std::string> serverHeaders(const registry::ServerSpec& spec,
                                       const std::vector<std::string>& authHeaders) {
  std::vector<std::string> h;
  h.reserve(spec.headers.size() + authHeaders.size());
  for (const auto& [name, value] : spec.headers) {
    h.push_back(name + ": " + value);
  }
  h.insert(h.end(), authHeaders.begin(), authHeaders.end());
  return h;
}

std::string replyToServerRequest(const Message& request) {
  return request.method == "ping" ? encodeResult(request.id, "{}")
                                  : encodeError(request.id, -32601, "Method not found");
}

std::string rpcErrorText(const char* step, const Message& m) {
  return std::string(step) + " failed: JSON-RPC error " + std::to_string(m.errorCode) + " " +
         snippet(m.errorMessage);
}

std::optional<std::string> applyInitializeResult(std::string_view resultJson, bool acceptLegacy,
                                                 ProbeResult& result) {
  auto init = decodeInitializeResult(resultJson);
  if (!init) {
    return init.error().message;
  }
  const std::string& v = init->protocolVersion;
  if (!isAcceptedProtocolVersion(v) && !(acceptLegacy && v == kLegacyProtocolVersion)) {
    return "server chose unsupported protocol version '" + snippet(v) + "'";
  }
  result.protocolVersion = v;
  result.serverName = std::string(truncateUtf8(std::string_view(init->serverName), kMaxServerInfo));
  result.serverVersion =
      std::string(truncateUtf8(std::string_view(init->serverVersion), kMaxServerInfo));
  result.toolsListChanged = init->toolsListChanged;
  result.initialized = true;
  return std::nullopt;
}

Result<std::optional<std::string>> addToolsPage(ToolPages& pages, std::string_view resultJson,
                                                ProbeResult& result) {
  auto next = pages.add(resultJson);
  if (!next) {
    return next.error();
  }
  if (!next.value()) {
    result.tools = std::move(pages.tools());
    result.toolsComplete = true;
    result.toolsHash = computeToolsHash(result.tools);
    return std::optional<std::string>();
  }
  return std::optional<std::string>("{\"cursor\":" + json::quote(*next.value()) + "}");
}

}  // namespace mcphd::mcp
