#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mcphd::http {

// "Name: value" header lines that many requests share (a session's, built once instead of per
// request). They may hold secrets: wiped when the last request holding them is done.
using SharedHeaders = std::shared_ptr<const std::vector<std::string>>;
SharedHeaders shareHeaders(std::vector<std::string> lines);

// Why a transfer produced no complete HTTP response.
// kDenied: the egress policy refused every address of the host; no connection was attempted.
enum class Failure { kNone, kDns, kConnect, kTls, kTimeout, kTooLarge, kDenied, kOther };

struct Timings {
  int64_t connectUs = 0;       // TCP connect finished (0 when a kept-alive connection was reused)
  int64_t tlsUs = 0;           // TLS handshake finished (0 for http or reuse)
  int64_t firstByteUs = 0;     // first response byte
  int64_t totalUs = 0;         // whole transfer
  bool newConnection = false;  // a new connection was opened for this transfer
};

struct Request {
  std::string method = "POST";
  std::string url;
  // "Name: value" lines. May hold secrets (Authorization): the client wipes its copies after use.
  std::vector<std::string> headers;
  SharedHeaders sharedHeaders;  // sent after `headers`
  std::string body;
  int64_t timeoutMs = 10'000;
  int64_t connectTimeoutMs = 3'000;
  size_t maxBody = 8 * 1024 * 1024;
  // A stream that stays open (an SSE stream watched for notifications): no overall timeout and
  // no cap on the total body (the onChunk consumer bounds what it keeps); TCP keep-alive probes
  // find a peer that went away without closing.
  bool longLived = false;
  // For a server registered in Redis (not the operator's config file): the client's registry
  // egress policy applies on top of its general one, and no connection is reused that was opened
  // without it.
  bool registryEgress = false;
  // When set, the body is handed over chunk by chunk instead of being collected, together with
  // the response head so far (status, headers; no body), always from the loop, never from inside
  // libcurl. Return false to stop the transfer: the response then completes at once with
  // `stopped` set. The callback may send new requests but must not destroy its own Call.
  std::function<bool(const struct Response& head, std::string_view chunk)> onChunk;
};

struct Response {
  Failure failure = Failure::kNone;
  std::string failureMessage;  // libcurl's words; never contains header values
  long status = 0;
  std::string contentType;  // media type only, lower case, parameters dropped
  std::string sessionId;    // Mcp-Session-Id
  std::string retryAfter;   // raw Retry-After
  std::string wwwAuthenticate;
  std::string body;      // empty when onChunk was set
  bool stopped = false;  // the onChunk consumer stopped the transfer
  Timings timings;
};

// An HTTP exchange in flight; destroying it cancels the exchange and its callback never runs.
class Call {
 public:
  virtual ~Call() = default;
};

class Client {
 public:
  virtual ~Client() = default;
  // Starts `request`; `done` runs exactly once, from the loop and never inline from send(), unless
  // the returned Call is destroyed first. `done` may destroy the Call and send new requests.
  virtual std::unique_ptr<Call> send(Request request, std::function<void(Response)> done) = 0;
};

const char* failureName(Failure f);

}  // namespace mcphd::http
