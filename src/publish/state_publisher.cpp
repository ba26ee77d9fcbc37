#include "publish/state_publisher.hpp"

#include <simdjson.h>

#include <algorithm>

#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "publish/write_scripts.hpp"

namespace mcphd::publish {

StatePublisher::StatePublisher(redis::Commands& redis, const Clock& clock, keyspace::Keyspace keys,
                               std::string memberId)
    : redis_(redis),
      clock_(clock),
      keys_(std::move(keys)),
      memberId_(std::move(memberId)),
      publish_(publishScript()),
      remove_(removeScript()),
      refill_(refillScript()) {
  redis_.onReadyChange([this](bool ready) { onReady(ready); });
  redis_.onWritten([this] {
    if (!backlog_.empty() && redis_.unsentBytes() < kResumeBytes) {
      drainBacklog();
    }
  });
  if (redis_.ready()) {
    onReady(true);
  }
}

void StatePublisher::onReady(bool ready) {
  ++generation_;
  ready_ = false;
  if (!ready) {
    return;
  }
  // The scripts first (a Redis that restarted has none), then the stored state; replies come in
  // order, so the last one says whether all loaded.
  const uint64_t gen = generation_;
  auto failed = std::make_shared<std::string>();
  for (redis::Script* script : {&publish_, &remove_, &refill_}) {
    script->load(redis_, [failed](Result<void> r) {
      if (!r && failed->empty()) {
        *failed = r.error().message;
      }
    });
  }
  redis_.command({"PING"}, [this, gen, failed](Result<redis::Reply> r) {
    if (gen != generation_ || !r) {
      return;  // a newer connection took over, or this one is gone
    }
    if (!failed->empty()) {
      // Nothing can be written without them: results wait, coalesced, for the next connection.
      log::error("redis: cannot load the scripts that write results (" + *failed +
                 "); nothing is published until Redis reconnects (does the Redis user have "
                 "SCRIPT, EVALSHA and EVAL?)");
      return;
    }
    onLoaded(gen);
  });
}

void StatePublisher::onLoaded(uint64_t gen) {
  redis_.command({"HGETALL", keys_.status()}, [this, gen](Result<redis::Reply> r) {
    if (gen != generation_) {
      return;  // a newer connection took over
    }
    if (!r || r->type != redis::Reply::Type::kArray) {
      log::warn("redis: cannot read " + keys_.status() +
                " to restore sequence numbers: " + (r ? r->str : r.error().message));
      if (auto snapshot = std::move(snapshot_)) {
        snapshot_ = nullptr;
        snapshot(std::nullopt);  // first checks are due now
      }
      return;  // the next connection tries again
    }
    restore(r.value());
    // Snapshots that the server lost (a restart without persistence) are rewritten at the next
    // discovery: forget what we believe is stored unless the key still exists.
    for (auto& [id, s] : servers_) {
      if (s.publishedToolsHash.empty()) {
        continue;
      }
      std::string key = keys_.tools(id);
      redis_.command({"EXISTS", key}, [this, gen, id = id](Result<redis::Reply> e) {
        if (gen != generation_ || !e || e->type != redis::Reply::Type::kInteger ||
            e->integer != 0) {
          return;
        }
        if (auto it = servers_.find(id); it != servers_.end()) {
          it->second.publishedToolsHash.clear();
          it->second.publishedTools = ToolHashes();
        }
      });
    }
    ready_ = true;
    for (auto& [id, s] : servers_) {
      if (!s.pendingHealth && !s.latest.head.empty()) {
        refill(id, s);  // no new event
      }
      flush(id, s);
    }
    flushRemovals();
    drainBacklog();  // servers that were waiting when the connection dropped
    // Replies come in order: this one says the refill above is stored.
    redis_.command({"PING"}, [this, gen](Result<redis::Reply> p) {
      if (gen == generation_ && p && refilled_) {
        refilled_();
      }
    });
  });
}

void StatePublisher::restore(const redis::Reply& hash) {
  simdjson::dom::parser parser;
  std::optional<scheduler::Snapshot> snapshot;
  if (snapshot_) {
    snapshot.emplace();
  }
  for (size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    const std::string& id = hash.elements[i].str;
    const std::string& value = hash.elements[i + 1].str;
    uint64_t seq = 0;
    simdjson::dom::element doc;
    if (parser.parse(value).get(doc) != simdjson::SUCCESS ||
        doc["seq"].get_uint64().get(seq) != simdjson::SUCCESS) {
      log::warn("redis: " + keys_.status() + " field '" + id + "' holds no valid seq; ignored");
      continue;
    }
    ServerState& s = servers_[id];
    if (seq > s.seq) {
      s.seq = seq;
    }
    if (snapshot) {
      // A field it cannot read leaves the server out: never seen, due now.
      std::string_view checkedAt;
      std::string_view status;
      int64_t failures = 0;
      if (doc["checked_at"].get(checkedAt) != simdjson::SUCCESS ||
          doc["status"].get(status) != simdjson::SUCCESS) {
        continue;
      }
      auto at = json::parseRfc3339Millis(checkedAt);
      auto st = scheduler::statusFromName(status);
      if (!at || !st) {
        continue;
      }
      if (doc["consecutive_failures"].get(failures) != simdjson::SUCCESS) {
        failures = 0;  // absent: only the backoff estimate is shorter
      }
      (*snapshot)[id] = scheduler::LastCheck{
          *at, *st, static_cast<int>(std::clamp<int64_t>(failures, 0, 1'000'000))};
    }
  }
  if (snapshot) {
    auto callback = std::move(snapshot_);
    snapshot_ = nullptr;
    callback(std::move(snapshot));
  }
}

void StatePublisher::onReport(const scheduler::CheckReport& report) {
  ServerState& s = servers_[report.serverId];
  if (auto removal = removals_.find(report.serverId); removal != removals_.end()) {
    // Registered again before its removal was written: this result answers what it would have.
    s.pendingAnswers.merge(removal->second.answers);
    removals_.erase(removal);
  }
  s.pendingHealth = healthParts(report, memberId_);
  // Coalesced results keep every command they answer.
  s.pendingAnswers.merge(report.answers());
  const mcp::ProbeResult& p = report.probe;
  const std::string& knownHash = s.pendingTools ? s.pendingTools->hash : s.publishedToolsHash;
  if (p.toolsComplete && p.toolsHash != knownHash) {
    s.pendingTools = PendingTools{p.toolsHash, report.checkedAtWallMs, p.tools};
  }
  flush(report.serverId, s);
}

void StatePublisher::onRemoved(const std::string& serverId, const scheduler::Answers& answers) {
  PendingRemoval removal{clock_.wallMs(), {}};
  if (auto it = servers_.find(serverId); it != servers_.end()) {
    // Commands that waited for a result that will never be written are answered by the removal.
    removal.answers = it->second.pendingAnswers;
    // Redis keeps its counter: a server registered again continues after its removal message.
    servers_.erase(it);
  }
  removal.answers.merge(answers);
  auto& pending = removals_[serverId];
  pending.atWallMs = removal.atWallMs;
  pending.answers.merge(removal.answers);
  flushRemovals();
}

void StatePublisher::flushRemovals() {
  if (!ready_) {
    return;  // kept (one per server) until Redis is back
  }
  for (auto& [serverId, r] : removals_) {
    size_t truncated = 0;
    auto ids = visibleIds(r.answers, &truncated);
    Numbered m = removedJson(serverId, r.atWallMs, ids, truncated);
    remove_.run(
        redis_, 3,
        {keys_.seq(), keys_.status(), keys_.tools(serverId), serverId, keys_.healthChannel(),
         std::move(m.head), std::move(m.tail)},
        [serverId](Result<redis::Reply> reply) {
          if (reply && reply->type == redis::Reply::Type::kError) {
            log::warn("redis: the removal of " + serverId + " was not written: " + reply->str);
          }
        });
    answer(r.answers);
  }
  removals_.clear();
}

void StatePublisher::answer(scheduler::Answers& answers) {
  if (answered_) {
    for (const auto& id : answers.ids) {
      answered_(id);
    }
  }
  if (broadcasts_ != nullptr) {
    for (const auto& [from, to] : answers.ranges) {
      broadcasts_->answered(from, to);
    }
  }
  answers = scheduler::Answers{};
}

std::vector<std::string> StatePublisher::visibleIds(const scheduler::Answers& answers,
                                                    size_t* truncated) const {
  std::vector<std::string> ids = answers.ids;
  *truncated = 0;
  if (broadcasts_ != nullptr) {
    size_t shown = 0;
    for (const auto& [from, to] : answers.ranges) {
      size_t more = 0;
      auto some = broadcasts_->ids(from, to, kMaxBroadcastIds - shown, &more);
      shown += some.size();
      *truncated += more;
      ids.insert(ids.end(), some.begin(), some.end());
    }
  }
  return ids;
}

void StatePublisher::drainBacklog() {
  while (!backlog_.empty() && ready_ && redis_.unsentBytes() < kCongestedBytes) {
    std::string id = std::move(backlog_.front());
    backlog_.pop_front();
    if (auto it = servers_.find(id); it != servers_.end() && it->second.backlogged) {
      it->second.backlogged = false;
      flush(id, it->second);
    }
  }
}

void StatePublisher::flush(const std::string& id, ServerState& s) {
  if (!ready_ || !s.pendingHealth) {
    return;  // tools are only ever pending with the health message of their check
  }
  if (s.backlogged) {
    return;  // its turn comes in drainBacklog, in order
  }
  if (redis_.unsentBytes() >= kCongestedBytes) {
    // Redis reads slower than results come: what is not written waits here, one result per
    // server, instead of piling up in the connection's buffer.
    s.backlogged = true;
    backlog_.push_back(id);
    return;
  }
  size_t truncated = 0;
  const std::vector<std::string> ids = visibleIds(s.pendingAnswers, &truncated);
  s.latest = s.pendingHealth->numbered(ids, truncated);
  s.latestSeq = 0;
  const uint64_t write = s.write = ++writes_;
  std::vector<std::string> args{keys_.seq(),           keys_.status(), keys_.tools(id), id,
                                keys_.healthChannel(), s.latest.head,  s.latest.tail};
  if (s.pendingTools) {
    PendingTools& t = *s.pendingTools;
    ToolHashes now(t.tools);
    ToolsDiff diff = diffTools(s.publishedTools, now);
    Numbered event = toolsEventJson(id, t.hash, t.tools.size(), diff, t.discoveredAtWallMs);
    Numbered snapshot = toolsSnapshotJson(id, t.hash, t.discoveredAtWallMs, t.tools);
    args.push_back(keys_.toolsChannel());
    args.push_back(std::move(event.head));
    args.push_back(std::move(event.tail));
    args.push_back(std::move(snapshot.head));
    args.push_back(std::move(snapshot.tail));
    s.publishedTools = std::move(now);
    s.publishedToolsHash = t.hash;
    s.pendingTools.reset();
  }
  publish_.run(redis_, 3, std::move(args), [this, id, write](Result<redis::Reply> r) {
    if (r && r->type == redis::Reply::Type::kError) {
      log::warn("redis: the result of " + id + " was not written: " + r->str);
    }
    numbered(id, write, r);
  });
  s.pendingHealth.reset();
  answer(s.pendingAnswers);
  ++published_;
}

void StatePublisher::refill(const std::string& id, ServerState& s) {
  refill_.run(redis_, 3,
              {keys_.seq(), keys_.status(), keys_.tools(id), id, s.latest.head, s.latest.tail,
               std::to_string(s.latestSeq), std::to_string(s.seq)},
              [this, id, write = s.write](Result<redis::Reply> r) {
                if (r && r->type == redis::Reply::Type::kError) {
                  log::warn("redis: the state of " + id + " was not written again: " + r->str);
                }
                numbered(id, write, r);
              });
}

void StatePublisher::numbered(const std::string& id, uint64_t write,
                              const Result<redis::Reply>& reply) {
  if (!reply || reply->type != redis::Reply::Type::kInteger || reply->integer <= 0) {
    return;  // lost with the connection (the refill decides), refused, or nothing written
  }
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    return;  // removed since
  }
  const auto seq = static_cast<uint64_t>(reply->integer);
  ServerState& s = it->second;
  s.seq = std::max(s.seq, seq);
  if (s.write == write) {
    s.latestSeq = seq;
  }
}

void StatePublisher::publishCommandError(const std::string& commandId, const std::string& op,
                                         const std::string& serverId, const std::string& message) {
  send({"PUBLISH", keys_.healthChannel(),
        commandErrorJson(commandId, op, serverId, message, clock_.wallMs())});
}

void StatePublisher::publishCommandDone(const std::string& commandId, const std::string& op,
                                        size_t servers) {
  send(
      {"PUBLISH", keys_.healthChannel(), commandDoneJson(commandId, op, servers, clock_.wallMs())});
}

namespace {
void warnOnError(Result<redis::Reply> r) {
  if (r && r->type == redis::Reply::Type::kError) {
    log::warn("redis: command failed: " + r->str);
  }
}
}  // namespace

void StatePublisher::send(std::vector<std::string> argv) {
  redis_.command(std::move(argv), warnOnError);
}

}  // namespace mcphd::publish
