#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "common/result.hpp"
#include "loop/uv_loop.hpp"
#include "redis/redis_client.hpp"
#include "redis/redis_url.hpp"

namespace mcphd::redis {

// Redis Sentinel (docs/PROTOCOL.md, "Redis Sentinel"): which server is the master that the
// sentinels know as `masterName`, and when that changes. It keeps two connections to every
// sentinel: one to ask (SENTINEL get-master-addr-by-name), one subscribed to +switch-master. The
// RedisClients of a daemon share one (RedisClient::useSentinels): each asks it for the master
// before every connect, and reconnects at once when a sentinel announces another master.
// Sentinels are reached without a password (Sentinel's own requirepass is not supported).
class SentinelWatch {
 public:
  SentinelWatch(loop::UvLoop& loop, std::vector<HostPort> sentinels, std::string masterName,
                Random& random);
  ~SentinelWatch() = default;
  SentinelWatch(const SentinelWatch&) = delete;
  SentinelWatch& operator=(const SentinelWatch&) = delete;

  void start();
  // Closes every connection to the sentinels; `done` runs once they are gone.
  void shutdown(int64_t graceMs, std::function<void()> done);

  // Asks the sentinels for the master, from the one that answered last on, each in turn until
  // one names it. An ask made while one is under way joins it. `done` gets an error that says
  // what to check when none answers within kAskTimeoutMs (never from inside this call).
  void master(std::function<void(Result<HostPort>)> done);
  // `named` is no master (its ROLE says so): when it is what the last answer named, the next ask
  // starts with the sentinel after the one that named it (that one may lag behind a failover).
  // Once per answer: the daemon's connections that all went to `named` move past it once, not
  // round the sentinels and back to it.
  void distrust(const HostPort& named);
  // Runs with the new master whenever a sentinel announces one (+switch-master of this name);
  // the returned id removes it.
  size_t onSwitch(std::function<void(const HostPort&)> listener);
  void removeListener(size_t id);

  const std::string& masterName() const { return masterName_; }
  // How many +switch-master announcements of this master were received.
  uint64_t switches() const { return switches_; }

  static constexpr int64_t kAskTimeoutMs = 3000;
  // One sentinel gets this long to answer before the next is asked: a sentinel that is connected
  // but hung does not hold up the others until its connection times out. (An address it names
  // later is still taken, if no other came first.)
  static constexpr int64_t kSentinelAnswerMs = 1000;

 private:
  struct Link {
    HostPort address;
    std::unique_ptr<RedisClient> ask;
    std::unique_ptr<RedisClient> events;
  };
  void askNext(uint64_t round, size_t tried);
  void finish(Result<HostPort> r);
  void onEvent(const std::string& payload);

  loop::UvLoop& loop_;
  std::string masterName_;
  std::vector<Link> links_;
  size_t next_ = 0;                    // the sentinel to ask first: the one that answered last
  std::optional<HostPort> lastNamed_;  // what it answered, until distrusted
  std::vector<std::function<void(Result<HostPort>)>> waiting_;
  uint64_t round_ = 0;    // numbers asks: a reply of an abandoned one is dropped
  uint64_t attempt_ = 0;  // numbers the questions to single sentinels, likewise
  bool asking_ = false;
  bool stopped_ = false;  // shutdown() began: nothing is asked any more
  int64_t askStartedMs_ = 0;
  std::string lastError_;
  std::unique_ptr<loop::Timer> retry_;
  std::unique_ptr<loop::Timer> answerTimer_;  // kSentinelAnswerMs for the sentinel asked
  std::vector<std::pair<size_t, std::function<void(const HostPort&)>>> listeners_;
  size_t nextListener_ = 0;
  uint64_t switches_ = 0;
  std::optional<HostPort> announced_;  // the last new master announced (every sentinel does)
};

}  // namespace mcphd::redis
