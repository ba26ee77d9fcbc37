// CurlMultiClient on a real loop against a small keep-alive HTTP server on the same loop: the
// connection cache (reuse, a connection the server closed while idle), and the loop ending while
// only idle connections are left.
#include <uv.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "http/curl_multi_client.hpp"
#include "loop/uv_loop.hpp"

using namespace mcphd;

namespace {

// Answers every request on a connection with 200 "ok" and keeps the connection open.
class KeepAliveServer {
 public:
  explicit KeepAliveServer(uv_loop_t* loop) : loop_(loop) {
    uv_tcp_init(loop_, &listener_);
    listener_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    REQUIRE(uv_tcp_bind(&listener_, reinterpret_cast<const sockaddr*>(&addr), 0) == 0);
    REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_), 16,
                      &KeepAliveServer::onConnection) == 0);
    sockaddr_storage bound{};
    int len = sizeof bound;
    uv_tcp_getsockname(&listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  }
  ~KeepAliveServer() { stop(); }

  int port() const { return port_; }
  int accepted() const { return accepted_; }

  // Closes every connection from the server's side.
  void closeConnections() {
    for (auto* c : connections_) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
               [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
    }
    connections_.clear();
  }

  void stop() {
    closeConnections();
    if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&listener_))) {
      uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
    }
  }

 private:
  struct Connection {
    uv_tcp_t tcp;
    std::string request;
    KeepAliveServer* server;
  };

  static void onConnection(uv_stream_t* listener, int status) {
    auto* self = static_cast<KeepAliveServer*>(listener->data);
    if (status != 0) {
      return;
    }
    auto* c = new Connection{};
    c->server = self;
    uv_tcp_init(self->loop_, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
      uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp),
               [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
      return;
    }
    ++self->accepted_;
    self->connections_.push_back(c);
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&c->tcp),
        [](uv_handle_t*, size_t, uv_buf_t* buf) {
          static char chunk[4096];
          *buf = uv_buf_init(chunk, sizeof chunk);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* conn = static_cast<Connection*>(s->data);
          if (n <= 0) {
            return;  // the client went away: closed with the others at the end
          }
          conn->request.append(buf->base, static_cast<size_t>(n));
          while (conn->request.find("\r\n\r\n") != std::string::npos) {
            conn->request.erase(0, conn->request.find("\r\n\r\n") + 4);
            static const char kResponse[] =
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
            auto* req = new uv_write_t;
            uv_buf_t out = uv_buf_init(const_cast<char*>(kResponse), sizeof kResponse - 1);
            uv_write(req, s, &out, 1, [](uv_write_t* r, int) { delete r; });
          }
        });
  }

  uv_loop_t* loop_;
  uv_tcp_t listener_{};
  int port_ = 0;
  int accepted_ = 0;
  std::vector<Connection*> connections_;
};

// Runs the loop until `done` holds or 5 s pass. With `tick`, a timer every 10 ms: a request that
// completes in a timer callback (a refused connection) would otherwise leave uv_run(ONCE) waiting
// in poll for an event that never comes.
template <typename Pred>
bool runUntil(loop::UvLoop& loop, Pred done, bool tick = false) {
  auto* ticker = new uv_timer_t;
  uv_timer_init(loop.raw(), ticker);
  if (tick) {
    uv_timer_start(
        ticker, [](uv_timer_t*) {}, 10, 10);
  }
  const uint64_t deadline = uv_now(loop.raw()) + 5000;
  while (!done() && uv_now(loop.raw()) < deadline) {
    uv_run(loop.raw(), UV_RUN_ONCE);
  }
  uv_timer_stop(ticker);
  loop::closeAndDelete(ticker);
  return done();
}

http::Request get(int port) {
  http::Request r;
  r.method = "GET";
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  r.timeoutMs = 3000;
  r.connectTimeoutMs = 1000;
  r.maxBody = 1024;
  return r;
}

}  // namespace

TEST_CASE(
    "http client: kept-alive connections are reused, dropped when the server closes them, and do "
    "not keep the loop running") {
  loop::UvLoop loop;
  auto server = std::make_unique<KeepAliveServer>(loop.raw());
  // Handles live until the loop has closed them, after loop.close() below.
  uv_check_t counter;
  uv_timer_t wait;
  uv_timer_t guard;
  {
    http::CurlMultiClient client(loop);
    std::optional<http::Response> got;
    auto fetch = [&] {
      got.reset();
      auto call = client.send(get(server->port()), [&](http::Response r) { got = std::move(r); });
      REQUIRE(runUntil(loop, [&] { return got.has_value(); }));
      CHECK(got->failure == http::Failure::kNone);
      CHECK(got->status == 200);
      CHECK(got->body == "ok");
    };

    fetch();
    fetch();
    CHECK(server->accepted() == 1);  // the second request reused the connection

    // The server closes the idle connection. Its socket stays readable (end of file) while curl
    // is not waiting on it: the client must stop watching it rather than wake up for it forever.
    server->closeConnections();
    uv_check_init(loop.raw(), &counter);
    int iterations = 0;
    counter.data = &iterations;
    uv_check_start(&counter, [](uv_check_t* h) { ++*static_cast<int*>(h->data); });
    bool elapsed = false;
    uv_timer_init(loop.raw(), &wait);
    wait.data = &elapsed;
    uv_timer_start(
        &wait, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 200, 0);
    REQUIRE(runUntil(loop, [&] { return elapsed; }));
    uv_check_stop(&counter);
    uv_close(reinterpret_cast<uv_handle_t*>(&counter), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wait), nullptr);
    CHECK(iterations < 20);  // a loop spinning on the closed socket runs thousands of times

    fetch();  // curl finds the cached connection dead and opens a new one
    CHECK(server->accepted() == 2);

    // Only an idle kept-alive connection and the server are left; with the server gone the loop
    // must end by itself (a one-off probe returns when its loop is done).
    server->stop();
    bool hung = false;
    uv_timer_init(loop.raw(), &guard);
    guard.data = &hung;
    uv_timer_start(
        &guard,
        [](uv_timer_t* t) {
          *static_cast<bool*>(t->data) = true;
          uv_stop(t->loop);
        },
        3000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&guard));
    uv_run(loop.raw(), UV_RUN_DEFAULT);
    CHECK_FALSE(hung);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
  }
  server.reset();
  REQUIRE(loop.close());
}

TEST_CASE(
    "http client: egress.registry refuses registry requests, and they never reuse a connection "
    "opened without it") {
  loop::UvLoop loop;
  auto server = std::make_unique<KeepAliveServer>(loop.raw());
  {
    http::CurlMultiClient client(loop);
    http::EgressPolicy registry;
    registry.name = "egress.registry";
    registry.deny.push_back(http::Cidr::parse("127.0.0.0/8").value());
    client.setRegistryEgressPolicy(registry);
    auto fetch = [&](bool fromRegistry) {
      std::optional<http::Response> got;
      http::Request req = get(server->port());
      req.registryEgress = fromRegistry;
      auto call = client.send(std::move(req), [&](http::Response r) { got = std::move(r); });
      REQUIRE(runUntil(
          loop, [&] { return got.has_value(); }, true));
      return std::move(*got);
    };
    // A config-file server's request: allowed, and its connection stays in the pool.
    CHECK(fetch(false).status == 200);
    CHECK(server->accepted() == 1);
    // A registry server's request to the same origin: a fresh connection, which is refused.
    http::Response refused = fetch(true);
    CHECK(refused.failure == http::Failure::kDenied);
    CHECK(refused.failureMessage.find("egress.registry.deny 127.0.0.0/8") != std::string::npos);
    CHECK(server->accepted() == 1);
    CHECK(fetch(false).status == 200);  // the general policy is untouched
    client.setRegistryEgressPolicy(std::nullopt);
    CHECK(fetch(true).status == 200);
  }
  server.reset();
  REQUIRE(loop.close());
}
