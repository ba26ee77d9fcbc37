#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "mcp/jsonrpc.hpp"
#include "mcp/probe_result.hpp"

namespace mcphd::mcp {

// A failure on the wire, as the check error it is: the transport knows what its failures mean
// (a refused connection, an HTTP status, a process that exited before answering).
struct TransportError {
  CheckError error;
  bool retriable = false;
  std::optional<int64_t> retryAfterMs;  // Retry-After of an HTTP answer
  std::string wwwAuthenticate;          // the challenge of a 401/403
};

// One message to the server.
struct Outgoing {
  enum class Kind {
    kRequest,       // a response with `id` is expected
    kNotification,  // the transport says onSent once the server has taken it
    kReply,         // our answer to a server's request: nobody waits for its outcome
  };
  Kind kind = Kind::kRequest;
  std::string json;
  std::string id;         // kRequest: the request's id as a JSON token
  std::string_view what;  // for messages: "initialize", "tools/list", "notifications/initialized"
};

// What a transport reports to its session, from the loop: never from inside a call the session
// made (send, listen, close), except onOpen, which may come from inside open(). The transport may
// be inside a libcurl or process callback at the time: the listener may call send and close, but
// must not destroy the transport (McpSession defers everything that could).
class TransportListener {
 public:
  virtual ~TransportListener() = default;
  // Messages can be sent (Streamable HTTP: at once; legacy SSE: the endpoint event came; stdio:
  // the process started).
  virtual void onOpen() = 0;
  // A message from the server: the response to a request, a request, a notification.
  virtual void onMessage(const Message& message) = 0;
  // A notification was taken by the server (HTTP 2xx, written to stdin).
  virtual void onSent(std::string_view what) = 0;
  // The exchange failed (before listen()): the check fails with this.
  virtual void onError(TransportError error) = 0;
  // The kept session ended (after listen()): the stream closed, the process exited. `permanent`:
  // reconnecting cannot help (the server offers no stream for notifications).
  virtual void onLost(const std::string& why, bool permanent) = 0;
};

// The wire under an McpSession: how JSON-RPC messages reach one server and come back. Holds only
// wire code; the MCP exchange itself (ids, phases, pages, results) is the session's. Destroying a
// transport cancels everything in flight, and no listener call follows.
class Transport {
 public:
  virtual ~Transport() = default;

  // What initialize offers, and whether 2024-11-05 is an acceptable answer.
  virtual std::string_view offeredProtocolVersion() const = 0;
  virtual bool acceptsLegacyProtocol() const = 0;

  // Connects; onOpen or onError follows.
  virtual void open(TransportListener& listener) = 0;
  virtual void send(Outgoing message) = 0;
  // The protocol version initialize agreed on (Streamable HTTP sends it on later requests).
  virtual void negotiated(std::string_view protocolVersion) { (void)protocolVersion; }
  // Keeps the session open after the handshake for messages that answer no request (the GET
  // stream of Streamable HTTP); from now on endings are onLost, not onError.
  virtual void listen() = 0;
  // Ends the session: Streamable HTTP DELETEs it (its outcome is ignored), a stream is closed, a
  // process enters its shutdown ladder. `done` runs once that is over (maybe inside close). Without
  // `done` nobody waits: a DELETE outlives the transport when it was built with somewhere to
  // send it (a watch that ends), else is not sent.
  virtual void close(std::function<void()> done) = 0;

  // The time to set up the connection or process the session runs on, for latency_ms.connect
  // (0 when a kept-alive connection was reused).
  virtual int64_t connectUs() const = 0;
  // The HTTP status of the answer that carried the last response passed on (0 where there is
  // none): a JSON-RPC error reported with it.
  virtual long answerStatus() const { return 0; }
};

}  // namespace mcphd::mcp
