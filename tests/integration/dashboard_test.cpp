#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <stdexcept>
#include <thread>

#include "harness.hpp"

using namespace mcphd::itest;
using namespace std::chrono_literals;

namespace {

// A raw client connection to the dashboard: a request written as is, the answer read as it comes.
class Client {
 public:
  explicit Client(int port, int receiveBuffer = 0) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    if (receiveBuffer > 0) {
      // Set before connect, so the window the daemon may fill stays small.
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receiveBuffer, sizeof receiveBuffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Client() { close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  bool send(const std::string& request) {
    return connected_ &&
           write(fd_, request.data(), request.size()) == static_cast<ssize_t>(request.size());
  }
  // Reads until `text` has arrived (true), the connection ends or `timeout` passes (false).
  bool readUntil(const std::string& text, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (in_.find(text) == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0 || !readSome(static_cast<int>(left.count()))) {
        return in_.find(text) != std::string::npos;
      }
    }
    return true;
  }
  // Reads until the daemon closes the connection (true) or `timeout` passes (false).
  bool readToEnd(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (!ended_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return false;
      }
      readSome(static_cast<int>(left.count()));
    }
    return true;
  }
  const std::string& received() const { return in_; }
  void discard() { in_.clear(); }

 private:
  bool readSome(int timeoutMs) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, timeoutMs) <= 0) {
      return false;
    }
    char buf[65536];
    ssize_t n = read(fd_, buf, sizeof buf);
    if (n <= 0) {
      ended_ = true;
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  int fd_;
  bool connected_ = false;
  bool ended_ = false;
  std::string in_;
};

// A daemon with only a dashboard (on a free port, or on metrics.listen too when `shared`) and a
// Redis of its own, with no servers.
struct DashboardDaemon {
  TempDir dir;
  RedisServer redis{dir};
  int port = freePort();
  std::unique_ptr<TestDaemon> daemon;

  explicit DashboardDaemon(std::vector<std::string> more = {}, bool shared = false) {
    const std::string listen = "127.0.0.1:" + std::to_string(port);
    DaemonConfig config;
    config.redisUrl = redis.url();
    if (shared) {
      config.extra = {"metrics:", "  listen: " + listen};
    }
    config.extra.insert(config.extra.end(), {"dashboard:", "  listen: " + listen});
    config.extra.insert(config.extra.end(), more.begin(), more.end());
    daemon = std::make_unique<TestDaemon>(dir, config);
    if (!waitForPort(port, std::chrono::seconds(10))) {
      throw std::runtime_error("the dashboard did not listen; see " + daemon->logPath());
    }
  }
};

std::string get(int port, const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n";
}

}  // namespace

TEST_CASE(
    "the dashboard on metrics.listen: streams have their own limit, outlive the request timeout "
    "and relay what is published") {
  // More streams than the 64 request connections: they are counted apart.
  constexpr int kStreams = 66;
  DashboardDaemon d({"  max_streams: " + std::to_string(kStreams)}, true);
  const int port = d.port;
  RedisServer& redis = d.redis;
  TestDaemon& daemon = *d.daemon;
  INFO("daemon log: " << daemon.logPath());

  std::vector<std::unique_ptr<Client>> streams;
  for (int i = 0; i < kStreams; ++i) {
    streams.push_back(std::make_unique<Client>(port));
    REQUIRE(streams.back()->send(get(port, "/api/events")));
    REQUIRE(streams.back()->readUntil("event: hello", 10s));
  }
  Client& a = *streams.front();
  Client& b = *streams.back();
  // Each stream says once the daemon's subscription is confirmed (it may be before the stream
  // opened: then its hello says so).
  for (Client* c : {&a, &b}) {
    const bool live = c->received().find("\"redis\":\"connected\"") != std::string::npos ||
                      c->readUntil("event: redis\ndata: {\"redis\":\"connected\"}", 10s);
    REQUIRE(live);
    CHECK(c->received().rfind("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n", 0) == 0);
    CHECK(c->received().find("Content-Security-Policy: default-src 'none';") != std::string::npos);
  }

  // One more stream is refused, and the metrics endpoints are answered all the same.
  Client extra(port);
  REQUIRE(extra.send(get(port, "/api/events")));
  REQUIRE(extra.readToEnd(10s));
  CHECK(extra.received().rfind("HTTP/1.1 503", 0) == 0);
  CHECK(extra.received().find("too many event streams are open (dashboard.max_streams)") !=
        std::string::npos);
  CHECK(extra.received().find("Retry-After: 5\r\n") != std::string::npos);
  CHECK(httpRequest(port, "GET", "/metrics").first == 200);
  CHECK(httpRequest(port, "GET", "/healthz").first == 200);

  // Past the 5 s in which a request must be sent and answered, the streams are still open and
  // relay what is published, in order.
  std::this_thread::sleep_for(6500ms);
  REQUIRE(redis.query({"PUBLISH", "mcp:health", R"({"type":"health","server_id":"x","seq":1})"}));
  REQUIRE(redis.query({"PUBLISH", "mcp:tools", R"({"type":"tools","server_id":"x","seq":1})"}));
  for (Client* c : {&a, &b}) {
    CHECK(c->readUntil("event: tools\ndata: {\"type\":\"tools\",\"server_id\":\"x\",\"seq\":1}\n\n",
                       10s));
    CHECK(c->received().find(
              "event: health\ndata: {\"type\":\"health\",\"server_id\":\"x\",\"seq\":1}\n\n") <
          c->received().find("event: tools"));
  }
  // It stops cleanly with the streams open (under the sanitizers: no leak, no handle left).
  CHECK(daemon.stop(SIGTERM, 10s) == std::optional<int>(0));
}

TEST_CASE(
    "an event stream client that stops reading is dropped once 1 MiB waits for it, and the others "
    "go on") {
  DashboardDaemon d;
  const int port = d.port;
  RedisServer& redis = d.redis;
  TestDaemon& daemon = *d.daemon;
  INFO("daemon log: " << daemon.logPath());

  Client stuck(port, 4096);
  Client reader(port);
  REQUIRE(stuck.send(get(port, "/api/events")));
  REQUIRE(reader.send(get(port, "/api/events")));
  REQUIRE(stuck.readUntil("event: hello", 10s));
  REQUIRE(reader.readUntil("event: hello", 10s));
  const bool live = reader.received().find("\"redis\":\"connected\"") != std::string::npos ||
                    reader.readUntil("{\"redis\":\"connected\"}", 10s);
  REQUIRE(live);

  // 400 messages of 64 KiB, each read by the reader before the next is published: far more than
  // the socket buffers and the 1 MiB backlog together for the one that reads nothing.
  const std::string pad(64 * 1024, 'p');
  bool readerGotAll = true;
  for (int i = 0; i < 400 && readerGotAll; ++i) {
    const std::string marker = "{\"i\":" + std::to_string(i) + ",";
    REQUIRE(redis.query({"PUBLISH", "mcp:health", marker + "\"pad\":\"" + pad + "\"}"}));
    readerGotAll = reader.readUntil(marker, 10s);
    reader.discard();
  }
  CHECK(readerGotAll);
  REQUIRE(redis.query({"PUBLISH", "mcp:health", "{\"last\":true}"}));
  CHECK(reader.readUntil("{\"last\":true}", 10s));
  // The stuck one is closed by the daemon: what it buffered ends with the end of the stream.
  CHECK(stuck.readToEnd(30s));
  CHECK(stuck.received().find("{\"last\":true}") == std::string::npos);
  CHECK(readFile(daemon.logPath())
            .find("an event stream client fell more than 1048576 bytes behind") !=
        std::string::npos);
  CHECK(daemon.running());
}

TEST_CASE(
    "the dashboard's HTTP server answers requests it cannot take with the status that says why") {
  DashboardDaemon d;
  const int port = d.port;
  TestDaemon& daemon = *d.daemon;
  INFO("daemon log: " << daemon.logPath());
  const std::string host = "Host: 127.0.0.1:" + std::to_string(port) + "\r\n";

  auto statusOf = [&](const std::string& request) {
    Client c(port);
    REQUIRE(c.send(request));
    REQUIRE(c.readToEnd(10s));
    INFO(c.received());
    return c.received().substr(0, 12);
  };
  CHECK(statusOf("POST /api/check/x HTTP/1.1\r\n" + host + "Content-Length: 9000\r\n\r\n") ==
        "HTTP/1.1 413");
  CHECK(statusOf("POST /api/check/x HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n") ==
        "HTTP/1.1 400");
  CHECK(statusOf("POST /api/check/x HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n") ==
        "HTTP/1.1 501");
  CHECK(statusOf("GET / HTTP/1.1\r\n" + host + "X-Pad: " + std::string(9000, 'a') + "\r\n\r\n") ==
        "HTTP/1.1 431");
  CHECK(statusOf("GET / HTTP/3\r\n" + host + "\r\n") == "HTTP/1.1 505");
  // The server's own answers carry the page's security headers too.
  Client big(port);
  REQUIRE(big.send("GET / HTTP/1.1\r\n" + host + "X-Pad: " + std::string(9000, 'a') + "\r\n\r\n"));
  REQUIRE(big.readToEnd(10s));
  CHECK(big.received().find("\r\nContent-Security-Policy: default-src 'none';") !=
        std::string::npos);
  CHECK(big.received().find("\r\nX-Content-Type-Options: nosniff\r\n") != std::string::npos);

  // HEAD: the length of what GET would send, no body.
  Client head(port);
  REQUIRE(head.send("HEAD / HTTP/1.1\r\n" + host + "\r\n"));
  REQUIRE(head.readToEnd(10s));
  CHECK(head.received().rfind("HTTP/1.1 200", 0) == 0);
  CHECK(head.received().find("Content-Length: 0\r\n") == std::string::npos);
  CHECK(head.received().size() == head.received().find("\r\n\r\n") + 4);

  // An answer given before the whole request was read (its body is refused) reaches a client
  // that goes on sending: the daemon reads and drops the rest instead of resetting.
  Client sending(port);
  REQUIRE(sending.send("POST /api/check/x HTTP/1.1\r\n" + host + "Content-Length: 100000\r\n\r\n"));
  std::this_thread::sleep_for(200ms);
  sending.send(std::string(60'000, 'b'));
  REQUIRE(sending.readToEnd(10s));
  CHECK(sending.received().rfind("HTTP/1.1 413", 0) == 0);
  CHECK(sending.received().find("request body over 8192 bytes") != std::string::npos);
  CHECK(daemon.running());
}

TEST_CASE("a new dashboard token file applies at SIGHUP: the old token is refused from then on") {
  TempDir secrets;
  const std::string tokenFile = secrets.file("dashboard.token");
  const std::string oldToken = "old-token-0123456789abcdef";
  const std::string newToken = "new-token-0123456789abcdef";
  writeFile(tokenFile, oldToken + "\n");
  chmod(tokenFile.c_str(), 0600);
  DashboardDaemon d({"  token_file: " + tokenFile});
  TestDaemon& daemon = *d.daemon;
  INFO("daemon log: " << daemon.logPath());
  const std::string host = "Host: 127.0.0.1:" + std::to_string(d.port) + "\r\n";
  auto recheck = [&](const std::string& token) {
    Client c(d.port);
    REQUIRE(c.send("POST /api/check/x HTTP/1.1\r\n" + host + "Authorization: Bearer " + token +
                   "\r\nContent-Length: 0\r\n\r\n"));
    REQUIRE(c.readToEnd(10s));
    return c.received().substr(0, 12);
  };
  // 202 once Redis is connected (503 before).
  auto deadline = Clock::now() + 10s;
  while (recheck(oldToken) != "HTTP/1.1 202" && Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK(recheck(oldToken) == "HTTP/1.1 202");
  CHECK(recheck(newToken) == "HTTP/1.1 401");

  writeFile(tokenFile, newToken + "\n");
  chmod(tokenFile.c_str(), 0600);
  kill(daemon.pid(), SIGHUP);
  REQUIRE(waitForLog(daemon.logPath(), "reloaded ", 1, 10s));
  CHECK(recheck(oldToken) == "HTTP/1.1 401");
  CHECK(recheck(newToken) == "HTTP/1.1 202");
  CHECK(readFile(daemon.logPath()).find("token-0123456789abcdef") == std::string::npos);
}
