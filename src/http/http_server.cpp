#include "http/http_server.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "common/log.hpp"

namespace mcphd::http {

namespace {

constexpr size_t kMaxRequest = 8 * 1024;  // head and body

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Status";
  }
}

ServerResponse plain(int status, std::string body) {
  ServerResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

struct WriteRequest {
  uv_write_t req{};
  std::string data;
  std::shared_ptr<const std::string> body;  // written after `data` when set
  bool closeAfter = false;
};

}  // namespace

// One client connection: its socket, its request timer (stopped once it is a stream), and the
// exchange handed to the handler; freed when closed.
struct HttpServer::Connection {
  HttpServer* server = nullptr;
  uv_tcp_t* tcp = nullptr;
  std::unique_ptr<loop::Timer> timer;
  std::string in;
  size_t bodyWanted = 0;                 // Content-Length, once the head is in
  size_t headEnd = 0;                    // where the body starts, once the head is in
  std::optional<ServerRequest> request;  // until handed to the handler
  bool head = false;                     // a HEAD request: answers carry no body
  bool dispatched = false;  // handed to the handler (or answered): no more request is read
  uint64_t accepted = 0;    // order of acceptance: the oldest idle one goes first when full
  std::shared_ptr<ConnectionExchange> exchange;
};

// The exchange of one connection: the connection points at it and it points back until the
// connection is closed.
class HttpServer::ConnectionExchange final : public Exchange {
 public:
  ConnectionExchange(HttpServer* server, Connection* c) : server_(server), connection_(c) {}
  void respond(ServerResponse response) override {
    if (server_ != nullptr && !answered_) {
      answered_ = true;
      server_->answer(connection_, response);
    }
  }
  bool openStream(ServerResponse head) override {
    if (server_ == nullptr || answered_ || !server_->startStream(connection_, head)) {
      return false;
    }
    answered_ = true;
    return true;
  }
  bool write(std::string_view data) override {
    return server_ != nullptr && streaming_ &&
           server_->writeTo(connection_, std::string(data), nullptr, false);
  }
  void close() override {
    if (server_ != nullptr) {
      server_->closeConnection(connection_);
    }
  }
  bool open() const override { return server_ != nullptr; }

 private:
  friend class HttpServer;
  HttpServer* server_;
  Connection* connection_;
  bool answered_ = false;
  bool streaming_ = false;
};

HttpServer::HttpServer(loop::UvLoop& loop, Handler handler, Options options)
    : loop_(loop), handler_(std::move(handler)), options_(std::move(options)) {
  for (const auto& [name, value] : options_.headers) {
    headers_ += name + ": " + value + "\r\n";
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::listen(loop::UvLoop& loop,
                                                       const std::string& address, Handler handler,
                                                       Options options) {
  auto hp = parseListenAddress(address, options.anyPort);
  if (!hp) {
    return hp.error();
  }
  sockaddr_storage addr{};
  const auto& [host, port] = hp.value();
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return makeError("'" + address + "': '" + host + "' is not an IP address");
  }
  std::unique_ptr<HttpServer> server(new HttpServer(loop, std::move(handler), std::move(options)));
  server->address_ = address;
  server->listener_ = new uv_tcp_t;
  uv_tcp_init(loop.raw(), server->listener_);
  server->listener_->data = server.get();
  int rc = uv_tcp_bind(server->listener_, reinterpret_cast<const sockaddr*>(&addr), 0);
  if (rc == 0) {
    rc = uv_listen(reinterpret_cast<uv_stream_t*>(server->listener_), 128,
                   [](uv_stream_t* s, int status) {
                     if (status == 0 && s->data != nullptr) {
                       static_cast<HttpServer*>(s->data)->onConnection();
                     }
                   });
  }
  if (rc != 0) {
    return makeError("cannot listen on " + address + ": " + uv_strerror(rc));
  }
  return server;
}

int HttpServer::port() const {
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (listener_ == nullptr ||
      uv_tcp_getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
}

HttpServer::~HttpServer() {
  while (!connections_.empty()) {
    closeConnection(connections_.begin()->first);
  }
  if (listener_ != nullptr) {
    listener_->data = nullptr;
    loop::closeAndDelete(listener_);
  }
}

void HttpServer::onConnection() {
  auto owned = std::make_unique<Connection>();
  Connection* c = owned.get();
  c->server = this;
  c->tcp = new uv_tcp_t;
  uv_tcp_init(loop_.raw(), c->tcp);
  c->tcp->data = nullptr;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(c->tcp)) != 0) {
    c->tcp->data = nullptr;
    loop::closeAndDelete(c->tcp);
    return;
  }
  if (requestConnections() >= options_.maxConnections) {
    // Full: the oldest connection that has not sent its request yet makes room, so idle
    // connections (a scanner, a stuck client) cannot keep /healthz from being answered.
    Connection* oldest = nullptr;
    for (const auto& [conn, owned] : connections_) {
      if (!conn->dispatched && (oldest == nullptr || conn->accepted < oldest->accepted)) {
        oldest = conn;
      }
    }
    if (oldest == nullptr) {
      c->tcp->data = nullptr;
      loop::closeAndDelete(c->tcp);  // every one is being answered: refused
      return;
    }
    closeConnection(oldest);
  }
  c->accepted = ++accepted_;
  c->exchange = std::make_shared<ConnectionExchange>(this, c);
  c->timer = loop_.createTimer();
  c->tcp->data = c;
  connections_.emplace(c, std::move(owned));
  // Too slow to send its request, or to take its answer. (Closing destroys the timer inside its
  // own callback, which Timer allows.)
  c->timer->start(options_.requestTimeoutMs, [this, c] { closeConnection(c); });
  const int rc = uv_read_start(
      reinterpret_cast<uv_stream_t*>(c->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char block[4096];
        *buf = uv_buf_init(block, sizeof block);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* conn = static_cast<Connection*>(s->data);
        if (conn == nullptr) {
          return;
        }
        if (n < 0) {
          conn->exchange->close();
          return;
        }
        if (conn->dispatched) {
          return;  // one request per connection: what follows it is read and dropped
        }
        conn->in.append(buf->base, static_cast<size_t>(n));
        conn->server->onData(conn);
      });
  if (rc != 0) {
    closeConnection(c);  // the client is gone already
  }
}

void HttpServer::onData(Connection* c) {
  if (!c->request) {
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos || end + 4 > kMaxRequest) {
      if (c->in.size() > kMaxRequest) {
        c->dispatched = true;
        answer(c, plain(431, "request too large\n"));
      }
      return;  // more to come
    }
    auto parsed = parseRequestHead(std::string_view(c->in).substr(0, end + 4));
    if (!parsed) {
      c->dispatched = true;
      answer(c, plain(parsed.error().status, parsed.error().message + "\n"));
      return;
    }
    c->request = std::move(parsed.value());
    c->head = c->request->method == "HEAD";
    c->headEnd = end + 4;
    if (const std::string* len = c->request->header("content-length"); len != nullptr) {
      char* stop = nullptr;
      errno = 0;
      unsigned long long n = std::strtoull(len->c_str(), &stop, 10);
      if (len->empty() || *stop != '\0' || errno != 0 || !std::isdigit((*len)[0])) {
        c->dispatched = true;
        answer(c, plain(400, "bad Content-Length\n"));
        return;
      }
      if (n > kMaxRequest) {
        c->dispatched = true;
        answer(c, plain(413, "request body over " + std::to_string(kMaxRequest) + " bytes\n"));
        return;
      }
      c->bodyWanted = static_cast<size_t>(n);
    }
  }
  if (c->in.size() - c->headEnd < c->bodyWanted) {
    return;  // more of the body to come
  }
  c->request->body = c->in.substr(c->headEnd, c->bodyWanted);
  c->in.clear();
  c->in.shrink_to_fit();
  c->dispatched = true;
  // The handler may answer inside this call (which may free the connection), later, or never
  // (the timer closes it then): it gets a request of its own.
  const ServerRequest request = std::move(*c->request);
  c->request.reset();
  std::shared_ptr<Exchange> exchange = c->exchange;
  handler_(request, exchange);
}

void HttpServer::answer(Connection* c, const ServerResponse& r) {
  c->dispatched = true;
  const size_t length = r.sharedBody ? r.sharedBody->size() : r.body.size();
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
                    "\r\nContent-Type: " + r.contentType +
                    "\r\nContent-Length: " + std::to_string(length) +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n" + headers_;
  for (const auto& [name, value] : r.headers) {
    out += name + ": " + value + "\r\n";
  }
  out += "\r\n";
  // HEAD: the length above still says what GET would send.
  if (!c->head && !r.sharedBody) {
    out += r.body;
  }
  // The timer stays armed: a client that never reads its answer is dropped all the same.
  writeTo(c, std::move(out), c->head ? nullptr : r.sharedBody, true);
}

bool HttpServer::startStream(Connection* c, const ServerResponse& r) {
  if (streams_ >= options_.maxStreams) {
    return false;
  }
  ++streams_;
  c->exchange->streaming_ = true;
  c->timer->stop();  // a stream is not an idle connection
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) +
                    "\r\nContent-Type: " + r.contentType +
                    "\r\nCache-Control: no-store\r\nConnection: close\r\n" + headers_;
  for (const auto& [name, value] : r.headers) {
    out += name + ": " + value + "\r\n";
  }
  out += "\r\n" + r.body;
  return writeTo(c, std::move(out), nullptr, false);
}

bool HttpServer::writeTo(Connection* c, std::string data, std::shared_ptr<const std::string> body,
                         bool closeAfter) {
  auto* stream = reinterpret_cast<uv_stream_t*>(c->tcp);
  // Judged by what already waits, so that one message of any allowed size gets through.
  if (!closeAfter && uv_stream_get_write_queue_size(stream) > options_.maxStreamBacklog) {
    log::warn("http " + address_ + ": an event stream client fell more than " +
              std::to_string(options_.maxStreamBacklog) + " bytes behind; disconnected");
    closeConnection(c);
    return false;
  }
  auto* w = new WriteRequest;
  w->data = std::move(data);
  w->body = std::move(body);
  w->closeAfter = closeAfter;
  uv_buf_t bufs[2] = {uv_buf_init(w->data.data(), w->data.size()), {}};
  unsigned n = 1;
  if (w->body && !w->body->empty()) {
    // libuv only reads the buffer; the shared string outlives the write.
    bufs[n++] = uv_buf_init(const_cast<char*>(w->body->data()), w->body->size());
  }
  int rc = uv_write(&w->req, stream, bufs, n, [](uv_write_t* req, int status) {
    // The socket's data is cleared when the connection is closed first (the handle itself
    // lives until its close callback, after this one).
    auto* conn = static_cast<Connection*>(req->handle->data);
    std::unique_ptr<WriteRequest> done(reinterpret_cast<WriteRequest*>(req));
    if (conn == nullptr) {
      return;
    }
    if (status < 0) {
      conn->exchange->close();
    } else if (done->closeAfter) {
      conn->server->finish(conn);
    }
  });
  if (rc != 0) {
    delete w;
    closeConnection(c);
    return false;
  }
  return true;
}

void HttpServer::finish(Connection* c) {
  // Shut down for writing, then read (and drop) what the client still sends until it closes:
  // closing now would make the kernel answer unread request bytes with a reset, which can
  // destroy the answer before the client read it. The request timer bounds the wait.
  auto* req = new uv_shutdown_t;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(c->tcp),
                  [](uv_shutdown_t* r, int) { delete r; }) != 0) {
    delete req;
    closeConnection(c);
  }
}

void HttpServer::closeConnection(Connection* c) {
  auto it = connections_.find(c);
  if (it == connections_.end()) {
    return;
  }
  std::unique_ptr<Connection> owned = std::move(it->second);
  connections_.erase(it);
  if (c->exchange->streaming_) {
    --streams_;
  }
  c->exchange->server_ = nullptr;  // whoever still holds it finds it closed
  c->exchange->connection_ = nullptr;
  c->tcp->data = nullptr;
  loop::closeAndDelete(c->tcp);  // cancels a pending write; its callback finds no connection
}

}  // namespace mcphd::http
