#include "redis/sentinel.hpp"

#include "common/log.hpp"

namespace mcphd::redis {

SentinelWatch::SentinelWatch(loop::UvLoop& loop, std::vector<HostPort> sentinels,
                             std::string masterName, Random& random)
    : loop_(loop),
      masterName_(std::move(masterName)),
      retry_(loop.createTimer()),
      answerTimer_(loop.createTimer()) {
  for (auto& address : sentinels) {
    Endpoint ep;
    ep.host = address.host;
    ep.port = address.port;
    const std::string name = "sentinel " + address.display();
    Link link{std::move(address), std::make_unique<RedisClient>(loop, ep, random, name),
              std::make_unique<RedisClient>(loop, ep, random, name + " events")};
    links_.push_back(std::move(link));
  }
  for (auto& link : links_) {
    RedisClient* events = link.events.get();
    events->onReadyChange([this, events](bool ready) {
      if (!ready) {
        return;
      }
      events->subscribe(
          {"+switch-master"},
          [this](const std::string&, const std::string& payload) { onEvent(payload); },
          [this] {
            // A switch announced while this connection was down was missed: the clients that
            // are on another server than the one named now reconnect.
            master([this](Result<HostPort> r) {
              if (r) {
                for (auto& [id, listener] : std::vector(listeners_)) {
                  listener(r.value());
                }
              }
            });
          });
    });
  }
}

void SentinelWatch::start() {
  for (auto& link : links_) {
    link.ask->start();
    link.events->start();
  }
}

void SentinelWatch::shutdown(int64_t graceMs, std::function<void()> done) {
  // Those waiting for an answer are stopping too: they get none.
  stopped_ = true;
  retry_->stop();
  answerTimer_->stop();
  waiting_.clear();
  asking_ = false;
  ++round_;
  auto left = std::make_shared<size_t>(links_.size() * 2);
  auto shared = std::make_shared<std::function<void()>>(std::move(done));
  if (*left == 0) {
    (*shared)();
    return;
  }
  for (auto& link : links_) {
    for (RedisClient* c : {link.ask.get(), link.events.get()}) {
      c->shutdown(graceMs, [left, shared] {
        if (--*left == 0) {
          (*shared)();
        }
      });
    }
  }
}

void SentinelWatch::master(std::function<void(Result<HostPort>)> done) {
  if (stopped_) {
    return;  // those who ask are stopping too
  }
  waiting_.push_back(std::move(done));
  if (asking_) {
    return;
  }
  asking_ = true;
  askStartedMs_ = loop_.nowMs();
  lastError_.clear();
  askNext(++round_, 0);
}

void SentinelWatch::askNext(uint64_t round, size_t tried) {
  if (round != round_ || !asking_) {
    return;
  }
  if (tried >= links_.size()) {
    if (loop_.nowMs() - askStartedMs_ >= kAskTimeoutMs) {
      finish(makeError("no sentinel of redis.sentinels named the master '" + masterName_ +
                       "' within " + std::to_string(kAskTimeoutMs / 1000) + " s" +
                       (lastError_.empty() ? "" : " (" + lastError_ + ")") +
                       "; check redis.sentinels and redis.master_name"));
      return;
    }
    retry_->start(100, [this, round] { askNext(round, 0); });
    return;
  }
  const size_t index = (next_ + tried) % links_.size();
  Link& link = links_[index];
  const std::string who = "sentinel " + link.address.display();
  const uint64_t attempt = ++attempt_;
  // Armed before the question (were its answer to come at once, a later question's timer would
  // otherwise be overwritten by this one).
  answerTimer_->start(kSentinelAnswerMs, [this, round, attempt, tried, who] {
    if (round != round_ || !asking_ || attempt != attempt_) {
      return;
    }
    ++attempt_;  // its answer, should it come, is dropped
    lastError_ = who + " did not answer within " + std::to_string(kSentinelAnswerMs) + " ms";
    askNext(round, tried + 1);
  });
  const bool sent =
      link.ask->command({"SENTINEL", "get-master-addr-by-name", masterName_},
                        [this, round, attempt, tried, index, who](Result<Reply> r) {
                          if (round != round_ || !asking_) {
                            return;  // an abandoned ask
                          }
                          std::optional<HostPort> named;
                          if (r && r->type == Reply::Type::kArray && r->elements.size() == 2 &&
                              r->elements[0].type == Reply::Type::kString &&
                              r->elements[1].type == Reply::Type::kString) {
                            if (auto master = hostPortOf(r->elements[0].str, r->elements[1].str)) {
                              named = std::move(master.value());
                            }
                          }
                          if (named) {
                            // Also from a sentinel passed over for being slow: a late answer is
                            // still one (when every sentinel is that slow, nothing else would ever
                            // answer in time).
                            next_ = index;
                            lastNamed_ = named;
                            finish(std::move(*named));
                            return;
                          }
                          if (attempt != attempt_) {
                            return;  // a sentinel passed over, failing late: the ask has moved on
                          }
                          answerTimer_->stop();
                          if (r && r->type == Reply::Type::kArray) {
                            lastError_ = who + " answered an address that is not one";
                          } else if (r && r->type == Reply::Type::kNil) {
                            lastError_ = who + " knows no master named '" + masterName_ + "'";
                          } else if (r && r->type == Reply::Type::kError) {
                            lastError_ = who + ": " + r->str.substr(0, 200);
                          } else if (!r) {
                            lastError_ = who + ": " + r.error().message;
                          } else {
                            lastError_ = who + " answered something else than an address";
                          }
                          askNext(round, tried + 1);
                        });
  if (!sent) {
    answerTimer_->stop();
    lastError_ = who + " is not connected";
    askNext(round, tried + 1);
  }
}

void SentinelWatch::finish(Result<HostPort> r) {
  asking_ = false;
  retry_->stop();
  answerTimer_->stop();
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& done : waiting) {
    done(r);
  }
}

void SentinelWatch::distrust(const HostPort& named) {
  if (links_.empty() || lastNamed_ != named) {
    return;  // another answer came since, or this one was passed over already
  }
  lastNamed_.reset();
  next_ = (next_ + 1) % links_.size();
}

size_t SentinelWatch::onSwitch(std::function<void(const HostPort&)> listener) {
  listeners_.emplace_back(++nextListener_, std::move(listener));
  return nextListener_;
}

void SentinelWatch::removeListener(size_t id) {
  std::erase_if(listeners_, [id](const auto& l) { return l.first == id; });
}

void SentinelWatch::onEvent(const std::string& payload) {
  // <master name> <old ip> <old port> <new ip> <new port>
  std::vector<std::string> words;
  size_t at = 0;
  while (at < payload.size() && words.size() < 6) {
    const size_t space = payload.find(' ', at);
    words.push_back(payload.substr(at, space - at));
    at = space == std::string::npos ? payload.size() : space + 1;
  }
  if (words.size() != 5 || words[0] != masterName_) {
    return;
  }
  auto to = hostPortOf(words[3], words[4]);
  if (!to || announced_ == to.value()) {
    return;  // every sentinel announces it
  }
  announced_ = to.value();
  ++switches_;
  log::notice("redis: the sentinels switched master '" + masterName_ + "' from " + words[1] + ":" +
              words[2] + " to " + to->display());
  for (auto& [id, listener] : std::vector(listeners_)) {
    listener(to.value());
  }
}

}  // namespace mcphd::redis
