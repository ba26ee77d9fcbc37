#include "dashboard/dashboard.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <simdjson.h>

#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/sha256.hpp"
#include "dashboard/assets.hpp"
#include "registry/validate.hpp"

namespace mcphd::dashboard {

namespace {

constexpr const char* kJson = "application/json";

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "host:port" -> "host" (an IPv6 literal keeps its brackets).
std::string_view hostPart(std::string_view hostPort) {
  if (!hostPort.empty() && hostPort.front() == '[') {
    size_t close = hostPort.find(']');
    return close == std::string_view::npos ? hostPort : hostPort.substr(0, close + 1);
  }
  return hostPort.substr(0, hostPort.find(':'));
}

std::string_view contentType(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.substr(path.size() - ext.size()) == ext;
  };
  if (ends(".html")) {
    return "text/html; charset=utf-8";
  }
  if (ends(".js")) {
    return "text/javascript; charset=utf-8";
  }
  if (ends(".css")) {
    return "text/css; charset=utf-8";
  }
  if (ends(".svg")) {
    return "image/svg+xml";
  }
  if (ends(".png")) {
    return "image/png";
  }
  return "application/octet-stream";
}

http::ServerResponse respond(int status, std::string contentType, std::string body) {
  http::ServerResponse r;
  r.status = status;
  r.contentType = std::move(contentType);
  r.body = std::move(body);
  r.headers = securityHeaders();
  return r;
}

http::ServerResponse jsonError(int status, std::string_view message) {
  std::string body = "{\"error\":";
  json::appendString(body, message);
  body += "}\n";
  return respond(status, kJson, std::move(body));
}

// The id of /api/tools/<id> and /api/check/<id>: as sent, or "*" written as %2A.
std::string pathId(std::string_view rest) {
  if (rest == "%2A" || rest == "%2a") {
    return "*";
  }
  return std::string(rest);
}

}  // namespace

const http::HeaderList& securityHeaders() {
  static const http::HeaderList headers = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
      {"X-Content-Type-Options", "nosniff"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Frame-Options", "DENY"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
  };
  return headers;
}

bool hostAllowed(std::string_view hostHeader, std::string_view listen,
                 const std::vector<std::string>& allowedHosts) {
  const std::string host = lower(hostHeader);
  if (host.empty()) {
    return false;
  }
  const std::string self = lower(listen);
  if (!hostPart(self).empty()) {
    if (host == self) {
      return true;
    }
    // Browsers leave out the default port.
    if (self.size() > 3 && self.substr(self.size() - 3) == ":80" && host == hostPart(self)) {
      return true;
    }
  }
  for (const auto& allowed : allowedHosts) {
    const bool hasPort = hostPart(allowed).size() != allowed.size();
    if (hasPort ? host == allowed : hostPart(host) == allowed) {
      return true;
    }
  }
  return false;
}

bool sameOrigin(const http::ServerRequest& request) {
  if (const std::string* site = request.header("sec-fetch-site");
      site != nullptr && *site != "same-origin" && *site != "none") {
    return false;
  }
  const std::string* origin = request.header("origin");
  if (origin == nullptr) {
    return true;
  }
  const std::string* host = request.header("host");
  return host != nullptr && lower(*origin) == "http://" + lower(*host);
}

std::string sseEvent(std::string_view name, std::string_view data) {
  std::string out;
  out.reserve(data.size() + name.size() + 16);
  out.append("event: ").append(name).append("\n");
  size_t pos = 0;
  while (true) {
    size_t end = data.find_first_of("\r\n", pos);
    out.append("data: ").append(data.substr(pos, end - pos)).append("\n");
    if (end == std::string_view::npos) {
      break;
    }
    pos = end + (data.compare(end, 2, "\r\n") == 0 ? 2 : 1);
  }
  out.append("\n");
  return out;
}

Dashboard::Dashboard(redis::Commands& redis, redis::Subscriber& events, loop::TimerFactory& timers,
                     Options options)
    : redis_(redis),
      events_(events),
      options_(std::move(options)),
      keepalive_(timers.createTimer()) {}

void Dashboard::start() {
  events_.onReadyChange([this](bool ready) { onEventsReady(ready); });
  if (events_.ready()) {
    onEventsReady(true);
  }
  keepalive();
}

void Dashboard::keepalive() {
  broadcast(": keepalive\n\n");
  keepalive_->start(options_.keepaliveMs, [this] { keepalive(); });
}

void Dashboard::onEventsReady(bool ready) {
  if (!ready) {
    if (subscribed_) {
      subscribed_ = false;
      broadcast(sseEvent("redis", "{\"redis\":\"disconnected\"}"));
    }
    return;
  }
  const bool sent = events_.subscribe(
      {options_.keys.healthChannel(), options_.keys.toolsChannel()},
      [this](const std::string& channel, const std::string& payload) {
        onMessage(channel, payload);
      },
      [this] {
        // Only now is nothing published missed: pages re-read the snapshot when told.
        subscribed_ = true;
        broadcast(sseEvent("redis", "{\"redis\":\"connected\"}"));
      });
  if (!sent) {
    log::warn("dashboard: cannot subscribe to " + options_.keys.healthChannel() +
              "; the page shows no live updates until Redis reconnects");
  }
}

void Dashboard::onMessage(const std::string& channel, const std::string& payload) {
  if (payload.size() > options_.maxMessageBytes) {
    log::warn("dashboard: a message of " + std::to_string(payload.size()) + " bytes on " +
              channel + " is over " + std::to_string(options_.maxMessageBytes) +
              " bytes; not relayed");
    return;
  }
  if (streams_.empty()) {
    return;
  }
  broadcast(sseEvent(channel == options_.keys.toolsChannel() ? "tools" : "health", payload));
}

void Dashboard::broadcast(const std::string& frame) {
  // A write may close its stream (a client too far behind): closed ones are dropped after.
  for (const auto& s : streams_) {
    s->write(frame);
  }
  std::erase_if(streams_, [](const auto& s) { return !s->open(); });
}

std::string Dashboard::helloJson() const {
  return std::string("{\"redis\":\"") + (subscribed_ ? "connected" : "disconnected") +
         "\",\"writable\":" + (options_.token.empty() ? "false" : "true") + "}";
}

void Dashboard::handle(const http::ServerRequest& request,
                       const std::shared_ptr<http::Exchange>& exchange) {
  const std::string* host = request.header("host");
  if (host == nullptr || !hostAllowed(*host, options_.listen, options_.allowedHosts)) {
    exchange->respond(jsonError(
        403, "Host '" + (host == nullptr ? std::string() : *host) +
                 "' is not this dashboard's address (" + options_.listen +
                 "); reach it by that address or add the name to dashboard.allowed_hosts"));
    return;
  }
  const std::string_view path = request.path;
  const bool get = request.method == "GET" || request.method == "HEAD";
  if (startsWith(path, "/api/check/")) {
    if (request.method != "POST") {
      auto r = jsonError(405, "use POST");
      r.headers.emplace_back("Allow", "POST");
      exchange->respond(std::move(r));
      return;
    }
    serveCheck(request, pathId(path.substr(11)), exchange);
    return;
  }
  if (!get) {
    auto r = jsonError(405, "use GET");
    r.headers.emplace_back("Allow", "GET, HEAD");
    exchange->respond(std::move(r));
    return;
  }
  if (path == "/api/events") {
    serveEvents(request, exchange);
  } else if (path == "/api/status") {
    serveStatus(exchange);
  } else if (startsWith(path, "/api/tools/")) {
    serveTools(path.substr(11), exchange);
  } else {
    const std::string_view file = path == "/" ? std::string_view("/index.html") : path;
    for (const Asset& a : assets()) {
      if (a.path == file) {
        exchange->respond(respond(200, std::string(contentType(a.path)), std::string(a.bytes)));
        return;
      }
    }
    exchange->respond(jsonError(404, "not found: the dashboard is at /"));
  }
}

void Dashboard::serveEvents(const http::ServerRequest& request,
                            const std::shared_ptr<http::Exchange>& exchange) {
  http::ServerResponse head = respond(200, "text/event-stream", "");
  head.headers.emplace_back("X-Accel-Buffering", "no");
  if (request.method == "HEAD") {
    exchange->respond(std::move(head));
    return;
  }
  head.body = "retry: 1000\n\n" + sseEvent("hello", helloJson());
  if (exchange->openStream(std::move(head))) {
    streams_.push_back(exchange);
  }
}

void Dashboard::serveStatus(const std::shared_ptr<http::Exchange>& exchange) {
  if (!redis_.ready()) {
    exchange->respond(jsonError(503, "redis is not connected"));
    return;
  }
  if (pendingReads_ >= options_.maxPendingReads) {
    exchange->respond(jsonError(503, "busy: too many reads waiting for Redis; try again"));
    return;
  }
  ++pendingReads_;
  const bool sent = redis_.command(
      {"HGETALL", options_.keys.status()}, [this, exchange](Result<redis::Reply> r) {
        --pendingReads_;
        if (!r || r->type != redis::Reply::Type::kArray) {
          exchange->respond(jsonError(
              503, "cannot read " + options_.keys.status() + ": " +
                       (!r ? r.error().message
                           : r->type == redis::Reply::Type::kError ? r->str : "not a hash")));
          return;
        }
        std::string body = "{\"redis\":\"";
        body += redis_.ready() ? "connected" : "disconnected";
        body += "\",\"writable\":";
        body += options_.token.empty() ? "false" : "true";
        body += ",\"prefix\":";
        json::appendString(body, options_.keys.prefix());
        body += ",\"servers\":{";
        std::string invalid;
        simdjson::dom::parser parser;
        const auto& e = r->elements;
        bool first = true;
        for (size_t i = 0; i + 1 < e.size(); i += 2) {
          const std::string& id = e[i].str;
          const std::string& message = e[i + 1].str;
          simdjson::dom::element doc;
          const char* why = nullptr;
          if (auto err = parser.parse(message).get(doc); err != simdjson::SUCCESS) {
            why = simdjson::error_message(err);
          } else if (!doc.is_object()) {
            why = "not a JSON object";
          }
          if (why != nullptr) {
            invalid += invalid.empty() ? "" : ",";
            invalid += "{\"server_id\":";
            json::appendString(invalid, id);
            invalid += ",\"error\":";
            json::appendString(invalid, why);
            invalid += "}";
            continue;
          }
          body += first ? "" : ",";
          first = false;
          json::appendString(body, id);
          body += ":";
          body += message;  // validated above: one JSON object
        }
        body += "},\"invalid\":[" + invalid + "]}\n";
        exchange->respond(respond(200, kJson, std::move(body)));
      });
  if (!sent) {
    --pendingReads_;
    exchange->respond(jsonError(503, "redis is not connected"));
  }
}

void Dashboard::serveTools(std::string_view id, const std::shared_ptr<http::Exchange>& exchange) {
  if (!registry::isServerId(id)) {
    exchange->respond(jsonError(400, "not a server id ([A-Za-z0-9._-]{1,128})"));
    return;
  }
  if (!redis_.ready()) {
    exchange->respond(jsonError(503, "redis is not connected"));
    return;
  }
  if (pendingReads_ >= options_.maxPendingReads) {
    exchange->respond(jsonError(503, "busy: too many reads waiting for Redis; try again"));
    return;
  }
  ++pendingReads_;
  std::string key = options_.keys.tools(id);
  const bool sent = redis_.command(
      {"GET", key}, [this, exchange, key, id = std::string(id)](Result<redis::Reply> r) {
        --pendingReads_;
        if (!r || r->type == redis::Reply::Type::kError) {
          exchange->respond(
              jsonError(503, "cannot read " + key + ": " + (!r ? r.error().message : r->str)));
        } else if (r->type != redis::Reply::Type::kString) {
          exchange->respond(jsonError(404, "no tool snapshot for '" + id +
                                               "' (not checked yet, or its tools/list failed)"));
        } else {
          simdjson::dom::parser parser;
          simdjson::dom::element doc;
          if (parser.parse(r->str).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
            exchange->respond(jsonError(502, key + " does not hold a JSON object"));
          } else {
            exchange->respond(respond(200, kJson, std::move(r->str)));
          }
        }
      });
  if (!sent) {
    --pendingReads_;
    exchange->respond(jsonError(503, "redis is not connected"));
  }
}

bool Dashboard::tokenMatches(const http::ServerRequest& request) const {
  const std::string* auth = request.header("authorization");
  if (auth == nullptr || auth->size() < 7 || lower(auth->substr(0, 7)) != "bearer ") {
    return false;
  }
  // Compared as digests, in constant time: neither the length nor a prefix shows in the timing.
  const Sha256 sent = sha256(std::string_view(*auth).substr(7));
  const Sha256 want = sha256(options_.token.reveal());
  return sodium_memcmp(sent.data(), want.data(), sent.size()) == 0;
}

void Dashboard::serveCheck(const http::ServerRequest& request, std::string_view id,
                           const std::shared_ptr<http::Exchange>& exchange) {
  if (!sameOrigin(request)) {
    exchange->respond(jsonError(403, "refused: the request comes from another site's page"));
    return;
  }
  if (options_.token.empty()) {
    exchange->respond(jsonError(
        403, "read-only: the daemon has no dashboard.token_file, so rechecks are off"));
    return;
  }
  if (!tokenMatches(request)) {
    auto r = jsonError(401, "a valid bearer token is needed (the content of dashboard.token_file)");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"mcp-healthd\"");
    exchange->respond(std::move(r));
    return;
  }
  if (id != "*" && !registry::isServerId(id)) {
    exchange->respond(jsonError(400, "not a server id ([A-Za-z0-9._-]{1,128}) or *"));
    return;
  }
  const bool sent = redis_.command(
      {"XADD", options_.keys.commands(), "MAXLEN", "~", "10000", "*", "op", "check", "server_id",
       std::string(id)},
      [exchange, id = std::string(id)](Result<redis::Reply> r) {
        if (!r || r->type != redis::Reply::Type::kString) {
          exchange->respond(jsonError(
              503, "cannot write the check command: " +
                       (!r ? r.error().message : r->type == redis::Reply::Type::kError
                                                     ? r->str
                                                     : std::string("unexpected reply"))));
          return;
        }
        log::info("dashboard: check " + id + " requested (command " + r->str + ")");
        std::string body = "{\"command_id\":";
        json::appendString(body, r->str);
        body += ",\"server_id\":";
        json::appendString(body, id);
        body += "}\n";
        exchange->respond(respond(202, kJson, std::move(body)));
      });
  if (!sent) {
    exchange->respond(jsonError(503, "redis is not connected"));
  }
}

}  // namespace mcphd::dashboard
