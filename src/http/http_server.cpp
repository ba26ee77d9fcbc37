#include "http/http_server.hpp"

#include <cstring>

#include "common/log.hpp"

namespace mcphd::http {

namespace {

constexpr size_t kMaxRequest = 8 * 1024;
constexpr uint64_t kRequestTimeoutMs = 5'000;  // an idle connection is closed after this
constexpr size_t kMaxConnections = 64;

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

}  // namespace

// One client connection: its socket and its request timer, freed when both have closed.
struct HttpServer::Connection {
  HttpServer* server = nullptr;
  uv_tcp_t* tcp = nullptr;
  uv_timer_t* timer = nullptr;
  std::string in;
  bool answered = false;
  uint64_t accepted = 0;  // order of acceptance: the oldest idle one goes first when full
};

HttpServer::HttpServer(loop::UvLoop& loop, Handler handler)
    : loop_(loop), handler_(std::move(handler)) {}

Result<std::unique_ptr<HttpServer>> HttpServer::listen(loop::UvLoop& loop,
                                                       const std::string& address,
                                                       Handler handler) {
  auto hp = parseListenAddress(address);
  if (!hp) {
    return hp.error();
  }
  sockaddr_storage addr{};
  const auto& [host, port] = hp.value();
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
      uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
    return makeError("'" + address + "': '" + host + "' is not an IP address");
  }
  std::unique_ptr<HttpServer> server(new HttpServer(loop, std::move(handler)));
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
  c->tcp->data = c;
  if (uv_accept(reinterpret_cast<uv_stream_t*>(listener_),
                reinterpret_cast<uv_stream_t*>(c->tcp)) != 0) {
    c->tcp->data = nullptr;
    loop::closeAndDelete(c->tcp);
    return;
  }
  if (connections_.size() >= kMaxConnections) {
    // Full: the oldest connection that has not sent its request yet makes room, so idle
    // connections (a scanner, a stuck client) cannot keep /healthz from being answered.
    Connection* oldest = nullptr;
    for (const auto& [conn, owned] : connections_) {
      if (!conn->answered && (oldest == nullptr || conn->accepted < oldest->accepted)) {
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
  c->timer = new uv_timer_t;
  uv_timer_init(loop_.raw(), c->timer);
  c->timer->data = c;
  connections_.emplace(c, std::move(owned));
  uv_timer_start(
      c->timer,
      [](uv_timer_t* t) {
        auto* conn = static_cast<Connection*>(t->data);
        if (conn != nullptr) {
          conn->server->closeConnection(conn);  // too slow to send its request
        }
      },
      kRequestTimeoutMs, 0);
  uv_read_start(
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
          conn->server->closeConnection(conn);
          return;
        }
        if (conn->answered) {
          return;
        }
        conn->in.append(buf->base, static_cast<size_t>(n));
        conn->server->onData(conn);
      });
}

void HttpServer::onData(Connection* c) {
  ServerResponse resp;
  size_t end = c->in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c->in.size() <= kMaxRequest) {
      return;  // more to come
    }
    resp.status = 431;
    resp.body = "request too large\n";
  } else {
    std::string line = c->in.substr(0, c->in.find("\r\n"));
    size_t sp1 = line.find(' ');
    size_t sp2 = line.find(' ', sp1 == std::string::npos ? 0 : sp1 + 1);
    if (sp1 == std::string::npos || sp2 == std::string::npos) {
      resp.status = 400;
      resp.body = "bad request line\n";
    } else {
      std::string method = line.substr(0, sp1);
      std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
      std::string path = target.substr(0, target.find('?'));
      if (method != "GET" && method != "HEAD") {
        resp.status = 405;
        resp.body = "GET or HEAD only\n";
      } else {
        resp = handler_(method, path);
      }
      if (method == "HEAD") {
        resp.body.clear();  // the length below still says what GET would send
      }
    }
  }
  c->answered = true;
  auto* w = new WriteRequest;
  w->data = "HTTP/1.1 " + std::to_string(resp.status) + " " + reason(resp.status) +
            "\r\nContent-Type: " + resp.contentType +
            "\r\nContent-Length: " + std::to_string(resp.body.size()) +
            "\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n" + resp.body;
  uv_buf_t buf = uv_buf_init(w->data.data(), w->data.size());
  // The timer stays armed: a client that never reads its answer is dropped all the same.
  int rc =
      uv_write(&w->req, reinterpret_cast<uv_stream_t*>(c->tcp), &buf, 1, [](uv_write_t* req, int) {
        // The socket's data is cleared when the connection is closed first (the
        // handle itself lives until its close callback, after this one).
        auto* conn = static_cast<Connection*>(req->handle->data);
        delete reinterpret_cast<WriteRequest*>(req);
        if (conn != nullptr) {
          conn->server->closeConnection(conn);
        }
      });
  if (rc != 0) {
    delete w;
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
  uv_timer_stop(c->timer);
  c->timer->data = nullptr;
  c->tcp->data = nullptr;
  loop::closeAndDelete(c->timer);
  loop::closeAndDelete(c->tcp);  // cancels a pending write; its callback finds no connection
}

}  // namespace mcphd::http
