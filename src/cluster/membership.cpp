#include "cluster/membership.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "common/sha256.hpp"
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
-- The config summary is announced only while the hash it sums up exists (a Redis that lost it
-- gets it written again first).
local cfg = ARGV[7]
local announced = 1
if cfg ~= '' then
  if redis.call('PEXPIRE', KEYS[3], ARGV[2]) == 0 then cfg = ''; announced = 0 end
end
redis.call('HSET', KEYS[2], 'config', cfg)
-- Live: expiring within the longest member_ttl (10 min) from now. An entry anyone else wrote
-- with a far-future score is not a member for ever.
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. n, string.format('%d', now + 600000),
                        'LIMIT', 0, ARGV[6])
local sums = {}
for i, m in ipairs(live) do
  -- A key that is not a hash (written by anyone else) must not fail every member's heartbeat.
  local ok, v = pcall(redis.call, 'HGET', ARGV[8] .. m, 'config')
  if not ok or type(v) ~= 'string' or not string.match(v, '^%x+$') or #v ~= 64 then v = '' end
  sums[i] = v
end
return {now, live, sums, announced}
)lua";
  return s;
}

const std::string& memberConfigScript() {
  static const std::string s = R"lua(-- mcp-healthd member config
redis.call('DEL', KEYS[1])
local args = {}
for i = 2, #ARGV do
  args[#args + 1] = ARGV[i]
  if #args == 2000 or i == #ARGV then
    redis.call('HSET', KEYS[1], unpack(args))
    args = {}
  end
end
if #ARGV > 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
)lua";
  return s;
}

std::string configSummary(const std::map<std::string, std::string>& digests) {
  if (digests.empty()) {
    return {};
  }
  std::string lines;
  for (const auto& [id, digest] : digests) {
    lines.append(id).append("\n").append(digest).append("\n");
  }
  return sha256Hex(lines);
}

Membership::Membership(redis::Commands& redis, loop::TimerFactory& timers, keyspace::Keyspace keys,
                       MembershipOptions options)
    : redis_(redis),
      keys_(std::move(keys)),
      options_(std::move(options)),
      script_(heartbeatScript()),
      configScript_(memberConfigScript()),
      timer_(timers.createTimer()) {}

void Membership::setConfig(std::map<std::string, std::string> digests) {
  config_ = std::move(digests);
  summary_ = configSummary(config_);
  configWritten_ = false;
  for (auto& [id, peer] : peers_) {
    peer.fetchedSummary.clear();  // compared again against the new config
  }
  if (redis_.ready() && !leaving_) {
    writeConfig();
  }
}

void Membership::writeConfig() {
  std::vector<std::string> argv = {keys_.memberConfig(options_.memberId),
                                   std::to_string(options_.memberTtlMs)};
  argv.reserve(2 + 2 * config_.size());
  for (const auto& [id, digest] : config_) {
    argv.push_back(id);
    argv.push_back(digest);
  }
  const uint64_t gen = generation_;
  // The heartbeat after it (same connection, so applied after it) announces the summary.
  configWritten_ =
      configScript_.run(redis_, 1, std::move(argv), [this, gen](Result<redis::Reply> r) {
        if (gen != generation_) {
          return;
        }
        if (!r || r->type == redis::Reply::Type::kError) {
          configWritten_ = false;  // tried again at the next beat
          failed("writing " + keys_.memberConfig(options_.memberId) + ": " +
                 (r ? r->str : r.error().message));
        }
      });
}

void Membership::start() {
  redis_.onReadyChange([this](bool ready) {
    ++generation_;
    inFlight_ = false;
    configWritten_ = false;
    for (auto& [id, peer] : peers_) {
      peer.fetching = false;  // its reply is lost with the connection
    }
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
  if (!configWritten_ && !summary_.empty()) {
    writeConfig();
  }
  const uint64_t gen = generation_;
  inFlight_ = true;  // before: the reply may come from inside run()
  const bool sent = script_.run(
      redis_, 3,
      {keys_.members(), keys_.member(options_.memberId), keys_.memberConfig(options_.memberId),
       options_.memberId, std::to_string(options_.memberTtlMs),
       std::to_string(owned_ ? owned_() : 0), std::to_string(options_.startedAtWallMs),
       options_.version, std::to_string(options_.maxMembers),
       configWritten_ ? summary_ : std::string(), keys_.member("")},
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
    log::warn("cluster: member '" + options_.memberId + "': " + why + " (" +
              std::to_string(failures_) + " failures so far); other members drop it after " +
              std::to_string(options_.memberTtlMs) + " ms without a heartbeat");
  }
}

void Membership::onBeat(const Result<redis::Reply>& r) {
  using T = redis::Reply::Type;
  if (!r) {
    failed("the heartbeat failed: " + r.error().message);
    return;
  }
  if (r->type == T::kError) {
    failed("the heartbeat failed: " + r->str);
    return;
  }
  if (r->type != T::kArray || r->elements.size() != 4 || r->elements[1].type != T::kArray ||
      r->elements[2].type != T::kArray ||
      r->elements[2].elements.size() != r->elements[1].elements.size()) {
    failed("the heartbeat failed: unexpected reply");
    return;
  }
  if (r->elements[3].type == T::kInteger && r->elements[3].integer == 0) {
    configWritten_ = false;  // Redis lost it (a FLUSHALL, a restart we did not see): again
  }
  std::vector<std::string> live;
  std::map<std::string, std::string> summaries;
  size_t invalid = 0;
  for (size_t i = 0; i < r->elements[1].elements.size(); ++i) {
    const auto& e = r->elements[1].elements[i];
    if (e.type == T::kString && config::validMemberId(e.str)) {
      live.push_back(e.str);
      summaries[e.str] = r->elements[2].elements[i].str;
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
  if (live != live_) {
    std::string list;
    for (const auto& m : live) {
      list += (list.empty() ? "" : ", ") + m;
    }
    log::notice("cluster: " + std::to_string(live.size()) + " live members: " + list);
  }
  live_ = std::move(live);
  std::erase_if(peers_, [&](const auto& p) { return summaries.count(p.first) == 0; });
  for (const auto& [m, summary] : summaries) {
    if (m == options_.memberId) {
      continue;
    }
    Peer& peer = peers_[m];
    peer.summary = summary;
    if (summary.empty() || summary == summary_) {
      continue;  // none, or the very same config servers: nothing to read
    }
    if (peer.fetchedSummary != summary && !peer.fetching) {
      fetchConfig(m, summary);
    }
  }
  updateView();
}

void Membership::fetchConfig(const std::string& member, const std::string& summary) {
  if (config_.empty()) {
    peers_[member].fetchedSummary = summary;  // nothing of ours it could declare
    return;
  }
  std::vector<std::string> argv = {"HMGET", keys_.memberConfig(member)};
  argv.reserve(2 + config_.size());
  for (const auto& [id, digest] : config_) {
    argv.push_back(id);
  }
  const uint64_t gen = generation_;
  const std::string mine = summary_;
  peers_[member].fetching = true;
  const bool sent =
      redis_.command(std::move(argv), [this, gen, member, summary, mine](Result<redis::Reply> r) {
        if (gen != generation_) {
          return;
        }
        auto it = peers_.find(member);
        if (it == peers_.end()) {
          return;  // gone meanwhile
        }
        Peer& peer = it->second;
        peer.fetching = false;
        if (mine != summary_) {
          return;  // our config changed meanwhile: read again at the next heartbeat
        }
        if (!r || r->type != redis::Reply::Type::kArray || r->elements.size() != config_.size()) {
          failed("reading " + keys_.memberConfig(member) + ": " +
                 (r ? (r->type == redis::Reply::Type::kError ? r->str : "unexpected reply")
                    : r.error().message));
          return;  // tried again at the next heartbeat
        }
        peer.same.clear();
        size_t i = 0;
        size_t differ = 0;
        for (const auto& [id, digest] : config_) {
          const auto& v = r->elements[i++];
          if (v.type != redis::Reply::Type::kString) {
            continue;
          }
          if (v.str == digest) {
            peer.same.insert(id);
          } else {
            ++differ;
          }
        }
        peer.fetchedSummary = summary;
        if (differ > 0) {
          log::warn("cluster: member '" + member + "' declares " + std::to_string(differ) +
                    " of this member's config servers with other settings; each setting is checked "
                    "by its own members (make the config files agree)");
        }
        updateView();
      });
  if (!sent) {
    peers_[member].fetching = false;
  }
}

void Membership::updateView() {
  ClusterView view;
  view.members = live_;
  for (const auto& [m, peer] : peers_) {
    if (!config_.empty() && !peer.summary.empty() && peer.summary == summary_) {
      view.sameWhole.insert(m);  // a flag, not a copy of every id per member
    } else if (!peer.summary.empty() && peer.fetchedSummary == peer.summary && !peer.same.empty()) {
      view.sameConfig[m] = peer.same;
    }
  }
  if (view == view_) {
    return;
  }
  view_ = std::move(view);
  if (changed_) {
    changed_(view_);
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
                    redis_.command({"DEL", keys_.member(options_.memberId),
                                    keys_.memberConfig(options_.memberId)},
                                   [shared](Result<redis::Reply>) { (*shared)(); });
  if (!sent) {
    (*shared)();
  }
}

}  // namespace mcphd::cluster
