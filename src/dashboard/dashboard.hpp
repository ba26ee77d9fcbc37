#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/secret.hpp"
#include "dashboard/request_policy.hpp"
#include "dashboard/sse_event.hpp"
#include "http/http_server.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/timer.hpp"
#include "redis/commands.hpp"
#include "redis/subscriber.hpp"

namespace mcphd::dashboard {

// The live page and its API (docs/PROTOCOL.md, "Dashboard"): the page's files, GET /api/status
// (the status hash), GET /api/events (every message of the health and tools channels, relayed
// from a subscription of the daemon's own, as Server-Sent Events), GET /api/tools/<id> and
// POST /api/check/<id|*> (a `check` command, for the holder of the bearer token).
struct Options {
  keyspace::Keyspace keys;
  std::string listen;                     // dashboard.listen: the Host the page is reached by
  std::vector<std::string> allowedHosts;  // other Host values accepted (lower case)
  Secret token;                           // the bearer token of writes; empty: read-only
  int64_t keepaliveMs = 15'000;           // a comment line on every stream this often
  // Reads of the status hash or a tool snapshot waiting for Redis, each answering every request
  // for the same key that arrives meanwhile; one more gets 503.
  size_t maxPendingReads = 4;
  size_t maxStatusEntryBytes = 64 * 1024;  // a larger status value is listed as invalid
  size_t maxStatusBytes = 32 << 20;        // a larger status hash is not read (502)
  size_t maxToolsBytes = 32 << 20;         // a larger tool snapshot is not read (502)
  size_t maxEventBytes = 1 << 20;          // a larger event (as framed) is not relayed
};

class Dashboard {
 public:
  // `redis` reads the status hash and tool snapshots and writes commands (a connection of the
  // dashboard's own, so that a large read never holds up the publisher's writes); `events` is
  // the connection of the subscription.
  Dashboard(redis::Commands& redis, redis::Subscriber& events, loop::TimerFactory& timers,
            Options options);
  Dashboard(const Dashboard&) = delete;
  Dashboard& operator=(const Dashboard&) = delete;

  // Subscribes whenever the events connection is ready and starts the keepalive.
  void start();
  // Answers one request (any path: the caller routes /metrics and /healthz elsewhere when one
  // listener serves both). May answer later (after a Redis reply), or keep a stream open.
  void handle(const http::ServerRequest& request, const std::shared_ptr<http::Exchange>& exchange);
  // SIGHUP: a token file's new content applies to the next request.
  void setToken(Secret token) { options_.token = std::move(token); }

  // Open pages read the snapshot again: the daemon's state is back in the status hash after a
  // Redis restart (a page that read it when the subscription returned may have missed servers).
  void resyncPages();

  size_t streams() const { return streams_.size(); }

 private:
  void onEventsReady(bool ready);
  void onMessage(const std::string& channel, const std::string& payload);
  void broadcast(const std::string& frame);
  void keepalive();
  void serveEvents(const http::ServerRequest& request,
                   const std::shared_ptr<http::Exchange>& exchange);
  void serveStatus(const std::shared_ptr<http::Exchange>& exchange);
  void serveTools(std::string_view id, const std::shared_ptr<http::Exchange>& exchange);
  // One read per key at a time: a request for a key being read waits for that read. `build`
  // turns the reply into the answer every waiting request gets.
  using BuildAnswer = std::function<http::ServerResponse(Result<redis::Reply>)>;
  void read(const std::string& key, std::vector<std::string> command,
            const std::shared_ptr<http::Exchange>& exchange, BuildAnswer build);
  http::ServerResponse statusAnswer(Result<redis::Reply> reply) const;
  http::ServerResponse toolsAnswer(const std::string& id, Result<redis::Reply> reply) const;
  void serveCheck(const http::ServerRequest& request, std::string_view id,
                  const std::shared_ptr<http::Exchange>& exchange);
  std::string helloJson() const;

  redis::Commands& redis_;
  redis::Subscriber& events_;
  Options options_;
  std::unique_ptr<loop::Timer> keepalive_;
  std::unique_ptr<loop::Timer> confirmWait_;  // says so when Redis never confirms the subscription
  std::vector<std::shared_ptr<http::Exchange>> streams_;
  bool subscribed_ = false;  // the subscription is confirmed: nothing published is missed
  std::map<std::string, std::vector<std::shared_ptr<http::Exchange>>> reads_;  // key -> waiting
  uint64_t eventsDropped_ = 0;  // events over maxEventBytes (logged at the first, then rarely)
};

}  // namespace mcphd::dashboard
