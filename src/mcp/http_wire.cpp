#include "mcp/http_wire.hpp"

#include <algorithm>

#include "mcp/retry_after.hpp"

namespace mcphd::mcp {

TransportError transferError(const http::Response& r, std::string_view where, int64_t timeoutMs) {
  TransportError e;
  e.retriable = true;
  const std::string w(where);
  switch (r.failure) {
    case http::Failure::kDns:
      e.error = {ErrorKind::kDns, r.failureMessage + w, 0};
      return e;
    case http::Failure::kTls:
      e.error = {ErrorKind::kTls, r.failureMessage + w, 0};
      return e;
    case http::Failure::kTimeout:
      e.error = {ErrorKind::kTimeout,
                 "check timed out after " + std::to_string(timeoutMs) + " ms" + w, 0};
      return e;
    case http::Failure::kDenied:
      e.retriable = false;
      e.error = {ErrorKind::kConfig, r.failureMessage + w, 0};
      return e;
    case http::Failure::kTooLarge:
      e.retriable = false;
      e.error = {ErrorKind::kProtocol, r.failureMessage + w, r.status};
      return e;
    case http::Failure::kNone:
    case http::Failure::kConnect:
    case http::Failure::kOther:
      break;
  }
  e.error = {ErrorKind::kConnect, r.failureMessage + w, 0};
  return e;
}

TransportError statusError(const http::Response& r, std::string message, const Clock& clock) {
  TransportError e;
  e.retryAfterMs = parseRetryAfter(r.retryAfter, clock.wallMs());
  if (r.status == 401 || r.status == 403) {
    e.wwwAuthenticate = r.wwwAuthenticate.substr(0, 4096);
    e.error = {ErrorKind::kAuth, std::move(message), r.status};
    return e;
  }
  e.retriable = r.status >= 500 || r.status == 429;
  e.error = {ErrorKind::kHttp, std::move(message), r.status};
  return e;
}

std::vector<std::string> requestHeaders(const std::vector<std::string>& configured, bool json) {
  std::vector<std::string> h;
  h.reserve(configured.size() + 4);  // room for the session's own (Streamable HTTP)
  if (json) {
    h.emplace_back("Content-Type: application/json");
    h.emplace_back("Accept: application/json, text/event-stream");
  } else {
    h.emplace_back("Accept: text/event-stream");
  }
  h.insert(h.end(), configured.begin(), configured.end());
  return h;
}

bool validSessionId(std::string_view s) {
  if (s.empty() || s.size() > 512) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace mcphd::mcp
