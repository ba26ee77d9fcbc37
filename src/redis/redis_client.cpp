#include "redis/redis_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include <array>

#include "common/log.hpp"
#include "redis/hiredis_reply.hpp"
#include "redis/sentinel.hpp"

namespace mcphd::redis {

namespace {

// Our own libuv binding for hiredis: unlike 0.14's adapter it reports poll errors to hiredis
// (which then sees the failed read) instead of ignoring them, and once connected it writes the
// commands of a loop iteration at its end (a uv_check) instead of waiting for the socket to turn
// writable: arming and disarming writability around every result cost four epoll_ctl calls
// (uv_poll_start re-registers the fd), and the write came one iteration later. Writability is
// polled only while connecting (hiredis learns of the connection from it) and when a write could
// not take everything.
// Check handles run after the poll phase, and an active one does not stop that phase from
// blocking: a command sent before it (from a timer callback: the command stream's and the
// registry's retries, a check's result delivered from a timer) would wait for whatever next
// woke the loop, up to a second. An idle handle, active while a flush is queued, keeps the poll
// from blocking meanwhile.
struct Binding {
  redisAsyncContext* ac;
  uv_poll_t* poll;
  uv_check_t* flush;
  uv_idle_t* wake;  // active while a flush is queued
  int events = 0;   // what hiredis wants polled
  int started = 0;  // what the poll handle watches
  bool flushQueued = false;
  bool flushing = false;  // inside redisAsyncHandleWrite from the end of the iteration
};

void afterWrite(redisAsyncContext* ac) {
  if (ac->data != nullptr) {
    static_cast<RedisClient*>(ac->data)->afterWrite();
  }
}

void pollCallback(uv_poll_t* handle, int status, int events) {
  auto* b = static_cast<Binding*>(handle->data);
  if (b == nullptr || b->ac == nullptr) {
    return;
  }
  if (status < 0) {
    events = b->events;  // let hiredis find the error on the socket
    b->started = 0;      // libuv stopped the handle
  }
  redisAsyncContext* ac = b->ac;
  if ((events & UV_READABLE) != 0) {
    redisAsyncHandleRead(ac);
  }
  // The read may have freed the context (and this binding, via cleanup): re-read the pointer.
  b = static_cast<Binding*>(handle->data);
  if (b != nullptr && b->ac != nullptr && (events & UV_WRITABLE) != 0) {
    redisAsyncHandleWrite(b->ac);
    // So may the write.
    b = static_cast<Binding*>(handle->data);
    if (b != nullptr && b->ac != nullptr) {
      afterWrite(b->ac);
    }
  }
}

void flushCallback(uv_check_t* handle) {
  uv_check_stop(handle);
  auto* b = static_cast<Binding*>(handle->data);
  if (b == nullptr) {
    return;
  }
  uv_idle_stop(b->wake);
  if (b->ac == nullptr) {
    return;
  }
  b->flushQueued = false;
  b->flushing = true;
  redisAsyncHandleWrite(b->ac);  // a partial write asks for writability: polled then
  // The write may have freed the context (and this binding, via cleanup): re-read the pointer.
  b = static_cast<Binding*>(handle->data);
  if (b != nullptr && b->ac != nullptr) {
    b->flushing = false;
    afterWrite(b->ac);
  }
}

void update(Binding* b) {
  // uv_poll_start re-registers the fd even for the same events: hiredis asks for writability
  // with every command.
  if (b->events == b->started) {
    return;
  }
  b->started = b->events;
  if (b->events != 0) {
    uv_poll_start(b->poll, b->events, pollCallback);
  } else {
    uv_poll_stop(b->poll);
  }
}

int attach(redisAsyncContext* ac, uv_loop_t* loop) {
  auto* b = new Binding{ac, new uv_poll_t, new uv_check_t, new uv_idle_t};
  if (uv_poll_init_socket(loop, b->poll, ac->c.fd) != 0) {
    delete b->poll;
    delete b->flush;
    delete b->wake;
    delete b;
    return REDIS_ERR;
  }
  // (check and idle handles cannot fail to initialize on a valid loop)
  uv_check_init(loop, b->flush);
  b->flush->data = b;
  uv_idle_init(loop, b->wake);
  b->wake->data = b;
  b->poll->data = b;
  ac->ev.data = b;
  ac->ev.addRead = [](void* p) {
    auto* b = static_cast<Binding*>(p);
    b->events |= UV_READABLE;
    update(b);
  };
  ac->ev.delRead = [](void* p) {
    auto* b = static_cast<Binding*>(p);
    b->events &= ~UV_READABLE;
    update(b);
  };
  ac->ev.addWrite = [](void* p) {
    auto* b = static_cast<Binding*>(p);
    if ((b->ac->c.flags & REDIS_CONNECTED) != 0 && !b->flushing) {
      if (!b->flushQueued) {
        b->flushQueued = true;
        uv_check_start(b->flush, flushCallback);
        uv_idle_start(b->wake, [](uv_idle_t*) {});  // the poll phase must not block first
      }
      return;
    }
    b->events |= UV_WRITABLE;
    update(b);
  };
  ac->ev.delWrite = [](void* p) {
    auto* b = static_cast<Binding*>(p);
    b->events &= ~UV_WRITABLE;
    update(b);
  };
  ac->ev.cleanup = [](void* p) {
    auto* b = static_cast<Binding*>(p);
    uv_poll_stop(b->poll);
    b->poll->data = nullptr;
    loop::closeAndDelete(b->poll);
    uv_check_stop(b->flush);
    b->flush->data = nullptr;
    loop::closeAndDelete(b->flush);
    uv_idle_stop(b->wake);
    b->wake->data = nullptr;
    loop::closeAndDelete(b->wake);
    delete b;
  };
  return REDIS_OK;
}

}  // namespace

struct RedisClient::Pending {
  RedisClient* self;
  std::function<void(Result<Reply>)> done;
};

RedisClient::RedisClient(loop::UvLoop& loop, Endpoint endpoint, Random& random, std::string name)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      name_(std::move(name)),
      random_(random),
      reconnectTimer_(loop.createTimer()),
      watchdog_(loop.createTimer()),
      graceTimer_(loop.createTimer()),
      closeSoon_(loop.createTimer()) {}

RedisClient::~RedisClient() {
  *alive_ = false;
  if (sentinels_ != nullptr) {
    sentinels_->removeListener(switchListener_);
  }
  listener_ = nullptr;
  stopping_ = true;
  // Those waiting for replies may be gone already (they are torn down before or after it, in any
  // order): the replies still pending are dropped, their callbacks never run.
  destroying_ = true;
  if (ac_ != nullptr) {
    redisAsyncContext* ac = ac_;
    ac_ = nullptr;
    ac->data = nullptr;
    redisAsyncFree(ac);  // runs pending callbacks with NULL replies and the binding's cleanup
  }
}

void RedisClient::start() {
  started_ = true;
  connect();
}

void RedisClient::useSentinels(SentinelWatch& sentinels) {
  sentinels_ = &sentinels;
  endpoint_.masterName = sentinels.masterName();
  switchListener_ = sentinels.onSwitch([this](const HostPort& master) { onSwitch(master); });
}

void RedisClient::onSwitch(const HostPort& master) {
  if (stopping_ || (endpoint_.host == master.host && endpoint_.port == master.port)) {
    return;  // already there (or on its way)
  }
  if (!started_) {
    // Not used (yet): its first connect asks anyway.
    endpoint_.host = master.host;
    endpoint_.port = master.port;
    return;
  }
  // Connected to the old master, or waiting to reconnect: to the new one, now.
  backoffMs_ = 100;
  if (ac_ != nullptr) {
    forceClose("the sentinels switched the master to " + master.display());  // reconnects
  }
  endpoint_.host = master.host;
  endpoint_.port = master.port;
  ++asks_;  // an ask under way would answer what is already known
  reconnectTimer_->start(0, [this] { connectTo(); });
}

size_t RedisClient::unsentBytes() const {
  return ac_ != nullptr && ac_->c.obuf != nullptr ? sdslen(ac_->c.obuf) : 0;
}

void RedisClient::connect() {
  if (stopping_) {
    return;
  }
  if (sentinels_ == nullptr) {
    connectTo();
    return;
  }
  // Every (re)connect asks where the master is now: after a failover the old one is gone, or
  // came back as a replica.
  const uint64_t ask = ++asks_;
  sentinels_->master([this, ask, alive = alive_](Result<HostPort> r) {
    if (!*alive || stopping_ || ask != asks_) {
      return;
    }
    if (!r) {
      if (r.error().message != lastError_) {
        log::warn(name_ + ": " + r.error().message + " (retrying)");
        lastError_ = r.error().message;
      }
      scheduleReconnect();
      return;
    }
    endpoint_.host = r.value().host;
    endpoint_.port = r.value().port;
    connectTo();
  });
}

void RedisClient::connectTo() {
  if (stopping_ || ac_ != nullptr) {
    return;
  }
  redisAsyncContext* ac = endpoint_.unixPath.empty()
                              ? redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port)
                              : redisAsyncConnectUnix(endpoint_.unixPath.c_str());
  if (ac == nullptr) {
    log::error(name_ + ": out of memory creating a connection");
    scheduleReconnect();
    return;
  }
  if (ac->err != 0) {
    std::string why = ac->errstr;
    redisAsyncFree(ac);
    if (why != lastError_) {
      log::warn(name_ + ": cannot connect to " + endpoint_.display() + ": " + why + " (retrying)");
      lastError_ = why;
    }
    scheduleReconnect();
    return;
  }
  if (attach(ac, loop_.raw()) != REDIS_OK) {
    redisAsyncFree(ac);
    log::error(name_ + ": cannot watch the socket");
    scheduleReconnect();
    return;
  }
  ac->data = this;
  ac_ = ac;
  redisAsyncSetConnectCallback(ac, [](const redisAsyncContext* c, int status) {
    if (auto* self = static_cast<RedisClient*>(c->data); self != nullptr) {
      self->onConnected(status);
    }
  });
  redisAsyncSetDisconnectCallback(ac, [](const redisAsyncContext* c, int status) {
    if (auto* self = static_cast<RedisClient*>(c->data); self != nullptr) {
      // hiredis says why (e.g. an error reply no command waited for: a refused SUBSCRIBE).
      self->lastDisconnectReason_ = status != REDIS_OK && c->errstr[0] != '\0' ? c->errstr : "";
      self->onDisconnected(status);
    }
  });
  // hiredis 0.14 has no connect timeout of its own on the async API.
  watchdog_->start(kConnectTimeoutMs, [this] {
    distrustMaster();
    forceClose("connect timed out");
  });
}

void RedisClient::onConnected(int status) {
  if (status != REDIS_OK) {
    // A failed connect is reported only here; hiredis frees the context after this callback.
    std::string why = ac_ != nullptr && ac_->errstr[0] != '\0' ? ac_->errstr : "connection failed";
    ac_ = nullptr;
    watchdog_->stop();
    distrustMaster();
    if (why != lastError_) {
      log::warn(name_ + ": cannot connect to " + endpoint_.display() + ": " + why + " (retrying)");
      lastError_ = why;
    }
    scheduleReconnect();
    return;
  }
  watchdog_->stop();
  tcpConnected_ = true;
  if (ac_ != nullptr && endpoint_.unixPath.empty() && redisEnableKeepAlive(&ac_->c) != REDIS_OK) {
    // Every TCP connection gets keepalive, for the pub/sub one's sake: it only listens, so no
    // command of its own could time out when the peer vanished without closing.
    log::warn(name_ + ": cannot enable TCP keepalive; a vanished Redis is noticed later");
  }
  auto fail = [this](const char* what) {
    return [this, what](Result<Reply> r) {
      if (r && r->type == Reply::Type::kError) {
        log::error(name_ + ": " + what + " failed: " + r->str);
        forceClose(std::string(what) + " failed");
      }
    };
  };
  if (!endpoint_.password.empty()) {
    if (endpoint_.username.empty()) {
      send({"AUTH", std::string(endpoint_.password.reveal())}, fail("AUTH"));
    } else {
      send({"AUTH", endpoint_.username, std::string(endpoint_.password.reveal())}, fail("AUTH"));
    }
  }
  if (endpoint_.db != 0) {
    send({"SELECT", std::to_string(endpoint_.db)}, fail("SELECT"));
  }
  send({"PING"}, [this](Result<Reply> r) {
    if (r && r->type == Reply::Type::kError) {
      // e.g. NOAUTH: without this the connection would sit there, never ready, saying nothing.
      log::error(name_ + ": PING failed: " + r->str +
                 (r->str.rfind("NOAUTH", 0) == 0 ? " (set redis.password_file)" : ""));
      forceClose("PING failed");
      return;
    }
    if (!r || ac_ == nullptr) {
      return;
    }
    if (sentinels_ == nullptr) {
      becomeReady();
      return;
    }
    // A sentinel may name a master that is not one (yet, or any more): ask the server itself.
    send({"ROLE"}, [this](Result<Reply> role) {
      if (!role || ac_ == nullptr) {
        return;
      }
      if (role->type == Reply::Type::kArray && !role->elements.empty() &&
          role->elements[0].str == "master") {
        becomeReady();
        return;
      }
      if (role->type == Reply::Type::kError && role->str.rfind("NOPERM", 0) == 0) {
        // A Redis user without ROLE (it is in @admin and @dangerous): trusted as the master the
        // sentinels named; a replica still shows by refusing the first write (READONLY).
        if (!roleDenied_) {
          log::warn(name_ + ": the Redis user may not run ROLE (" + role->str.substr(0, 120) +
                    "); the master the sentinels name is used without asking it (allow +role)");
          roleDenied_ = true;
        }
        becomeReady();
        return;
      }
      distrustMaster();
      const std::string is = role->type == Reply::Type::kArray && !role->elements.empty()
                                 ? "is a " + role->elements[0].str.substr(0, 32)
                                 : "did not answer ROLE (" + role->str.substr(0, 100) + ")";
      forceClose(endpoint_.display() + " " + is + ", not the master; asking the sentinels again");
    });
  });
  watchdog_->start(1000, [this] { checkTimeouts(); });
}

void RedisClient::becomeReady() {
  backoffMs_ = 100;
  lastError_.clear();
  log::notice(name_ + ": " + (everConnected_ ? "reconnected to " : "connected to ") +
              endpoint_.display());
  if (everConnected_) {
    ++reconnects_;
  }
  everConnected_ = true;
  setReady(true);
}

void RedisClient::onDisconnected(int status) {
  ac_ = nullptr;
  tcpConnected_ = false;
  sentAtMs_.clear();
  watchdog_->stop();
  bool wasReady = ready_;
  if (wasReady && !stopping_) {
    log::warn(name_ + ": connection to " + endpoint_.display() + " lost" +
              (status == REDIS_OK              ? ""
               : lastDisconnectReason_.empty() ? " (error)"
                                               : " (" + lastDisconnectReason_ + ")"));
  }
  lastDisconnectReason_.clear();
  setReady(false);
  if (stopping_) {
    graceTimer_->stop();
    if (shutdownDone_) {
      auto done = std::move(shutdownDone_);
      done();
    }
    return;
  }
  scheduleReconnect();
}

void RedisClient::distrustMaster() {
  // A sentinel may keep naming a master that is gone or demoted (it lags, or sits in a minority
  // partition): the next ask starts with another one.
  if (sentinels_ != nullptr) {
    sentinels_->distrust(HostPort{endpoint_.host, endpoint_.port});
  }
}

void RedisClient::setReady(bool ready) {
  if (ready_ == ready) {
    return;
  }
  ready_ = ready;
  if (listener_) {
    listener_(ready);
  }
}

void RedisClient::scheduleReconnect() {
  if (stopping_) {
    return;
  }
  int64_t delay =
      backoffMs_ + static_cast<int64_t>(random_.uniform() * static_cast<double>(backoffMs_) * 0.5);
  backoffMs_ = std::min<int64_t>(backoffMs_ * 2, 10'000);
  reconnectTimer_->start(delay, [this] { connect(); });
}

void RedisClient::forceClose(const std::string& why) {
  if (ac_ == nullptr) {
    return;
  }
  if (tcpConnected_ || !stopping_) {
    log::warn(name_ + ": closing the connection: " + why);
  }
  redisAsyncContext* ac = ac_;
  // Detached first, so hiredis's own disconnect callback (connected contexts only) finds no
  // owner; our bookkeeping runs once, here.
  ac->data = nullptr;
  ac_ = nullptr;
  redisAsyncFree(ac);
  onDisconnected(REDIS_ERR);
}

void RedisClient::checkTimeouts() {
  if (ac_ == nullptr) {
    return;
  }
  if (!sentAtMs_.empty() && loop_.nowMs() - sentAtMs_.front() > kCommandTimeoutMs) {
    forceClose("a command got no reply within " + std::to_string(kCommandTimeoutMs) + " ms");
    return;
  }
  watchdog_->start(1000, [this] { checkTimeouts(); });
}

bool RedisClient::command(std::vector<std::string> argv, std::function<void(Result<Reply>)> done) {
  if (!ready_) {
    return false;
  }
  return send(std::move(argv), std::move(done));
}

bool RedisClient::commandArgs(std::span<const std::string_view> argv,
                              std::function<void(Result<Reply>)> done) {
  if (!ready_) {
    return false;
  }
  return sendArgs(argv.data(), argv.size(), std::move(done));
}

bool RedisClient::send(std::vector<std::string> argv, std::function<void(Result<Reply>)> done) {
  std::vector<std::string_view> views(argv.begin(), argv.end());
  return sendArgs(views.data(), views.size(), std::move(done));
}

bool RedisClient::sendArgs(const std::string_view* args, size_t n,
                           std::function<void(Result<Reply>)> done) {
  if (ac_ == nullptr) {
    return false;
  }
  // hiredis copies the arguments into its output buffer before it returns. Commands of up to
  // kInlineArgs arguments (all of the daemon's writes) pass them from the stack.
  constexpr size_t kInlineArgs = 16;
  std::array<const char*, kInlineArgs> inlinePtrs{};
  std::array<size_t, kInlineArgs> inlineLens{};
  std::vector<const char*> heapPtrs;
  std::vector<size_t> heapLens;
  const char** ptrs = inlinePtrs.data();
  size_t* lens = inlineLens.data();
  if (n > kInlineArgs) {
    heapPtrs.resize(n);
    heapLens.resize(n);
    ptrs = heapPtrs.data();
    lens = heapLens.data();
  }
  for (size_t i = 0; i < n; ++i) {
    ptrs[i] = args[i].data();
    lens[i] = args[i].size();
  }
  auto* pending = new Pending{this, std::move(done)};
  int rc = redisAsyncCommandArgv(
      ac_,
      [](redisAsyncContext*, void* r, void* privdata) {
        std::unique_ptr<Pending> p(static_cast<Pending*>(privdata));
        if (!p->self->sentAtMs_.empty()) {
          p->self->sentAtMs_.pop_front();
        }
        if (!p->done || p->self->destroying_) {
          return;
        }
        if (r == nullptr) {
          p->done(makeError("redis connection lost before the reply"));
          return;
        }
        Reply reply = toReply(static_cast<redisReply*>(r));
        if (p->self->sentinels_ != nullptr && reply.type == Reply::Type::kError &&
            reply.str.rfind("READONLY", 0) == 0 && !p->self->closeSoon_->active()) {
          // The master became a replica under us (a failover): to the new master. Closed from
          // the loop, not from inside hiredis's reply callback.
          RedisClient* self = p->self;
          self->distrustMaster();
          self->closeSoon_->start(0, [self] {
            self->forceClose(self->endpoint_.display() +
                             " is a replica now (READONLY); asking the sentinels again");
          });
        }
        p->done(std::move(reply));
      },
      pending, static_cast<int>(n), ptrs, lens);
  if (rc != REDIS_OK) {
    delete pending;
    return false;
  }
  sentAtMs_.push_back(loop_.nowMs());
  return true;
}

bool RedisClient::subscribe(std::vector<std::string> channels, MessageHandler onMessage,
                            std::function<void()> subscribed) {
  if (!ready_ || ac_ == nullptr || channels.empty()) {
    return false;
  }
  if (!subscription_) {
    subscription_ = std::make_unique<Subscription>();
    subscription_->self = this;
  }
  subscription_->onMessage = std::move(onMessage);
  subscription_->subscribed = std::move(subscribed);
  subscription_->channels = static_cast<long long>(channels.size());
  std::vector<const char*> ptrs{"SUBSCRIBE"};
  std::vector<size_t> lens{9};
  for (const auto& c : channels) {
    ptrs.push_back(c.data());
    lens.push_back(c.size());
  }
  // hiredis runs this callback for the subscribe confirmations, for every message, and with a
  // null reply (once per channel) when the context is freed.
  int rc = redisAsyncCommandArgv(
      ac_,
      [](redisAsyncContext*, void* r, void* privdata) {
        auto* sub = static_cast<Subscription*>(privdata);
        auto* reply = static_cast<redisReply*>(r);
        if (reply == nullptr || sub->self->destroying_ || !sub->onMessage) {
          return;
        }
        // (An error reply, e.g. NOPERM for an ACL user without the channels, never comes here:
        // hiredis 0.14 drops a subscribed connection on it, and the disconnect says why.)
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
          return;
        }
        redisReply** e = reply->element;
        auto isString = [](const redisReply* x) {
          return x->type == REDIS_REPLY_STRING || x->type == REDIS_REPLY_STATUS;
        };
        if (!isString(e[0])) {
          return;
        }
        const std::string_view kind(e[0]->str, e[0]->len);
        if (kind == "subscribe" && e[2]->type == REDIS_REPLY_INTEGER &&
            e[2]->integer == sub->channels && sub->subscribed) {
          auto subscribed = std::move(sub->subscribed);
          sub->subscribed = nullptr;
          subscribed();
        } else if (kind == "message" && isString(e[1]) && isString(e[2])) {
          sub->onMessage(std::string(e[1]->str, e[1]->len), std::string(e[2]->str, e[2]->len));
        }
      },
      subscription_.get(), static_cast<int>(ptrs.size()), ptrs.data(), lens.data());
  return rc == REDIS_OK;
}

void RedisClient::shutdown(int64_t graceMs, std::function<void()> done) {
  stopping_ = true;
  reconnectTimer_->stop();
  watchdog_->stop();
  if (ac_ == nullptr) {
    done();
    return;
  }
  shutdownDone_ = std::move(done);
  if (!tcpConnected_) {
    // Still connecting: hiredis would free the context in redisAsyncDisconnect without calling
    // the disconnect callback (it does so for connected contexts only), leaving ac_ dangling.
    forceClose("stopping before the connection was up");
    return;
  }
  // Waits for outstanding replies, then closes; the grace timer cuts it short.
  redisAsyncDisconnect(ac_);
  graceTimer_->start(graceMs, [this] { forceClose("shutdown grace period over"); });
}

}  // namespace mcphd::redis
