#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "http/listen_address.hpp"
#include "http/request_head.hpp"
#include "loop/uv_loop.hpp"

namespace mcphd::http {

struct ServerResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
  HeaderList headers;  // extra response headers (names as written)
  // Instead of `body`: a body several answers share (a large snapshot sent to every client
  // asking for it at once), written from this one copy.
  std::shared_ptr<const std::string> sharedBody;
};

// The answer to one request. The handler gets it and answers at once or later (after a Redis
// reply), or turns it into an event stream that stays open. Shared by the connection and whoever
// answers late, as either may go first: once the connection is gone, every call is a no-op.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // Sends a complete answer; the connection closes once it is written. Only the first answer
  // (respond or openStream) counts.
  virtual void respond(ServerResponse response) = 0;
  // respond() and openStream() may be called inside the handler or at any later time; the
  // connection may be gone by then (the request timer closes one that waits 5 s).
  //
  // Sends the status line, the headers and `head.body` without a length and keeps the connection
  // open for write(): a Server-Sent Events stream. The stream leaves the request connections'
  // count and timeout for the streams' own limit. False, with nothing sent, when that limit is
  // reached (the caller answers with respond()) or the connection is gone.
  virtual bool openStream(ServerResponse head) = 0;
  // Appends to an open stream. A client that reads so slowly that more than the server's
  // maxStreamBacklog bytes already wait unwritten is disconnected (it reconnects and
  // resynchronizes): false then, or when the connection is gone. The connection may thus be
  // closed before write() returns.
  virtual bool write(std::string_view data) = 0;
  // Ends the exchange (closes the connection).
  virtual void close() = 0;
  // False once the connection is gone. Closing is not announced: a holder of a stream checks
  // this (or the result of write()).
  virtual bool open() const = 0;
};

// A small HTTP/1.1 server on the loop for /metrics, /healthz and the dashboard: one request per
// connection (answered with Connection: close, then shut down for writing and closed once the
// client has closed its side, so an error answered before the request was read is not lost to a
// reset), request heads and bodies up to 8 KiB (bodies by Content-Length only), 5 s to send one
// and take the answer. At most maxConnections connections that are sending a
// request or waiting for its answer; when full, the oldest that has not sent its request yet is
// dropped for the new one. Event streams are counted apart (maxStreams) and are never closed as
// idle. The handler runs on the loop and must be quick.
class HttpServer {
 public:
  using Handler = std::function<void(const ServerRequest&, const std::shared_ptr<Exchange>&)>;
  struct Options {
    size_t maxConnections = 64;
    size_t maxStreams = 64;
    size_t maxStreamBacklog = 1 << 20;
    int64_t requestTimeoutMs = 5'000;
    HeaderList headers;    // sent with every answer and stream, the server's own errors included
    bool anyPort = false;  // the address may give port 0: the system chooses (see port())
  };

  // Listens on `address` ("127.0.0.1:9464", "[::1]:9464", ":9464" for every address).
  static Result<std::unique_ptr<HttpServer>> listen(loop::UvLoop& loop, const std::string& address,
                                                    Handler handler, Options options);
  static Result<std::unique_ptr<HttpServer>> listen(loop::UvLoop& loop, const std::string& address,
                                                    Handler handler) {
    return listen(loop, address, std::move(handler), Options{});
  }
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const std::string& address() const { return address_; }
  // The port it listens on: the one the system chose for an address with port 0.
  int port() const;

 private:
  struct Connection;
  class ConnectionExchange;
  HttpServer(loop::UvLoop& loop, Handler handler, Options options);
  void onConnection();
  void onData(Connection* c);
  void answer(Connection* c, const ServerResponse& r);
  bool startStream(Connection* c, const ServerResponse& head);
  bool writeTo(Connection* c, std::string data, std::shared_ptr<const std::string> body,
               bool closeAfter);
  void finish(Connection* c);
  void closeConnection(Connection* c);
  size_t requestConnections() const { return connections_.size() - streams_; }

  loop::UvLoop& loop_;
  Handler handler_;
  Options options_;
  uv_tcp_t* listener_ = nullptr;
  std::string address_;
  std::string headers_;  // options_.headers as written in every answer
  std::map<Connection*, std::unique_ptr<Connection>> connections_;
  size_t streams_ = 0;
  uint64_t accepted_ = 0;
};

}  // namespace mcphd::http
