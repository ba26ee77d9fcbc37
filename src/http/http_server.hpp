#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/result.hpp"
#include "http/listen_address.hpp"
#include "loop/uv_loop.hpp"

namespace mcphd::http {

struct ServerResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};

// A small HTTP/1.1 server on the loop for /metrics and /healthz: GET and HEAD only, one request
// per connection (answered with Connection: close), requests up to 8 KiB, 5 s to send one, at
// most 64 connections at a time; when full, the oldest connection that has not sent its request
// is dropped for the new one. The handler runs on the loop and must be quick.
class HttpServer {
 public:
  using Handler = std::function<ServerResponse(const std::string& method, const std::string& path)>;

  // Listens on `address` ("127.0.0.1:9464", "[::1]:9464", ":9464" for every address).
  static Result<std::unique_ptr<HttpServer>> listen(loop::UvLoop& loop, const std::string& address,
                                                    Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const std::string& address() const { return address_; }

 private:
  struct Connection;
  HttpServer(loop::UvLoop& loop, Handler handler);
  void onConnection();
  void onData(Connection* c);
  void closeConnection(Connection* c);

  loop::UvLoop& loop_;
  Handler handler_;
  uv_tcp_t* listener_ = nullptr;
  std::string address_;
  std::map<Connection*, std::unique_ptr<Connection>> connections_;
  uint64_t accepted_ = 0;
};

}  // namespace mcphd::http
