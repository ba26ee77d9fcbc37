// mcp-fault-server: one process serving many virtual MCP servers (Streamable HTTP, JSON
// responses), each URL path a behaviour — healthy ones for benchmarks and every broken kind a
// health checker meets, for the fault tests. Test fixture only: plain libuv, no daemon code.
//
//   mcp-fault-server [--port N]      prints "listening on <port>" once it accepts connections
//
// Paths (any prefix before the mode is ignored, so /s/<id>/healthy names many servers):
//   /healthy?tools=N&pages=P&prefix=X   N tools over P pages (default 3 tools, 1 page), named
//                              tool-<i>, or X-tool-<i> (servers of a fleet do not all share names)
//   /many-tools                10,000 tools over 10 pages
//   /slow?ms=D                 healthy, every response delayed D ms
//   /drip?ms=D                 healthy, every response body written one byte per D ms
//   /silent                    reads requests, never answers
//   /status?code=C&retry_after=S   every request answered with status C (and Retry-After: S)
//   /unauthorized              401 with a WWW-Authenticate challenge
//   /truncated                 initialize answered with JSON cut in the middle
//   /wrong-content-type        initialize answered as text/html
//   /huge?mb=M                 initialize answered with a body of M MiB (default 64)
//   /sse-never                 initialize answered as an SSE stream of keep-alive comments only
//   /repeat-cursor             tools/list always answers nextCursor "again"
//   /fat-pages?pages=P&kb=K    tools/list of P pages, each one tool with a K KiB description
//   /invalid-utf8              tools/list holds a string with invalid UTF-8
//   /deep-json                 initialize result nested 10,000 levels deep
//   /reset                     the connection is reset in the middle of the initialize body
//   /echo                      every request answered with a JSON-RPC error (POST) or a 400
//                              whose message is the whole request: headers and body
//   /echo-token                a token endpoint answering 400 invalid_client with the whole
//                              request (headers and body) as error_description
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <uv.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

uv_loop_t* gLoop = nullptr;

struct Request {
  std::string raw;  // the request line and headers, as received
  std::string method;
  std::string path;  // the mode: the last path segment
  std::map<std::string, std::string> query;
  std::string body;
};

long queryInt(const Request& r, const std::string& key, long fallback) {
  auto it = r.query.find(key);
  return it == r.query.end() ? fallback : std::strtol(it->second.c_str(), nullptr, 10);
}

// The JSON-RPC id and method of a compact request body (the daemon writes compact JSON).
std::string jsonField(const std::string& body, const std::string& key) {
  std::string needle = "\"" + key + "\":";
  size_t p = body.find(needle);
  if (p == std::string::npos) {
    return "";
  }
  p += needle.size();
  if (p < body.size() && body[p] == '"') {
    size_t end = body.find('"', p + 1);
    return end == std::string::npos ? "" : body.substr(p, end - p + 1);  // quoted, as JSON
  }
  size_t end = body.find_first_of(",}", p);
  return body.substr(p, end - p);
}

std::string unquote(const std::string& s) {
  return s.size() >= 2 && s.front() == '"' ? s.substr(1, s.size() - 2) : s;
}

std::string toolsPage(long tools, long pages, long page, const std::string& prefix) {
  long per = (tools + pages - 1) / std::max(pages, 1L);
  long first = page * per;
  long last = std::min(tools, first + per);
  std::string out = "{\"tools\":[";
  for (long i = first; i < last; ++i) {
    if (i > first) {
      out += ',';
    }
    out += "{\"name\":\"" + prefix + "tool-" + std::to_string(i) +
           "\",\"description\":\"Fault server tool " + std::to_string(i) +
           "\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"x\":{\"type\":\"string\"}}}}";
  }
  out += "]";
  if (page + 1 < pages && last < tools) {
    out += ",\"nextCursor\":\"p" + std::to_string(page + 1) + "\"";
  }
  return out + "}";
}

std::string initializeResult() {
  return R"({"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},)"
         R"("serverInfo":{"name":"mcp-fault-server","version":"1.0"}})";
}

std::string rpcResult(const std::string& id, const std::string& result) {
  return "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"result\":" + result + "}";
}

// The body of /huge but its id, built once (at start for the default size) and written without
// a copy: the fixture must not stall its other virtual servers while it serves this one.
const std::string& hugePad(long mb) {
  static std::map<long, std::string> pads;
  mb = std::clamp(mb, 1L, 1024L);
  std::string& pad = pads[mb];
  if (pad.empty()) {
    pad = "{\"jsonrpc\":\"2.0\",\"result\":{\"pad\":\"" +
          std::string(static_cast<size_t>(mb) * 1024 * 1024, 'x') + "\"},\"id\":";
  }
  return pad;
}

struct Conn;
void closeConn(Conn* c);

struct Conn {
  uv_tcp_t tcp{};
  uv_timer_t timer{};
  std::string in;
  std::string pending;  // drip: bytes still to send
  long dripMs = 0;
  bool silent = false;
  bool closing = false;
  int open = 2;
};

struct Write {
  uv_write_t req{};
  std::string data;
};

void send(Conn* c, std::string data) {
  if (c->closing) {
    return;
  }
  auto* w = new Write;
  w->data = std::move(data);
  uv_buf_t buf = uv_buf_init(w->data.data(), w->data.size());
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
               [](uv_write_t* req, int) { delete reinterpret_cast<Write*>(req); }) != 0) {
    delete w;
  }
}

// Writes `data`, which outlives the connection (a static buffer), without copying it.
void sendStatic(Conn* c, const std::string& data) {
  if (c->closing) {
    return;
  }
  auto* w = new Write;
  uv_buf_t buf = uv_buf_init(const_cast<char*>(data.data()), data.size());
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
               [](uv_write_t* req, int) { delete reinterpret_cast<Write*>(req); }) != 0) {
    delete w;
  }
}

std::string head(int status, const char* reason, const std::string& contentType, size_t length,
                 const std::string& extra = "") {
  std::string h = "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\n";
  if (!contentType.empty()) {
    h += "Content-Type: " + contentType + "\r\n";
  }
  h += "Content-Length: " + std::to_string(length) + "\r\n" + extra + "\r\n";
  return h;
}

void afterDelay(Conn* c, long ms, void (*fn)(uv_timer_t*)) {
  c->timer.data = c;
  uv_timer_start(&c->timer, fn, static_cast<uint64_t>(ms), 0);
}

void dripNext(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  if (c->pending.empty()) {
    return;
  }
  send(c, c->pending.substr(0, 1));
  c->pending.erase(0, 1);
  if (!c->pending.empty()) {
    uv_timer_start(&c->timer, dripNext, static_cast<uint64_t>(c->dripMs), 0);
  }
}

void slowSend(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  send(c, std::move(c->pending));
  c->pending.clear();
}

void sseKeepAlive(uv_timer_t* t) {
  auto* c = static_cast<Conn*>(t->data);
  send(c, ": still working\n\n");
  uv_timer_start(&c->timer, sseKeepAlive, 200, 0);
}

// Answers one JSON response the way the mode says (delayed, dripped, or at once).
void answerJson(Conn* c, const Request& r, int status, const char* reason, const std::string& body,
                const std::string& extra = "") {
  std::string out = head(status, reason, "application/json", body.size(), extra) + body;
  if (r.path == "slow") {
    c->pending = std::move(out);
    afterDelay(c, queryInt(r, "ms", 1000), slowSend);
  } else if (r.path == "drip") {
    c->dripMs = queryInt(r, "ms", 50);
    c->pending = std::move(out);
    afterDelay(c, 0, dripNext);
  } else {
    send(c, std::move(out));
  }
}

std::string jsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

void handle(Conn* c, const Request& r) {
  const std::string& mode = r.path;
  if (mode == "echo-token") {
    std::string body = "{\"error\":\"invalid_client\",\"error_description\":" +
                       jsonQuote("you sent " + r.raw + "\n\n" + r.body) + "}";
    send(c, head(400, "Bad Request", "application/json", body.size()) + body);
    return;
  }
  if (mode == "echo") {
    const std::string echoed = "you sent " + r.raw + "\n\n" + r.body;
    const std::string id = jsonField(r.body, "id");
    if (r.method == "POST" && !id.empty()) {
      std::string body = "{\"jsonrpc\":\"2.0\",\"id\":" + id +
                         ",\"error\":{\"code\":-32600,\"message\":" + jsonQuote(echoed) + "}}";
      send(c, head(200, "OK", "application/json", body.size()) + body);
    } else {
      send(c, head(400, "Bad Request", "text/plain", echoed.size()) + echoed);
    }
    return;
  }
  if (mode == "silent") {
    c->silent = true;
    return;
  }
  if (mode == "status") {
    long code = queryInt(r, "code", 503);
    std::string extra;
    if (r.query.count("retry_after") != 0) {
      extra = "Retry-After: " + r.query.at("retry_after") + "\r\n";
    }
    std::string body = "status " + std::to_string(code);
    send(c, head(static_cast<int>(code), "Fault", "text/plain", body.size(), extra) + body);
    return;
  }
  if (mode == "unauthorized") {
    send(c, head(401, "Unauthorized", "text/plain", 0,
                 "WWW-Authenticate: Bearer realm=\"fault\", error=\"invalid_token\"\r\n"));
    return;
  }
  if (r.method == "DELETE") {
    send(c, head(200, "OK", "", 0));
    return;
  }
  if (r.method != "POST") {
    send(c, head(405, "Method Not Allowed", "", 0, "Allow: POST, DELETE\r\n"));
    return;
  }
  const std::string id = jsonField(r.body, "id");
  const std::string method = unquote(jsonField(r.body, "method"));
  if (id.empty()) {  // a notification
    send(c, head(202, "Accepted", "", 0));
    return;
  }
  const std::string session = "Mcp-Session-Id: fault-session\r\n";
  if (method == "initialize") {
    if (mode == "truncated") {
      std::string full = rpcResult(id, initializeResult());
      std::string cut = full.substr(0, full.size() / 2);
      send(c, head(200, "OK", "application/json", cut.size(), session) + cut);
      return;
    }
    if (mode == "wrong-content-type") {
      std::string body = "<html><body>Welcome to nginx!</body></html>";
      send(c, head(200, "OK", "text/html", body.size(), session) + body);
      return;
    }
    if (mode == "huge") {
      const std::string& pad = hugePad(queryInt(r, "mb", 64));
      std::string tail = id + "}";
      send(c, head(200, "OK", "application/json", pad.size() + tail.size(), session));
      sendStatic(c, pad);
      send(c, tail);
      return;
    }
    if (mode == "sse-never") {
      send(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
                  session + "Connection: close\r\n\r\n");
      afterDelay(c, 0, sseKeepAlive);
      return;
    }
    if (mode == "deep-json") {
      std::string nested;
      for (int i = 0; i < 10000; ++i) {
        nested += "{\"a\":";
      }
      nested += "1";
      nested.append(10000, '}');
      std::string body = rpcResult(id, nested);
      send(c, head(200, "OK", "application/json", body.size(), session) + body);
      return;
    }
    if (mode == "reset") {
      std::string body = rpcResult(id, initializeResult());
      send(c, head(200, "OK", "application/json", body.size(), session) +
                  body.substr(0, body.size() / 2));
      // SO_LINGER 0: close() sends RST instead of FIN.
      uv_os_fd_t fd;
      if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) {
        struct linger l {
          1, 0
        };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      }
      closeConn(c);
      return;
    }
    answerJson(c, r, 200, "OK", rpcResult(id, initializeResult()), session);
    return;
  }
  if (method == "tools/list") {
    if (mode == "repeat-cursor") {
      answerJson(c, r, 200, "OK",
                 rpcResult(id, R"({"tools":[{"name":"t","inputSchema":{"type":"object"}}],)"
                               R"("nextCursor":"again"})"));
      return;
    }
    if (mode == "invalid-utf8") {
      answerJson(c, r, 200, "OK",
                 rpcResult(id,
                           "{\"tools\":[{\"name\":\"t\",\"description\":\"bad \xff\xfe "
                           "bytes\",\"inputSchema\":{\"type\":\"object\"}}]}"));
      return;
    }
    if (mode == "fat-pages") {
      // One tool per page, its description `kb` KiB long, over `pages` pages.
      long pages = std::max(1L, queryInt(r, "pages", 64));
      size_t kb = static_cast<size_t>(queryInt(r, "kb", 1024));
      std::string cursor = unquote(jsonField(r.body, "cursor"));
      long page =
          cursor.size() > 1 && cursor[0] == 'p' ? std::strtol(cursor.c_str() + 1, nullptr, 10) : 0;
      std::string result = "{\"tools\":[{\"name\":\"fat-" + std::to_string(page) +
                           "\",\"description\":\"" + std::string(kb * 1024, 'x') +
                           "\",\"inputSchema\":{\"type\":\"object\"}}]";
      if (page + 1 < pages) {
        result += ",\"nextCursor\":\"p" + std::to_string(page + 1) + "\"";
      }
      answerJson(c, r, 200, "OK", rpcResult(id, result + "}"));
      return;
    }
    long tools = mode == "many-tools" ? 10000 : queryInt(r, "tools", 3);
    long pages = mode == "many-tools" ? 10 : std::max(1L, queryInt(r, "pages", 1));
    std::string cursor = unquote(jsonField(r.body, "cursor"));
    long page =
        cursor.size() > 1 && cursor[0] == 'p' ? std::strtol(cursor.c_str() + 1, nullptr, 10) : 0;
    auto prefix = r.query.find("prefix");
    std::string named;
    if (prefix != r.query.end()) {
      for (char ch : prefix->second) {
        if (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_') {
          named += ch;  // a valid tool name, whatever the query says
        }
      }
      named += '-';
    }
    answerJson(c, r, 200, "OK", rpcResult(id, toolsPage(tools, pages, page, named)));
    return;
  }
  if (method == "ping") {
    answerJson(c, r, 200, "OK", rpcResult(id, "{}"));
    return;
  }
  answerJson(c, r, 200, "OK",
             "{\"jsonrpc\":\"2.0\",\"id\":" + id +
                 ",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}");
}

// Parses every complete request in c->in. False when the input is not HTTP.
bool parseRequests(Conn* c) {
  while (!c->silent && !c->closing) {
    size_t end = c->in.find("\r\n\r\n");
    if (end == std::string::npos) {
      return c->in.size() < 64 * 1024;
    }
    std::string_view headers(c->in.data(), end);
    size_t sp1 = headers.find(' ');
    size_t sp2 = headers.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos) {
      return false;
    }
    Request r;
    r.raw = std::string(headers);
    r.method = std::string(headers.substr(0, sp1));
    std::string target(headers.substr(sp1 + 1, sp2 - sp1 - 1));
    std::string path = target.substr(0, target.find('?'));
    r.path = path.substr(path.rfind('/') + 1);
    if (size_t q = target.find('?'); q != std::string::npos) {
      std::string qs = target.substr(q + 1);
      size_t start = 0;
      while (start < qs.size()) {
        size_t amp = qs.find('&', start);
        std::string kv = qs.substr(start, amp - start);
        size_t eq = kv.find('=');
        r.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
        start = amp == std::string::npos ? qs.size() : amp + 1;
      }
    }
    size_t length = 0;
    std::string lower(headers);
    for (auto& ch : lower) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (size_t cl = lower.find("\r\ncontent-length:"); cl != std::string::npos) {
      length = std::strtoul(lower.c_str() + cl + 17, nullptr, 10);
    }
    if (length > 1024 * 1024) {
      return false;
    }
    if (c->in.size() < end + 4 + length) {
      return true;  // the body is still coming
    }
    r.body = c->in.substr(end + 4, length);
    c->in.erase(0, end + 4 + length);
    handle(c, r);
  }
  return true;
}

void closeConn(Conn* c) {
  if (c->closing) {
    return;
  }
  c->closing = true;
  uv_timer_stop(&c->timer);
  auto onClose = [](uv_handle_t* h) {
    auto* conn = static_cast<Conn*>(h->data);
    if (--conn->open == 0) {
      delete conn;
    }
  };
  c->tcp.data = c;
  c->timer.data = c;
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), onClose);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), onClose);
}

void onConnection(uv_stream_t* server, int status) {
  if (status != 0) {
    return;
  }
  auto* c = new Conn;
  uv_tcp_init(gLoop, &c->tcp);
  uv_timer_init(gLoop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    closeConn(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char block[64 * 1024];
        *buf = uv_buf_init(block, sizeof block);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(s->data);
        if (n < 0) {
          closeConn(c);
          return;
        }
        if (c->silent) {
          return;  // read and forget
        }
        c->in.append(buf->base, static_cast<size_t>(n));
        if (!parseRequests(c)) {
          closeConn(c);
        }
      });
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      port = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: mcp-fault-server [--port N]\n");
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  hugePad(64);
  gLoop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(gLoop, &server);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", port, &addr);
  if (int rc = uv_tcp_bind(&server, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
    std::fprintf(stderr, "mcp-fault-server: bind 127.0.0.1:%d: %s\n", port, uv_strerror(rc));
    return 1;
  }
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 1024, onConnection); rc != 0) {
    std::fprintf(stderr, "mcp-fault-server: listen: %s\n", uv_strerror(rc));
    return 1;
  }
  sockaddr_storage bound{};
  int len = sizeof bound;
  uv_tcp_getsockname(&server, reinterpret_cast<sockaddr*>(&bound), &len);
  std::printf("listening on %d\n", ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port));
  std::fflush(stdout);
  return uv_run(gLoop, UV_RUN_DEFAULT);
}
