#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "loop/uv_loop.hpp"
#include "redis/commands.hpp"
#include "redis/redis_url.hpp"
#include "redis/subscriber.hpp"

struct redisAsyncContext;
struct redisReply;

namespace mcphd::redis {

class SentinelWatch;

// One hiredis async connection on the loop with reconnects (backoff 100 ms doubling to 10 s, with
// jitter), its own connect timeout and command timeout (hiredis 0.14's libuv adapter arms none),
// and AUTH/SELECT on every connect. hiredis owns the redisAsyncContext and frees it after the
// disconnect callback: we keep a non-owning pointer and null it there. Destroying a client drops
// the replies still pending: their callbacks never run (as an http::Call that is destroyed).
class RedisClient final : public Commands, public Subscriber {
 public:
  // `name` tells connections apart in logs ("redis", "redis commands").
  RedisClient(loop::UvLoop& loop, Endpoint endpoint, Random& random, std::string name = "redis");
  ~RedisClient() override;
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // Redis Sentinel, before start(): before every connect the master is asked of `sentinels`
  // (which must outlive this client), a server that says it is no master (ROLE) or refuses a
  // write as a replica (READONLY) is left for the master named then, and a switch of master
  // announced by a sentinel makes it reconnect at once.
  void useSentinels(SentinelWatch& sentinels);

  void start();
  // Flushes what was sent, then disconnects; `done` runs once the connection is gone (at most
  // `graceMs` later).
  void shutdown(int64_t graceMs, std::function<void()> done);

  bool ready() const override { return ready_; }
  bool command(std::vector<std::string> argv, std::function<void(Result<Reply>)> done) override;
  bool commandArgs(std::span<const std::string_view> argv,
                   std::function<void(Result<Reply>)> done) override;
  // Puts the connection in pub/sub mode: after this, command() must not be used on it (hiredis
  // would hold their callbacks until the subscription ends).
  bool subscribe(std::vector<std::string> channels, MessageHandler onMessage,
                 std::function<void()> subscribed) override;
  size_t unsentBytes() const override;
  void onWritten(std::function<void()> listener) override { written_ = std::move(listener); }
  // Called by the libuv binding after hiredis wrote to the socket.
  void afterWrite() {
    if (written_) {
      written_();
    }
  }
  void onReadyChange(std::function<void(bool)> listener) override {
    listener_ = std::move(listener);
  }

  uint64_t reconnects() const { return reconnects_; }
  // Where it connects, without the password: for log lines.
  std::string display() const { return endpoint_.display(); }

  static constexpr int64_t kConnectTimeoutMs = 3000;
  static constexpr int64_t kCommandTimeoutMs = 5000;

 private:
  struct Pending;
  struct Subscription {
    RedisClient* self = nullptr;
    MessageHandler onMessage;
    std::function<void()> subscribed;
    long long channels = 0;  // how many the confirmations must count up to
  };
  void connect();
  void connectTo();
  void onSwitch(const HostPort& master);
  void becomeReady();
  void onConnected(int status);
  void onDisconnected(int status);
  void scheduleReconnect();
  void setReady(bool ready);
  // With sentinels: the server this connection went to is not (or no longer) the master.
  void distrustMaster();
  void forceClose(const std::string& why);
  bool send(std::vector<std::string> argv, std::function<void(Result<Reply>)> done);
  bool sendArgs(const std::string_view* args, size_t n, std::function<void(Result<Reply>)> done);
  void checkTimeouts();

  loop::UvLoop& loop_;
  Endpoint endpoint_;
  std::string name_;
  Random& random_;
  redisAsyncContext* ac_ = nullptr;  // not owned: hiredis frees it
  bool ready_ = false;
  bool tcpConnected_ = false;  // the connect callback said OK; reset on disconnect
  bool stopping_ = false;
  bool destroying_ = false;  // replies still pending when it goes are dropped, not delivered
  int64_t backoffMs_ = 100;
  uint64_t reconnects_ = 0;
  bool everConnected_ = false;
  std::string lastError_;
  std::string lastDisconnectReason_;  // hiredis's errstr at the last disconnect
  std::unique_ptr<loop::Timer> reconnectTimer_;
  std::unique_ptr<loop::Timer> watchdog_;
  std::unique_ptr<loop::Timer> graceTimer_;
  std::deque<int64_t> sentAtMs_;  // send times of outstanding commands, oldest first
  std::function<void(bool)> listener_;
  std::function<void()> written_;
  std::function<void()> shutdownDone_;
  bool started_ = false;
  bool roleDenied_ = false;  // said once
  SentinelWatch* sentinels_ = nullptr;
  size_t switchListener_ = 0;
  uint64_t asks_ = 0;  // numbers the asks for the master: only the latest one's answer counts
  std::unique_ptr<loop::Timer> closeSoon_;  // a READONLY reply: closed outside hiredis's callback
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
  // hiredis keeps a pointer to it per subscribed channel until the context is freed: it lives as
  // long as the client, and serves every connection's subscription in turn.
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace mcphd::redis
