#include "mcp/probe_common.hpp"

#include "common/redact.hpp"

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
  for (const auto& h : headers) {
    size_t colon = h.find(": ");
    if (colon == std::string::npos) {
      continue;
    }
    std::string_view value = std::string_view(h).substr(colon + 2);
    redact(message, value);
    if (size_t space = value.find(' '); space != std::string_view::npos) {
      redact(message, value.substr(space + 1));  // "Bearer <token>", "Basic <credentials>"
    }
  }
}

void recordFailure(ProbeResult& result, CheckError error, bool retriable,
                   const std::vector<std::string>& sentHeaders) {
  redactSentHeaders(error.message, sentHeaders);
  result.error = std::move(error);
  result.retriable = retriable;
  result.toolsComplete = false;
  result.tools.clear();
  result.toolsHash.clear();
}

}  // namespace mcphd::mcp
