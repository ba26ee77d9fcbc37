#include "publish/state_publisher.hpp"

#include <simdjson.h>

#include <algorithm>

#include "common/json_writer.hpp"
#include "common/log.hpp"

namespace mcphd::publish {

StatePublisher::StatePublisher(redis::Commands& redis, const Clock& clock, keyspace::Keyspace keys)
    : redis_(redis), clock_(clock), keys_(std::move(keys)) {
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
  uint64_t gen = generation_;
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
      if (!s.pendingHealth && !s.latestHealth.empty()) {
        send({"HSET", keys_.status(), id, s.latestHealth});  // refill, no new event
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
  s.pendingHealth = healthParts(report);
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
  auto it = servers_.find(serverId);
  PendingRemoval removal{it == servers_.end() ? 1 : it->second.seq + 1, clock_.wallMs(), {}};
  if (it != servers_.end()) {
    // Commands that waited for a result that will never be written are answered by the removal.
    removal.answers = it->second.pendingAnswers;
  }
  removal.answers.merge(answers);
  // Only the seq survives: a server registered again continues after its removal message.
  ServerState& kept = servers_[serverId];
  kept = ServerState{};
  kept.seq = removal.seq;
  auto& pending = removals_[serverId];
  pending.seq = removal.seq;
  pending.atWallMs = removal.atWallMs;
  pending.answers.merge(removal.answers);
  flushRemovals();
}

void StatePublisher::flushRemovals() {
  if (!ready_) {
    return;  // kept (one per server) until Redis is back
  }
  for (auto& [serverId, r] : removals_) {
    send({"HDEL", keys_.status(), serverId});
    send({"DEL", keys_.tools(serverId)});
    size_t truncated = 0;
    auto ids = visibleIds(r.answers, &truncated);
    send({"PUBLISH", keys_.healthChannel(),
          removedJson(serverId, r.seq, r.atWallMs, ids, truncated)});
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

void StatePublisher::writeHealth(const std::string& id, ServerState& s) {
  size_t truncated = 0;
  const std::vector<std::string> ids = visibleIds(s.pendingAnswers, &truncated);
  s.latestHealth = s.pendingHealth->join(s.seq, ids, truncated);
  sendRefs({"HSET", keys_.status(), id, s.latestHealth});
  sendRefs({"PUBLISH", keys_.healthChannel(), s.latestHealth});
  s.pendingHealth.reset();
  answer(s.pendingAnswers);
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
  if (!ready_) {
    return;
  }
  if (s.backlogged) {
    return;  // its turn comes in drainBacklog, in order
  }
  if ((s.pendingHealth || s.pendingTools) && redis_.unsentBytes() >= kCongestedBytes) {
    // Redis reads slower than results come: what is not written waits here, one result per
    // server, instead of piling up in the connection's buffer.
    s.backlogged = true;
    backlog_.push_back(id);
    return;
  }
  if (s.pendingHealth) {
    ++s.seq;
  }
  if (s.pendingTools) {
    PendingTools& t = *s.pendingTools;
    ToolHashes now(t.tools);
    ToolsDiff diff = diffTools(s.publishedTools, now);
    uint64_t seq = s.seq == 0 ? ++s.seq : s.seq;
    send({"SET", keys_.tools(id),
          toolsSnapshotJson(id, seq, t.hash, t.discoveredAtWallMs, t.tools)});
    std::string event = toolsEventJson(id, seq, t.hash, t.tools.size(), diff, t.discoveredAtWallMs);
    if (s.pendingHealth) {
      writeHealth(id, s);
    }
    send({"PUBLISH", keys_.toolsChannel(), event});
    s.publishedTools = std::move(now);
    s.publishedToolsHash = t.hash;
    s.pendingTools.reset();
  }
  if (s.pendingHealth) {
    writeHealth(id, s);
    ++published_;
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

void StatePublisher::sendRefs(std::initializer_list<std::string_view> argv) {
  redis_.commandRefs(argv, warnOnError);
}

}  // namespace mcphd::publish
