#include "dashboard/dashboard.hpp"

#include <simdjson.h>

#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "dashboard/assets.hpp"
#include "dashboard/request_policy.hpp"
#include "dashboard/sse_event.hpp"
#include "registry/validate.hpp"

namespace mcphd::dashboard {

namespace {

constexpr const char* kJson = "application/json";
constexpr int64_t kConfirmWaitMs = 5'000;  // for Redis to confirm a SUBSCRIBE

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
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

http::ServerResponse response(int status, std::string contentType, std::string body) {
  http::ServerResponse r;
  r.status = status;
  r.contentType = std::move(contentType);
  r.body = std::move(body);
  return r;
}

http::ServerResponse jsonError(int status, std::string_view message) {
  std::string body = "{\"error\":";
  json::appendString(body, message);
  body += "}\n";
  return response(status, kJson, std::move(body));
}

// The id of /api/tools/<id> and /api/check/<id>: as sent, or "*" written as %2A.
std::string pathId(std::string_view rest) {
  if (rest == "%2A" || rest == "%2a") {
    return "*";
  }
  return std::string(rest);
}

}  // namespace

Dashboard::Dashboard(redis::Commands& redis, redis::Subscriber& events, loop::TimerFactory& timers,
                     Options options)
    : redis_(redis),
      events_(events),
      options_(std::move(options)),
      keepalive_(timers.createTimer()),
      confirmWait_(timers.createTimer()) {}

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
    confirmWait_->stop();
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
        confirmWait_->stop();
        subscribed_ = true;
        broadcast(sseEvent("redis", "{\"redis\":\"connected\"}"));
      });
  if (!sent) {
    log::warn("dashboard: cannot subscribe to " + options_.keys.healthChannel() +
              "; the page shows no live updates until Redis reconnects");
    return;
  }
  confirmWait_->start(kConfirmWaitMs, [this] {
    log::error("dashboard: Redis did not confirm the subscription to " +
               options_.keys.healthChannel() + " and " + options_.keys.toolsChannel() + " within " +
               std::to_string(kConfirmWaitMs) +
               " ms; the page shows no live updates (does the Redis user have those channels?)");
  });
}

void Dashboard::onMessage(const std::string& channel, const std::string& payload) {
  if (streams_.empty()) {
    return;
  }
  std::string frame =
      sseEvent(channel == options_.keys.toolsChannel() ? "tools" : "health", payload);
  if (frame.size() > options_.maxEventBytes) {
    // Whoever can publish can send this as often as they like: logged at the first and then at
    // every 1,000th.
    if (eventsDropped_++ % 1000 == 0) {
      log::warn("dashboard: a message on " + channel + " is over " +
                std::to_string(options_.maxEventBytes) + " bytes as an event; not relayed (" +
                std::to_string(eventsDropped_) + " so far)");
    }
    // The pages missed a message: they read the snapshot again.
    broadcast(sseEvent("resync", "{}"));
    return;
  }
  broadcast(frame);
}

void Dashboard::resyncPages() {
  if (subscribed_) {  // otherwise pages read it when the subscription is back
    broadcast(sseEvent("resync", "{}"));
  }
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
  if (startsWith(path, "/api/") && !sameOrigin(request)) {
    // Another site's page may link to the dashboard, but not read from it, hold its streams or
    // make it read Redis for it.
    exchange->respond(jsonError(403, "refused: the request comes from another site's page"));
    return;
  }
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
        exchange->respond(response(200, std::string(contentType(a.path)), std::string(a.bytes)));
        return;
      }
    }
    exchange->respond(jsonError(404, "not found: the dashboard is at /"));
  }
}

void Dashboard::serveEvents(const http::ServerRequest& request,
                            const std::shared_ptr<http::Exchange>& exchange) {
  http::ServerResponse head = response(200, "text/event-stream", "");
  head.headers.emplace_back("X-Accel-Buffering", "no");
  if (request.method == "HEAD") {
    exchange->respond(std::move(head));
    return;
  }
  head.body = "retry: 1000\n\n" + sseEvent("hello", helloJson());
  if (exchange->openStream(std::move(head))) {
    streams_.push_back(exchange);
    return;
  }
  auto busy = jsonError(503, "too many event streams are open (dashboard.max_streams); try again");
  busy.headers.emplace_back("Retry-After", "5");
  exchange->respond(std::move(busy));
}

void Dashboard::read(const std::string& key, std::vector<std::string> command,
                     const std::shared_ptr<http::Exchange>& exchange, BuildAnswer build) {
  if (auto it = reads_.find(key); it != reads_.end()) {
    it->second.push_back(exchange);
    return;
  }
  if (!redis_.ready()) {
    exchange->respond(jsonError(503, "redis is not connected"));
    return;
  }
  if (reads_.size() >= options_.maxPendingReads) {
    exchange->respond(jsonError(503, "busy: too many reads waiting for Redis; try again"));
    return;
  }
  reads_[key].push_back(exchange);
  const bool sent = redis_.command(
      std::move(command), [this, key, build = std::move(build)](Result<redis::Reply> reply) {
        auto it = reads_.find(key);
        if (it == reads_.end()) {
          return;
        }
        std::vector<std::shared_ptr<http::Exchange>> waiting = std::move(it->second);
        reads_.erase(it);
        http::ServerResponse answer = build(std::move(reply));
        if (waiting.size() > 1 && !answer.body.empty()) {
          // One copy of a large body for everyone waiting for it.
          answer.sharedBody = std::make_shared<const std::string>(std::move(answer.body));
          answer.body.clear();
        }
        for (const auto& e : waiting) {
          e->respond(answer);
        }
      });
  if (!sent) {
    reads_.erase(key);
    exchange->respond(jsonError(503, "redis is not connected"));
  }
}

namespace {

// The status hash with every value over ARGV[1] bytes replaced by nil, or an error when the
// whole is over ARGV[2] bytes: what the daemon reads of it is bounded whatever Redis holds.
constexpr const char* kReadStatusScript = R"lua(
local maxValue, maxTotal = tonumber(ARGV[1]), tonumber(ARGV[2])
local all = redis.call('HGETALL', KEYS[1])
local total = 0
for i = 2, #all, 2 do
  local n = string.len(all[i])
  if n > maxValue then all[i] = false; n = 0 end
  total = total + n + string.len(all[i - 1])
  if total > maxTotal then
    return redis.error_reply('the status hash is over ' .. maxTotal .. ' bytes')
  end
end
return all
)lua";

// The tool snapshot, nil when there is none, or an error when it is over ARGV[1] bytes.
constexpr const char* kReadToolsScript = R"lua(
local n = redis.call('STRLEN', KEYS[1])
if n > tonumber(ARGV[1]) then
  return redis.error_reply('the tool snapshot is ' .. n .. ' bytes, over the limit of ' .. ARGV[1])
end
return redis.call('GET', KEYS[1])
)lua";

std::string replyError(const Result<redis::Reply>& r) {
  if (!r) {
    return r.error().message;
  }
  return r->type == redis::Reply::Type::kError ? r->str : std::string("unexpected reply");
}

}  // namespace

void Dashboard::serveStatus(const std::shared_ptr<http::Exchange>& exchange) {
  read(options_.keys.status(),
       {"EVAL", kReadStatusScript, "1", options_.keys.status(),
        std::to_string(options_.maxStatusEntryBytes), std::to_string(options_.maxStatusBytes)},
       exchange, [this](Result<redis::Reply> r) { return statusAnswer(std::move(r)); });
}

http::ServerResponse Dashboard::statusAnswer(Result<redis::Reply> r) const {
  if (!r || r->type != redis::Reply::Type::kArray) {
    return jsonError(!r ? 503 : 502,
                     "cannot read " + options_.keys.status() + ": " + replyError(r));
  }
  std::string body = "{\"redis\":\"connected\",\"writable\":";
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
    const redis::Reply& value = e[i + 1];
    simdjson::dom::element doc;
    std::string why;
    if (value.type != redis::Reply::Type::kString) {
      why = "over " + std::to_string(options_.maxStatusEntryBytes) + " bytes";
    } else if (auto err = parser.parse(value.str).get(doc); err != simdjson::SUCCESS) {
      why = simdjson::error_message(err);
    } else if (!doc.is_object()) {
      why = "not a JSON object";
    }
    if (!why.empty()) {
      invalid += invalid.empty() ? "{\"server_id\":" : ",{\"server_id\":";
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
    body += value.str;  // validated above: one JSON object and nothing else
  }
  body += "},\"invalid\":[" + invalid + "]}\n";
  return response(200, kJson, std::move(body));
}

void Dashboard::serveTools(std::string_view id, const std::shared_ptr<http::Exchange>& exchange) {
  if (!registry::isServerId(id)) {
    exchange->respond(jsonError(400, "not a server id ([A-Za-z0-9._-]{1,128})"));
    return;
  }
  const std::string key = options_.keys.tools(id);
  read(key, {"EVAL", kReadToolsScript, "1", key, std::to_string(options_.maxToolsBytes)}, exchange,
       [this, id = std::string(id)](Result<redis::Reply> r) {
         return toolsAnswer(id, std::move(r));
       });
}

http::ServerResponse Dashboard::toolsAnswer(const std::string& id, Result<redis::Reply> r) const {
  const std::string key = options_.keys.tools(id);
  if (!r || r->type == redis::Reply::Type::kError) {
    return jsonError(!r ? 503 : 502, "cannot read " + key + ": " + replyError(r));
  }
  if (r->type != redis::Reply::Type::kString) {
    return jsonError(
        404, "no tool snapshot for '" + id + "' (not checked yet, or its tools/list failed)");
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r->str).get(doc) != simdjson::SUCCESS || !doc.is_object()) {
    return jsonError(502, key + " does not hold a JSON object");
  }
  return response(200, kJson, std::move(r->str));
}

void Dashboard::serveCheck(const http::ServerRequest& request, std::string_view id,
                           const std::shared_ptr<http::Exchange>& exchange) {
  if (options_.token.empty()) {
    exchange->respond(
        jsonError(403, "read-only: the daemon has no dashboard.token_file, so rechecks are off"));
    return;
  }
  if (!bearerMatches(request, options_.token)) {
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
      options_.keys.addCommand("check", id),
      [exchange, id = std::string(id)](Result<redis::Reply> r) {
        if (!r || r->type != redis::Reply::Type::kString) {
          exchange->respond(jsonError(
              503, "cannot write the check command: " + (!r ? r.error().message
                                                         : r->type == redis::Reply::Type::kError
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
        exchange->respond(response(202, kJson, std::move(body)));
      });
  if (!sent) {
    exchange->respond(jsonError(503, "redis is not connected"));
  }
}

}  // namespace mcphd::dashboard
