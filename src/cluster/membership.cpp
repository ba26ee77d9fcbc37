#include "cluster/membership.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "config/config.hpp"

namespace mcphd::cluster {

const std::string& heartbeatScript() {
  // TIME is Redis's clock: members on hosts whose clocks disagree still agree on who is live.
  static const std::string s = R"lua(-- mcp-healthd heartbeat
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = string.format('%d', now)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', n)
redis.call('ZADD', KEYS[1], string.format('%d', now + tonumber(ARGV[2])), ARGV[1])
redis.call('HSET', KEYS[2], 'heartbeat_at', n, 'started_at', ARGV[4], 'owned', ARGV[3],
           'version', ARGV[5], 'ttl_ms', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. n, '+inf', 'LIMIT', 0, ARGV[6])
return {now, live}
)lua";
  return s;
}

Membership::Membership(redis::Commands& redis, loop::TimerFactory& timers, keyspace::Keyspace keys,
                       MembershipOptions options)
    : redis_(redis),
      keys_(std::move(keys)),
      options_(std::move(options)),
      script_(heartbeatScript()),
      timer_(timers.createTimer()) {}

void Membership::start() {
  redis_.onReadyChange([this](bool ready) {
    ++generation_;
    inFlight_ = false;
    if (ready && !leaving_) {
      script_.load(redis_, [](Result<void>) {});  // a failure shows in the first heartbeat
      beat();
    }
  });
  if (redis_.ready()) {
    beat();
  }
  timer_->start(options_.heartbeatMs, [this] { beat(); });
}

void Membership::beat() {
  if (leaving_) {
    return;
  }
  timer_->start(options_.heartbeatMs, [this] { beat(); });
  if (inFlight_ || !redis_.ready()) {
    return;  // the last one is not answered yet (a slow Redis), or the connection is down
  }
  const uint64_t gen = generation_;
  inFlight_ = true;  // before: the reply may come from inside run()
  const bool sent = script_.run(
      redis_, 2,
      {keys_.members(), keys_.member(options_.memberId), options_.memberId,
       std::to_string(options_.memberTtlMs), std::to_string(owned_ ? owned_() : 0),
       std::to_string(options_.startedAtWallMs), options_.version,
       std::to_string(options_.maxMembers)},
      [this, gen](Result<redis::Reply> r) {
        if (gen != generation_) {
          return;
        }
        inFlight_ = false;
        onBeat(r);
      },
      [this, gen] { return gen == generation_; });  // not after leave()
  if (!sent) {
    inFlight_ = false;
  }
}

void Membership::failed(const std::string& why) {
  if (failures_++ % 100 == 0) {
    log::warn("cluster: the heartbeat of member '" + options_.memberId + "' failed: " + why + " (" +
              std::to_string(failures_) + " so far); other members drop it after " +
              std::to_string(options_.memberTtlMs) + " ms without one");
  }
}

void Membership::onBeat(const Result<redis::Reply>& r) {
  using T = redis::Reply::Type;
  if (!r) {
    failed(r.error().message);
    return;
  }
  if (r->type == T::kError) {
    failed(r->str);
    return;
  }
  if (r->type != T::kArray || r->elements.size() != 2 || r->elements[1].type != T::kArray) {
    failed("unexpected reply");
    return;
  }
  std::vector<std::string> live;
  size_t invalid = 0;
  for (const auto& e : r->elements[1].elements) {
    if (e.type == T::kString && config::validMemberId(e.str)) {
      live.push_back(e.str);
    } else {
      ++invalid;
    }
  }
  if (invalid != invalidSeen_) {
    invalidSeen_ = invalid;
    if (invalid > 0) {
      log::warn("cluster: " + keys_.members() + " holds " + std::to_string(invalid) +
                " entries that are not member ids; ignored (only daemons should write it)");
    }
  }
  if (r->elements[1].elements.size() >= options_.maxMembers) {
    log::warn("cluster: " + keys_.members() + " lists " + std::to_string(options_.maxMembers) +
              " live members or more; only the first " + std::to_string(options_.maxMembers) +
              " are read");
  }
  std::sort(live.begin(), live.end());
  live.erase(std::unique(live.begin(), live.end()), live.end());
  if (failures_ > 0) {
    log::notice("cluster: member '" + options_.memberId + "' announced again");
    failures_ = 0;
  }
  if (live != members_) {
    members_ = std::move(live);
    std::string list;
    for (const auto& m : members_) {
      list += (list.empty() ? "" : ", ") + m;
    }
    log::notice("cluster: " + std::to_string(members_.size()) + " live members: " + list);
    if (changed_) {
      changed_(members_);
    }
  }
}

void Membership::leave(std::function<void()> done) {
  leaving_ = true;
  timer_->stop();
  ++generation_;
  if (!redis_.ready()) {
    done();
    return;
  }
  auto shared = std::make_shared<std::function<void()>>(std::move(done));
  const bool sent = redis_.command({"ZREM", keys_.members(), options_.memberId}, nullptr) &&
                    redis_.command({"DEL", keys_.member(options_.memberId)},
                                   [shared](Result<redis::Reply>) { (*shared)(); });
  if (!sent) {
    (*shared)();
  }
}

}  // namespace mcphd::cluster
