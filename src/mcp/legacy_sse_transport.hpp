#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "http/client.hpp"
#include "mcp/sse_parser.hpp"
#include "mcp/streamable_http_transport.hpp"
#include "mcp/transport.hpp"

namespace mcphd::mcp {

// The legacy HTTP+SSE transport (2024-11-05): GET the SSE URL and wait for the `endpoint` event
// (resolved against the SSE URL; another origin is refused, so credentials never leave the
// server's origin), POST each message there; every message from the server, responses included,
// comes on the stream. Closing stops the stream (the protocol has no DELETE).
class LegacySseTransport final : public Transport {
 public:
  LegacySseTransport(http::Client& client, const Clock& clock, HttpTransportOptions options);
  ~LegacySseTransport() override;

  std::string_view offeredProtocolVersion() const override;
  bool acceptsLegacyProtocol() const override { return true; }
  void open(TransportListener& listener) override;
  void send(Outgoing message) override;
  void listen() override { listening_ = true; }
  void close(std::function<void()> done) override;
  int64_t connectUs() const override { return connectUs_; }

 private:
  struct Post {
    Outgoing::Kind kind;
    std::string_view what;
    std::unique_ptr<http::Call> call;
  };

  int64_t remainingMs() const;
  bool onEvent(SseEvent& ev);
  void onStreamDone(const http::Response& r);
  void onPostDone(Post& post, const http::Response& r);
  // Reports a failure: onError before listen(), onLost after, at most once.
  void failed(TransportError error);

  http::Client& client_;
  const Clock& clock_;
  HttpTransportOptions options_;
  http::SharedHeaders postHeaders_;  // of every POST, built at the first
  TransportListener* listener_ = nullptr;
  SseParser sse_;
  std::string endpoint_;
  int64_t startUs_ = 0;
  int64_t connectUs_ = 0;
  std::unique_ptr<http::Call> stream_;
  std::list<Post> posts_;            // in flight
  std::function<void()> closeDone_;  // close() asked from inside the stream's chunk callback
  bool inChunk_ = false;  // inside the stream's chunk callback, which must not destroy the stream
  bool listening_ = false;
  bool failed_ = false;
  bool closed_ = false;
};

// The endpoint URL of an `endpoint` event, resolved against the SSE URL; empty when it is
// malformed or names another origin.
std::string resolveEndpoint(const std::string& sseUrl, const std::string& data);

}  // namespace mcphd::mcp
