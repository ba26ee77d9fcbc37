#include "publish/state_publisher.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <string_view>
#include <utility>

#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "publish/write_scripts.hpp"

namespace mcphd::publish {

namespace {

// The value of `field` in an INFO reply ("field:value\r\n" lines); empty when absent.
std::string infoField(std::string_view info, std::string_view field) {
  size_t at = 0;
  while (at < info.size()) {
    size_t end = info.find('\n', at);
    std::string_view line = info.substr(at, end == std::string_view::npos ? end : end - at);
    if (line.size() > field.size() && line.substr(0, field.size()) == field &&
        line[field.size()] == ':') {
      line.remove_prefix(field.size() + 1);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
        line.remove_suffix(1);
      }
      return std::string(line.substr(0, 64));
    }
    if (end == std::string_view::npos) {
      break;
    }
    at = end + 1;
  }
  return {};
}

std::string randomToken() {
  std::random_device device;
  std::string token;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof part, "%08x", static_cast<unsigned>(device()));
    token += part;
  }
  return token;
}

}  // namespace

StatePublisher::StatePublisher(redis::Commands& redis, const Clock& clock, keyspace::Keyspace keys,
                               std::string memberId)
    : redis_(redis),
      clock_(clock),
      keys_(std::move(keys)),
      memberId_(std::move(memberId)),
      publish_(publishScript()),
      remove_(removeScript()),
      refill_(refillScript()),
      answer_(answerScript()) {
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
  for (redis::Script* script : {&publish_, &remove_, &refill_, &answer_}) {
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
    checkEpoch(gen);
  });
}

void StatePublisher::checkEpoch(uint64_t gen) {
  // In order on one connection: all are answered before anything this connection writes.
  struct Seen {
    std::string runId;
    bool persisted = true;  // unknown counts as persisted: never a loss
  };
  auto seen = std::make_shared<Seen>();
  redis_.command({"INFO", "server"}, [seen](Result<redis::Reply> r) {
    if (r && r->type == redis::Reply::Type::kString) {
      seen->runId = infoField(r->str, "run_id");  // a user without INFO: never known, never lost
    }
  });
  redis_.command({"INFO", "persistence"}, [seen](Result<redis::Reply> r) {
    if (r && r->type == redis::Reply::Type::kString) {
      // Started from no data: no append-only file, and no key loaded from an RDB file.
      seen->persisted = infoField(r->str, "aof_enabled") != "0" ||
                        infoField(r->str, "rdb_last_load_keys_loaded") != "0";
    }
  });
  // A new token at every connection: one this daemon wrote before would not tell a Redis that
  // lost it from one that kept it.
  redis_.command({"SET", keys_.epoch(), randomToken(), "NX"}, nullptr);
  // Not sent: the connection is going, and the next one starts over (onReady).
  redis_.command({"GET", keys_.epoch()}, [this, gen, seen](Result<redis::Reply> r) {
    if (gen != generation_ || !r) {
      return;  // a newer connection took over, or this one is gone
    }
    const std::string epoch =
        r->type == redis::Reply::Type::kString ? r->str.substr(0, 64) : std::string();
    if (!seen->runId.empty() && !epoch.empty()) {
      // All three: a Redis that restarted with its data keeps the token and says it loaded it;
      // whoever can write to Redis can delete the token, but not restart Redis or change what
      // INFO says it loaded at start.
      if (!runId_.empty() && seen->runId != runId_ && epoch != epoch_ && !seen->persisted) {
        log::warn(
            "redis: Redis restarted without its data (a new run_id, nothing loaded at its "
            "start, and " +
            keys_.epoch() +
            " written again): what this daemon wrote "
            "before is gone");
        if (dataLost_) {
          dataLost_();
        }
      }
      runId_ = seen->runId;
      epoch_ = epoch;
    }
    onLoaded(gen);
  });
}

void StatePublisher::onLoaded(uint64_t gen) {
  if (!snapshot_) {
    resume(gen);
    return;
  }
  // The first connection: the stored state is the scheduler's start-up snapshot.
  redis_.command({"HGETALL", keys_.status()}, [this, gen](Result<redis::Reply> r) {
    if (gen != generation_) {
      return;  // a newer connection took over
    }
    if (!r || r->type != redis::Reply::Type::kArray) {
      log::warn("redis: cannot read " + keys_.status() +
                "; every server is checked now: " + (r ? r->str : r.error().message));
      snapshotFrom(nullptr);
    } else {
      snapshotFrom(&r.value());
    }
    resume(gen);
  });
}

void StatePublisher::resume(uint64_t gen) {
  // Snapshots that the server lost (a restart without persistence) are rewritten at the next
  // discovery: forget what we believe is stored unless the key still exists.
  for (auto& [id, s] : servers_) {
    if (s.publishedToolsHash.empty()) {
      continue;
    }
    std::string key = keys_.tools(id);
    redis_.command({"EXISTS", key}, [this, gen, id = id](Result<redis::Reply> e) {
      if (gen != generation_ || !e || e->type != redis::Reply::Type::kInteger || e->integer != 0) {
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
    s.inFlight = 0;  // lost with the old connection, or applied: the refill tells
    if (!s.pendingHealth && !s.latest.head.empty() && released_.count(id) == 0) {
      refill(id, s);  // no new event (and only for servers this member still checks)
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
}

std::optional<StoredCheck> parseStoredCheck(simdjson::dom::parser& parser, std::string_view json) {
  simdjson::dom::element doc;
  std::string_view checkedAt;
  std::string_view status;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS ||
      doc["checked_at"].get(checkedAt) != simdjson::SUCCESS ||
      doc["status"].get(status) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  auto at = json::parseRfc3339Millis(checkedAt);
  auto st = scheduler::statusFromName(status);
  if (!at || !st) {
    return std::nullopt;
  }
  // Absent counts are 0: only the backoff estimate is shorter, the thresholds start over.
  auto count = [&](const char* key) {
    int64_t n = 0;
    if (doc[key].get(n) != simdjson::SUCCESS) {
      n = 0;
    }
    return static_cast<int>(std::clamp<int64_t>(n, 0, 1'000'000));
  };
  StoredCheck c;
  c.last.checkedAtWallMs = *at;
  c.last.status = *st;
  c.last.consecutiveFailures = count("consecutive_failures");
  c.last.consecutiveSuccesses = count("consecutive_successes");
  std::string_view since;
  if (doc["status_since"].get(since) == simdjson::SUCCESS) {
    c.last.statusSinceWallMs = json::parseRfc3339Millis(since).value_or(0);
  }
  std::string_view tools;
  if (doc["tools_hash"].get(tools) == simdjson::SUCCESS && tools.size() <= 128) {
    c.toolsHash = std::string(tools);
  }
  std::string_view by;
  if (doc["checked_by"].get(by) == simdjson::SUCCESS && by.size() <= 128) {
    c.checkedBy = std::string(by);
  }
  std::string_view approval;
  c.hadBaseline = doc["tools_approval"].get(approval) == simdjson::SUCCESS &&
                  (approval == "approved" || approval == "drifted");
  c.drifted = c.hadBaseline && approval == "drifted";
  return c;
}

void StatePublisher::readStored(
    const std::vector<std::string>& ids,
    std::function<void(std::optional<std::map<std::string, StoredCheck>>)> done) {
  if (ids.empty()) {
    done(std::map<std::string, StoredCheck>{});
    return;
  }
  if (!ready_) {
    done(std::nullopt);
    return;
  }
  std::vector<std::string> argv = {"HMGET", keys_.status()};
  argv.insert(argv.end(), ids.begin(), ids.end());
  using Done = std::function<void(std::optional<std::map<std::string, StoredCheck>>)>;
  auto shared = std::make_shared<Done>(std::move(done));
  const bool sent = redis_.command(std::move(argv), [this, ids, shared](Result<redis::Reply> r) {
    if (!r || r->type != redis::Reply::Type::kArray || r->elements.size() != ids.size()) {
      log::warn("redis: cannot read " + keys_.status() + " for the servers taken over (" +
                (r ? (r->type == redis::Reply::Type::kError ? r->str : "unexpected reply")
                   : r.error().message) +
                "); reading again");
      (*shared)(std::nullopt);
      return;
    }
    std::map<std::string, StoredCheck> out;
    simdjson::dom::parser parser;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (r->elements[i].type != redis::Reply::Type::kString) {
        continue;  // never published
      }
      if (auto c = parseStoredCheck(parser, r->elements[i].str)) {
        if (c->hadBaseline && baselineSeen_) {
          baselineSeen_(ids[i], c->drifted);
        }
        if (!c->toolsHash.empty()) {
          storedTools_[ids[i]] = c->toolsHash;
        }
        out.emplace(ids[i], std::move(*c));
      }
    }
    (*shared)(std::move(out));
  });
  if (!sent) {
    (*shared)(std::nullopt);
  }
}

void StatePublisher::own(const std::string& id) {
  released_.erase(id);
  auto stored = storedTools_.find(id);
  if (stored == storedTools_.end()) {
    return;
  }
  ServerState& s = servers_[id];
  if (s.publishedToolsHash.empty() && !s.pendingTools) {
    // Its per-tool hashes are not known: a change is announced with every tool as added.
    s.publishedToolsHash = std::move(stored->second);
  }
  storedTools_.erase(stored);
}

void StatePublisher::release(const std::string& id) {
  released_.insert(id);
  auto it = servers_.find(id);
  if (it != servers_.end() && !it->second.pendingHealth && it->second.inFlight == 0 &&
      !it->second.backlogged) {
    servers_.erase(it);  // else once what is pending is written (numbered)
  }
}

void StatePublisher::snapshotFrom(const redis::Reply* hash) {
  auto callback = std::move(snapshot_);
  snapshot_ = nullptr;
  if (hash == nullptr) {
    callback(std::nullopt);
    return;
  }
  scheduler::Snapshot snapshot;
  simdjson::dom::parser parser;
  for (size_t i = 0; i + 1 < hash->elements.size(); i += 2) {
    const std::string& id = hash->elements[i].str;
    // A field it cannot read leaves the server out: never seen, due now.
    auto stored = parseStoredCheck(parser, hash->elements[i + 1].str);
    if (!stored) {
      log::warn("redis: " + keys_.status() + " field '" + id.substr(0, 128) +
                "' is not a health message; that server is due now");
      continue;
    }
    if (stored->hadBaseline && baselineSeen_) {
      baselineSeen_(id, stored->drifted);
    }
    snapshot[id] = stored->last;
  }
  callback(std::move(snapshot));
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
    s.pendingTools = PendingTools{p.toolsHash, report.checkedAtWallMs, p.tools, p.verdict};
  }
  if (p.verdict && p.verdict->enteredDrift) {
    s.pendingDrift = driftJson(report.serverId, p.toolsHash, *p.verdict, report.checkedAtWallMs);
  } else if (p.verdict && p.verdict->approval != baseline::Approval::kDrifted) {
    s.pendingDrift.reset();  // over before it was written: its health message says so
  }
  flush(report.serverId, s);
}

void StatePublisher::onRemoved(const std::string& serverId, const scheduler::Answers& answers) {
  PendingRemoval removal{0, clock_.wallMs(), {}};
  if (auto it = servers_.find(serverId); it != servers_.end()) {
    // Commands that waited for a result that will never be written are answered by the removal.
    removal.answers = it->second.pendingAnswers;
    removal.knownSeq = it->second.seq;
    // Redis keeps its counter: a server registered again continues after its removal message.
    servers_.erase(it);
  }
  released_.erase(serverId);
  removal.answers.merge(answers);
  auto& pending = removals_[serverId];
  pending.knownSeq = std::max(pending.knownSeq, removal.knownSeq);
  pending.atWallMs = removal.atWallMs;
  pending.answers.merge(removal.answers);
  flushRemovals();
}

void StatePublisher::flushRemovals() {
  if (!ready_) {
    return;  // kept (one per server) until Redis is back
  }
  for (auto it = removals_.begin(); it != removals_.end();) {
    const std::string& serverId = it->first;
    PendingRemoval& r = it->second;
    size_t truncated = 0;
    std::vector<std::string> named = broadcastIds(r.answers, &truncated);
    Answering m = removedJson(serverId, r.atWallMs, truncated);
    AnswerArgs answering = answerArgs(r.answers, std::move(named));
    size_t numKeys = 0;
    std::vector<std::string> args =
        writeArgs(serverId, r.knownSeq, std::move(m), std::move(answering), 0, &numKeys);
    const bool sent =
        remove_.run(redis_, numKeys, std::move(args), [this, serverId](Result<redis::Reply> reply) {
          if (reply && reply->type == redis::Reply::Type::kError) {
            writeFailed("the removal of " + serverId, reply->str);
          }
          answerErrors(reply, 2, "the removal of ", serverId);
        });
    if (!sent) {
      return;  // the connection is going: kept for the next one
    }
    answer(r.answers);
    it = removals_.erase(it);
  }
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

std::vector<std::string> StatePublisher::broadcastIds(const scheduler::Answers& answers,
                                                      size_t* truncated) const {
  std::vector<std::string> ids;
  *truncated = 0;
  if (broadcasts_ != nullptr) {
    for (const auto& [from, to] : answers.ranges) {
      size_t more = 0;
      for (const auto& id : broadcasts_->ids(from, to, kMaxBroadcastIds - ids.size(), &more)) {
        ids.push_back(quotedId(id));
      }
      *truncated += more;
    }
  }
  return ids;
}

StatePublisher::AnswerArgs StatePublisher::answerArgs(const scheduler::Answers& answers,
                                                      std::vector<std::string> named) {
  AnswerArgs out;
  out.named = std::move(named);
  std::vector<std::string> plain;  // commands without an entry: named as they are, first
  std::map<std::string_view, size_t> seen;
  for (const auto& id : answers.ids) {
    std::optional<CommandEntry> e = entryOf_ ? entryOf_(id, seen[id]++) : std::nullopt;
    if (!e) {
      plain.push_back(quotedId(id));
      continue;
    }
    std::string marker = keys_.answered(e->stream, e->entry);
    out.keys.push_back(std::move(e->stream));
    out.keys.push_back(std::move(marker));
    out.entries.push_back(std::move(e->group));
    out.entries.push_back(std::move(e->entry));
    out.entries.push_back(e->remove ? "1" : "0");
    out.entries.push_back(quotedId(id));
  }
  out.named.insert(out.named.begin(), std::make_move_iterator(plain.begin()),
                   std::make_move_iterator(plain.end()));
  return out;
}

std::vector<std::string> StatePublisher::writeArgs(const std::string& id, uint64_t seq,
                                                   Answering message, AnswerArgs answering,
                                                   size_t room, size_t* numKeys) const {
  std::vector<std::string> args;
  args.reserve(3 + 6 + answering.size() + room);
  args.push_back(keys_.seq());
  args.push_back(keys_.status());
  args.push_back(keys_.tools(id));
  args.insert(args.end(), std::make_move_iterator(answering.keys.begin()),
              std::make_move_iterator(answering.keys.end()));
  *numKeys = args.size();
  args.push_back(id);
  args.push_back(std::to_string(seq));
  args.push_back(keys_.healthChannel());
  args.push_back(std::move(message.head));
  args.push_back(std::move(message.body));
  args.push_back(std::move(message.end));
  answering.appendArgv(args);
  return args;
}

void StatePublisher::AnswerArgs::appendArgv(std::vector<std::string>& args) {
  args.push_back(std::to_string(entries.size() / 4));
  args.insert(args.end(), std::make_move_iterator(entries.begin()),
              std::make_move_iterator(entries.end()));
  args.push_back(std::to_string(named.size()));
  args.insert(args.end(), std::make_move_iterator(named.begin()),
              std::make_move_iterator(named.end()));
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
  if (s.backlogged || s.inFlight != 0) {
    return;  // its turn comes in drainBacklog, in order, or when the write in flight is answered
  }
  if (redis_.unsentBytes() >= kCongestedBytes) {
    // Redis reads slower than results come: what is not written waits here, one result per
    // server, instead of piling up in the connection's buffer.
    s.backlogged = true;
    backlog_.push_back(id);
    return;
  }
  size_t truncated = 0;
  AnswerArgs answering = answerArgs(s.pendingAnswers, broadcastIds(s.pendingAnswers, &truncated));
  // A publish per check: the message's parts are taken over, not copied, and the arguments are
  // one vector sized once. Only the copy kept for a refill is made (without command ids until
  // Redis says which it names).
  Answering message = std::move(*s.pendingHealth).answering(truncated);
  Numbered health = message.with({});
  const size_t idsAt = message.body.size();
  size_t numKeys = 0;
  std::vector<std::string> args =
      writeArgs(id, s.seq, std::move(message), std::move(answering),
                (s.pendingTools ? 5 : 0) + (s.pendingDrift ? 3 : 0), &numKeys);
  std::optional<ToolHashes> tools;
  if (s.pendingTools) {
    const PendingTools& t = *s.pendingTools;
    tools.emplace(t.tools);
    ToolsDiff diff = diffTools(s.publishedTools, *tools);
    Numbered event = toolsEventJson(id, t.hash, t.tools.size(), diff, t.discoveredAtWallMs);
    const std::string mac = snapshotSigner_ ? snapshotSigner_(id, t.hash) : std::string();
    Numbered snapshot =
        toolsSnapshotJson(id, t.hash, t.discoveredAtWallMs, t.tools, t.verdict.get(), mac);
    args.push_back(keys_.toolsChannel());
    args.push_back(std::move(event.head));
    args.push_back(std::move(event.tail));
    args.push_back(std::move(snapshot.head));
    args.push_back(std::move(snapshot.tail));
  }
  // Copied, not moved: kept until the write is sent.
  if (s.pendingDrift) {
    args.push_back(keys_.toolsChannel());
    args.push_back(s.pendingDrift->head);
    args.push_back(s.pendingDrift->tail);
  }
  // What the write takes is taken out before it is sent: its reply may come, and the server's
  // next write go, from inside run(). Put back if it cannot be sent (a connection going away
  // refuses commands before it says it is gone): the next connection writes it.
  s.pendingHealth.reset();  // its parts are in `args`; rebuilt from `health` if not sent
  auto pendingTools = std::move(s.pendingTools);
  s.pendingTools.reset();
  scheduler::Answers answers = std::move(s.pendingAnswers);
  s.pendingAnswers = scheduler::Answers{};
  Numbered previous = std::exchange(s.latest, std::move(health));
  const uint64_t previousWrite = s.write;
  const uint64_t previousSeq = std::exchange(s.latestSeq, 0);
  const size_t previousIdsAt = std::exchange(s.idsAt, idsAt);
  const uint64_t write = s.write = s.inFlight = ++writes_;
  const bool sent =
      publish_.run(redis_, numKeys, std::move(args), [this, id, write](Result<redis::Reply> r) {
        if (r && r->type == redis::Reply::Type::kError) {
          writeFailed("the result of " + id, r->str);
        }
        answerErrors(r, 2, "the result of ", id);
        numbered(id, write, r);
      });
  if (!sent) {
    // The message as it was pending: the kept copy up to where the ids go, closed.
    s.latest.tail.resize(idsAt);
    s.latest.tail += '}';
    s.pendingHealth = HealthParts{std::move(s.latest.head), std::move(s.latest.tail)};
    s.pendingTools = std::move(pendingTools);
    s.pendingAnswers = std::move(answers);
    s.latest = std::move(previous);
    s.write = previousWrite;
    s.latestSeq = previousSeq;
    s.idsAt = previousIdsAt;
    s.inFlight = 0;
    return;
  }
  if (pendingTools) {
    s.publishedTools = std::move(*tools);
    s.publishedToolsHash = pendingTools->hash;
  }
  s.pendingDrift.reset();
  answer(answers);  // acknowledged by the script
  ++published_;
}

void StatePublisher::refill(const std::string& id, ServerState& s) {
  s.inFlight = s.write;
  const bool sent = refill_.run(redis_, 3,
                                {keys_.seq(), keys_.status(), keys_.tools(id), id, s.latest.head,
                                 s.latest.tail, std::to_string(s.latestSeq), std::to_string(s.seq)},
                                [this, id, write = s.write](Result<redis::Reply> r) {
                                  if (r && r->type == redis::Reply::Type::kError) {
                                    writeFailed("the state of " + id, r->str);
                                  }
                                  numbered(id, write, r);
                                });
  if (!sent) {
    s.inFlight = 0;
  }
}

void StatePublisher::numbered(const std::string& id, uint64_t write,
                              const Result<redis::Reply>& reply) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    return;  // removed since
  }
  ServerState& s = it->second;
  // Lost with the connection (the refill decides), refused (logged), or nothing written: no seq.
  // The publish script answers [seq, the command ids it named], the refill script the seq.
  const redis::Reply* number = nullptr;
  const redis::Reply* ids = nullptr;
  if (reply && reply->type == redis::Reply::Type::kInteger) {
    number = &reply.value();
  } else if (reply && reply->type == redis::Reply::Type::kArray && reply->elements.size() >= 2 &&
             reply->elements[0].type == redis::Reply::Type::kInteger &&
             reply->elements[1].type == redis::Reply::Type::kString) {
    number = &reply->elements[0];
    ids = &reply->elements[1];
  }
  if (number != nullptr && number->integer > 0) {
    const auto seq = static_cast<uint64_t>(number->integer);
    s.seq = std::max(s.seq, seq);
    if (s.write == write) {
      s.latestSeq = seq;
      if (ids != nullptr && !ids->str.empty() && s.idsAt <= s.latest.tail.size()) {
        // The stored message, as a refill rewrites it. Built at its exact size: kept per server
        // until the next check, and insert() would double its capacity (10,000 servers kept
        // 17 MB of that slack).
        std::string tail;
        tail.reserve(s.latest.tail.size() + ids->str.size());
        tail.append(s.latest.tail, 0, s.idsAt);
        tail += ids->str;
        tail.append(s.latest.tail, s.idsAt, std::string::npos);
        s.latest.tail = std::move(tail);
      }
    }
  }
  if (s.inFlight == write) {
    s.inFlight = 0;
    if (reply) {
      flush(id, s);  // a result that waited for this reply
    }                // else the connection is going: the next one writes it
  }
  if (released_.count(id) != 0 && !s.pendingHealth && s.inFlight == 0 && !s.backlogged) {
    servers_.erase(it);  // its last result is written; another member checks it now
  }
}

void StatePublisher::writeFailed(const std::string& what, const std::string& error) {
  // One bad key (a status hash that is not a hash) fails every write: the first and then every
  // 1,000th are logged.
  if (writeFailures_++ % 1000 == 0) {
    log::warn("redis: " + what + " was not written: " + error + " (" +
              std::to_string(writeFailures_) + " failed writes so far)");
  }
}

bool StatePublisher::publishCommandError(const std::string& commandId, const std::string& op,
                                         const std::string& serverId, const std::string& message,
                                         const CommandEntry& entry) {
  return answerEntry(entry, commandErrorJson(commandId, op, serverId, message, clock_.wallMs()),
                     "command_error of " + commandId);
}

bool StatePublisher::publishCommandDone(const std::string& commandId, const std::string& op,
                                        size_t servers, const CommandEntry& entry) {
  return answerEntry(entry, commandDoneJson(commandId, op, servers, clock_.wallMs()),
                     "command_done of " + commandId);
}

bool StatePublisher::answerEntry(const CommandEntry& entry, std::string message,
                                 const std::string& what) {
  return answer_.run(
      redis_, 2,
      {entry.stream, keys_.answered(entry.stream, entry.entry), entry.group, entry.entry,
       entry.remove ? "1" : "0", keys_.healthChannel(), std::move(message)},
      [this, what](Result<redis::Reply> r) {
        if (r && r->type == redis::Reply::Type::kError) {
          writeFailed("the " + what, r->str);
        }
        answerErrors(r, 1, "the ", what);
      });
}

void StatePublisher::answerErrors(const Result<redis::Reply>& reply, size_t at,
                                  std::string_view what, std::string_view name) {
  if (reply && reply->type == redis::Reply::Type::kArray && reply->elements.size() > at &&
      !reply->elements[at].str.empty()) {
    // The answer went out; its entry stays pending (and is carried out again, but not answered
    // twice) until the Redis user may acknowledge it.
    writeFailed(
        "the acknowledgement of the commands answered by " + std::string(what) + std::string(name),
        reply->elements[at].str.substr(0, 300) +
            " (give the Redis user XACK, XDEL and SET on the command keys)");
  }
}

}  // namespace mcphd::publish
