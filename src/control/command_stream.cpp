#include "control/command_stream.hpp"

#include <simdjson.h>

#include <algorithm>

#include "cluster/rendezvous.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "control/command_scripts.hpp"
#include "publish/messages.hpp"
#include "registry/validate.hpp"

namespace mcphd::control {

namespace {

bool isError(const Result<redis::Reply>& r) { return !r || r->type == redis::Reply::Type::kError; }

std::string describe(const Result<redis::Reply>& r) { return r ? r->str : r.error().message; }

// A stream entry id ("<ms>-<n>"): what a forwarded entry's `origin` must be.
bool isEntryId(std::string_view v) {
  const size_t dash = v.find('-');
  auto digits = [](std::string_view d) {
    return !d.empty() && d.size() <= 20 &&
           std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  return dash != std::string_view::npos && digits(v.substr(0, dash)) && digits(v.substr(dash + 1));
}

std::string activeKey(const std::string& stream, const std::string& entry) {
  return stream + " " + entry;
}

// How often a command waits for this member to finish taking its server over, 250 ms apart.
constexpr int kDeferAttempts = 40;
// A `check *` part waits (250 ms at a time) while this member is taking servers over, so that
// they are checked for it too; for at most a minute (a grace longer than that: a server timeout
// near a minute), then it goes on without them and says so.
constexpr int kPartDeferAttempts = 240;
// Forwarded more often than this: the members disagree for longer than a heartbeat or two.
constexpr int kMaxHops = 5;

}  // namespace

CommandStream::CommandStream(redis::Commands& reader, redis::Commands& writer,
                             loop::TimerFactory& timers, registry::RedisRegistry& registry,
                             scheduler::Scheduler& scheduler, publish::StatePublisher& answers,
                             Options options)
    : reader_(reader),
      writer_(writer),
      registry_(registry),
      scheduler_(scheduler),
      answers_(answers),
      options_(std::move(options)),
      stream_(options_.keys.commands()),
      retry_(timers.createTimer()),
      claimTimer_(timers.createTimer()),
      deferTimer_(timers.createTimer()),
      forward_(forwardScript()),
      split_(splitScript()),
      partDone_(partDoneScript()) {
  // A message answering a command acknowledges its entry in the script that publishes it, and
  // names it only when that acknowledgement is the first (docs/PROTOCOL.md, "Commands, exactly
  // once").
  // The n-th time a message names an id is its n-th entry (answered() takes them in that order).
  answers_.entryOf(
      [this](const std::string& id, size_t nth) -> std::optional<publish::CommandEntry> {
        auto it = refs_.find(id);
        if (it == refs_.end() || nth >= it->second.size()) {
          return std::nullopt;
        }
        return entryOf(it->second[nth]);
      });
  answers_.onAnswered([this](const std::string& id) { answered(id); });
}

publish::CommandEntry CommandStream::entryOf(const Ref& ref) const {
  // Member streams hold only the unanswered: an entry answered there is deleted.
  return publish::CommandEntry{ref.stream, options_.group, ref.entry, ref.stream != stream_};
}

void CommandStream::setCluster(cluster::Ownership& ownership, std::string memberId,
                               redis::Subscriber& control, const Clock& clock) {
  ownership_ = &ownership;
  memberId_ = std::move(memberId);
  control_ = &control;
  clock_ = &clock;
  own_ = options_.keys.memberCommands(memberId_);
  options_.consumer = consumerOf(memberId_);
}

std::optional<CommandStream::Ref> CommandStream::takeRef(const std::string& id, bool newest) {
  auto it = refs_.find(id);
  if (it == refs_.end() || it->second.empty()) {
    return std::nullopt;
  }
  Ref ref = newest ? it->second.back() : it->second.front();
  newest ? it->second.pop_back() : it->second.pop_front();
  if (it->second.empty()) {
    refs_.erase(it);
  }
  if (auto p = inProgress_.find(id); p != inProgress_.end() && --p->second == 0) {
    inProgress_.erase(p);
  }
  return ref;
}

void CommandStream::broadcastDone(const std::string& id, size_t servers) {
  const std::optional<Ref> taken = takeRef(id, false);
  if (!taken) {
    return;
  }
  const Ref& ref = *taken;
  finish(ref);
  if (!ref.part) {
    // Not sent (the connection is going): the entry stays pending, and is carried out again
    // after the reconnect.
    answers_.publishCommandDone(id, "check", servers, entryOf(ref));
    return;
  }
  // A part of a `check *` split among the members: counted in Redis, and the last part
  // publishes command_done for all of them, in the step that acknowledges it.
  const int64_t now = clock_ != nullptr ? clock_->wallMs() : 0;
  publish::Numbered done = publish::commandDoneParts(id, "check", now);
  partDone_.run(writer_, 2,
                {ref.stream, options_.keys.commandParts(id), options_.group, ref.entry,
                 std::to_string(servers), options_.keys.healthChannel(), std::move(done.head),
                 std::move(done.tail)},
                [id](Result<redis::Reply> r) {
                  if (r && r->type == redis::Reply::Type::kError) {
                    log::warn("commands: " + id + ": the part could not be counted: " + r->str);
                  } else if (r && r->type == redis::Reply::Type::kInteger && r->integer == -1) {
                    log::warn("commands: " + id +
                              ": its parts hash is gone (deleted, or older than a day); no "
                              "command_done is published for it");
                  }
                });
}

void CommandStream::start() {
  scheduler_.broadcasts().onDone(
      [this](const std::string& id, size_t servers) { broadcastDone(id, servers); });
  reader_.onReadyChange([this](bool ready) { onReaderReady(ready); });
  if (reader_.ready()) {
    onReaderReady(true);
  }
  if (control_ != nullptr) {
    auto subscribe = [this] {
      const bool sent = control_->subscribe(
          {options_.keys.controlChannel()},
          [this](const std::string&, const std::string& payload) { onControl(payload); }, [] {});
      if (!sent) {
        log::warn("commands: cannot subscribe to " + options_.keys.controlChannel());
      }
    };
    control_->onReadyChange([subscribe](bool ready) {
      if (ready) {
        subscribe();
      }
    });
    if (control_->ready()) {
      subscribe();
    }
  }
}

void CommandStream::onReaderReady(bool ready) {
  uint64_t gen = ++generation_;
  retry_->stop();
  claimTimer_->stop();
  if (ready) {
    afterRegistryRead(gen);
  }
}

// A `check` of a server registered in Redis, written while the daemon was down, must find that
// server: nothing is read from the stream before the registry has been read once.
void CommandStream::afterRegistryRead(uint64_t gen) {
  if (registry_.loaded()) {
    init(gen);
    return;
  }
  retry_->start(100, [this, gen] {
    if (gen == generation_) {
      afterRegistryRead(gen);
    }
  });
}

void CommandStream::init(uint64_t gen) {
  createGroup(gen, stream_, [this, gen] {
    auto pending = [this, gen] {
      // Our own entries that were delivered but never acknowledged (the daemon died).
      readPending(gen, stream_, "0", [this, gen] {
        if (own_.empty()) {
          return claim(gen, "0-0", true);
        }
        readPending(gen, own_, "0", [this, gen] { claim(gen, "0-0", true); });
      });
    };
    if (own_.empty()) {
      return pending();
    }
    createGroup(gen, own_, pending);
  });
}

void CommandStream::createGroup(uint64_t gen, const std::string& stream,
                                std::function<void()> next) {
  // From 0: commands written before the group existed are carried out too.
  reader_.command({"XGROUP", "CREATE", stream, options_.group, "0", "MKSTREAM"},
                  [this, gen, stream, next = std::move(next)](Result<redis::Reply> r) {
                    if (gen != generation_) {
                      return;
                    }
                    if (!r) {
                      return;  // connection lost: onReaderReady starts over
                    }
                    if (isError(r) && describe(r).rfind("BUSYGROUP", 0) != 0) {
                      log::warn("commands: cannot create consumer group on " + stream + ": " +
                                describe(r) + " (retrying)");
                      retry_->start(1000, [this, gen] { init(gen); });
                      return;
                    }
                    next();
                  });
}

bool CommandStream::usable(uint64_t gen, const Result<redis::Reply>& r, const char* what) {
  if (gen != generation_ || !r) {
    return false;  // stale, or the connection was lost: onReaderReady starts over
  }
  if (isError(r)) {
    log::warn(std::string("commands: ") + what + ": " + describe(r) + " (setting up again in 1 s)");
    retry_->start(1000, [this, gen] { init(gen); });
    return false;
  }
  return true;
}

void CommandStream::readPending(uint64_t gen, const std::string& stream, std::string from,
                                std::function<void()> next) {
  reader_.command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT", "100",
                   "STREAMS", stream, from},
                  [this, gen, stream, next = std::move(next)](Result<redis::Reply> r) mutable {
                    if (!usable(gen, r, "cannot read pending commands")) {
                      return;
                    }
                    std::string last;
                    const redis::Reply& streams = r.value();
                    if (streams.type == redis::Reply::Type::kArray && !streams.elements.empty() &&
                        streams.elements[0].elements.size() == 2) {
                      const redis::Reply& entries = streams.elements[0].elements[1];
                      if (!entries.elements.empty() && !entries.elements.back().elements.empty()) {
                        last = entries.elements.back().elements[0].str;
                      }
                      handleEntries(stream, entries);
                    }
                    if (!last.empty()) {
                      readPending(gen, stream, last, std::move(next));
                    } else {
                      next();
                    }
                  });
}

void CommandStream::claim(uint64_t gen, std::string from, bool thenRead) {
  auto finished = [this, gen, thenRead] {
    // Look for abandoned entries again later (in a cluster, also those of members that left
    // while this one did not watch).
    claimTimer_->start(options_.claimIdleMs, [this, gen] {
      sweep();
      claimOwn(gen);
      claim(gen, "0-0", false);
    });
    if (thenRead) {
      readNew(gen);
    }
  };
  bool sent = writer_.command(
      {"XAUTOCLAIM", stream_, options_.group, options_.consumer,
       std::to_string(options_.claimIdleMs), from, "COUNT", "100"},
      [this, gen, thenRead, finished](Result<redis::Reply> r) {
        if (gen != generation_) {
          return;
        }
        if (isError(r) || r->type != redis::Reply::Type::kArray || r->elements.size() < 2) {
          if (r && r->type == redis::Reply::Type::kError) {
            log::warn("commands: XAUTOCLAIM failed: " + r->str);
          }
          return finished();
        }
        handleEntries(stream_, r->elements[1]);
        const std::string& next = r->elements[0].str;
        if (next != "0-0" && !next.empty()) {
          return claim(gen, next, thenRead);
        }
        finished();
      });
  if (!sent) {
    // The other connection (answers, acknowledgements, claims) is not back yet: commands are
    // read meanwhile, abandoned entries are looked for at the next round.
    finished();
  }
}

void CommandStream::claimOwn(uint64_t gen) {
  // Entries of this member's stream whose answer was lost with the answering connection (while
  // this reading one stayed up) are pending here, and nobody else reads them: carried out again
  // once idle that long (those still being carried out are skipped by handleEntries).
  if (!clustered()) {
    return;
  }
  writer_.command({"XAUTOCLAIM", own_, options_.group, options_.consumer,
                   std::to_string(options_.claimIdleMs), "0-0", "COUNT", "100"},
                  [this, gen](Result<redis::Reply> r) {
                    if (gen != generation_ || isError(r) || r->type != redis::Reply::Type::kArray ||
                        r->elements.size() < 2) {
                      return;  // (no such group yet: nothing was forwarded here)
                    }
                    handleEntries(own_, r->elements[1]);  // the rest at the next round
                  });
}

void CommandStream::readNew(uint64_t gen) {
  if (gen != generation_) {
    return;
  }
  if (inProgress_.size() + deferred_.size() >= options_.maxInProgress) {
    retry_->start(100, [this, gen] { readNew(gen); });  // back-pressure: let answers catch up
    return;
  }
  std::vector<std::string> argv = {
      "XREADGROUP", "GROUP", options_.group, options_.consumer,
      "COUNT",      "100",   "BLOCK",        std::to_string(options_.blockMs),
      "STREAMS",    stream_};
  if (!own_.empty()) {
    argv.push_back(own_);
  }
  argv.push_back(">");
  if (!own_.empty()) {
    argv.push_back(">");
  }
  bool sent = reader_.command(std::move(argv), [this, gen](Result<redis::Reply> r) {
    // NOGROUP (a stream was deleted) sets the groups up again.
    if (!usable(gen, r, "XREADGROUP failed")) {
      return;
    }
    handleReply(r.value());
    readNew(gen);
  });
  if (!sent) {
    retry_->start(1000, [this, gen] { readNew(gen); });
  }
}

void CommandStream::handleReply(const redis::Reply& streams) {
  // [[stream, [entry...]], ...]; nil when the read timed out.
  if (streams.type != redis::Reply::Type::kArray) {
    return;
  }
  for (const auto& s : streams.elements) {
    if (s.elements.size() == 2 && (s.elements[0].str == stream_ || s.elements[0].str == own_)) {
      handleEntries(s.elements[0].str, s.elements[1]);
    }
  }
}

void CommandStream::handleEntries(const std::string& stream, const redis::Reply& entries) {
  for (const auto& entry : entries.elements) {
    if (entry.elements.empty()) {
      continue;
    }
    Entry e;
    e.ref.stream = stream;
    e.ref.entry = entry.elements[0].str;
    if (entry.elements.size() < 2 || entry.elements[1].type != redis::Reply::Type::kArray) {
      ack(e.ref);  // the entry was deleted from the stream: nothing to answer
      continue;
    }
    const auto& kv = entry.elements[1].elements;
    for (size_t i = 0; i + 1 < kv.size(); i += 2) {
      e.fields[kv[i].str] = kv[i + 1].str;
    }
    e.commandId = e.ref.entry;
    if (stream != stream_) {
      // Forwarded by a member: answered under the id it had in the command stream.
      auto origin = e.fields.find("origin");
      if (origin != e.fields.end() && isEntryId(origin->second)) {
        e.commandId = origin->second;
      }
      auto part = e.fields.find("part");
      e.ref.part = part != e.fields.end() && part->second == "1";
    }
    if (!active_.insert(activeKey(stream, e.ref.entry)).second) {
      continue;  // already being carried out (read again after a reconnect)
    }
    execute(std::move(e));
  }
}

void CommandStream::execute(Entry e) {
  auto get = [&](const char* k) {
    auto it = e.fields.find(k);
    return it == e.fields.end() ? std::string() : it->second;
  };
  const std::string op = get("op");
  const std::string server = get("server_id");
  if (e.ref.stream == stream_) {
    ++counts_[op == "check" || op == "upsert" || op == "remove" || op == "baseline" ? op
                                                                                    : "invalid"];
  }
  if (op == "baseline") {
    // Read the server's baseline again and check it now (mcp-healthctl tools approve): one
    // server, answered by its health message.
    if (server.empty() || server == "*") {
      return fail(e, op, server, "baseline needs server_id (one server id, not *)");
    }
    return route(std::move(e), op, server);
  }
  if (op == "check") {
    if (server.empty()) {
      return fail(e, op, server, "check needs server_id (an id or *)");
    }
    if (server == "*") {
      if (clustered() && e.ref.stream == stream_) {
        return split(std::move(e));
      }
      return runBroadcast(std::move(e));
    }
    return route(std::move(e), op, server);
  }
  if (op == "upsert" || op == "remove") {
    if (server.empty()) {
      return fail(e, op, server, op + " needs server_id");
    }
    const bool known = clustered() ? !ownership_->ownerOf(server).empty() : scheduler_.has(server);
    if (op == "remove" && known && !registry_.has(server)) {
      return fail(e, op, server,
                  "server '" + server + "' is defined in the config file; remove it there");
    }
    if (clustered() && e.ref.stream == stream_) {
      if (op == "remove") {
        registry_.remove(server);  // the record goes now, wherever the server is checked
      }
      announce(op, server);
    }
    return route(std::move(e), op, server);
  }
  fail(e, op, server,
       op.empty() ? "the entry has no op field (check, upsert, remove or baseline)"
                  : "unknown op '" + op.substr(0, 64) + "' (check, upsert, remove or baseline)");
}

void CommandStream::route(Entry e, const std::string& op, const std::string& server) {
  if (!clustered()) {
    return runLocally(std::move(e), op, server);
  }
  std::string owner = ownership_->ownerOf(server);
  if (owner.empty()) {
    std::vector<std::string> others = ownership_->members();
    std::erase(others, memberId_);
    if (op == "check" || op == "baseline") {
      // Not a server of this member's: a config server of others, if one declares it.
      if (others.empty()) {
        return fail(e, op, server, "unknown server '" + server.substr(0, 128) + "'");
      }
      return forward(std::move(e), others, true);
    }
    // An upsert of a server registered just now, or a remove: its owner by the rule for
    // servers in Redis.
    owner = cluster::ownerOf(server, ownership_->members());
    if (owner.empty()) {
      owner = memberId_;
    }
  }
  if (owner == memberId_) {
    return runLocally(std::move(e), op, server);
  }
  forward(std::move(e), {owner}, false);
}

void CommandStream::runLocally(Entry e, const std::string& op, const std::string& server) {
  const std::string id = e.commandId;
  if (op == "check" || op == "baseline") {
    if (!scheduler_.has(server)) {
      if (clustered() && ownership_->owns(server)) {
        return defer(std::move(e), op, server);  // being taken over: wait for it
      }
      return fail(e, op, server, "unknown server '" + server.substr(0, 128) + "'");
    }
    if (op == "baseline" && baselineChanged_) {
      baselineChanged_(server);  // judged against the record as it is now, at this check
    }
    ++inProgress_[id];
    refs_[id].push_back(e.ref);
    scheduler_.checkNow(server, Trigger::kCommand, id);
    return;
  }
  if (op == "upsert") {
    ++inProgress_[id];  // also guards against reading the entry twice while Redis answers
    refs_[id].push_back(e.ref);
    registry_.reload(server, [this, e = std::move(e), op, server](Result<bool> r) {
      // The command leaves this member's hands (answered by fail, or passed on).
      auto undo = [&] { takeRef(e.commandId, true); };
      if (!r) {
        undo();
        return fail(e, op, server, r.error().message);
      }
      if (!r.value()) {
        undo();
        return fail(e, op, server,
                    "server '" + server + "' is not registered (not in " +
                        "the servers set, or enabled is false)");
      }
      if (!scheduler_.checkNow(server, Trigger::kUpsert, e.commandId)) {
        undo();
        if (clustered() && !ownership_->owns(server)) {
          // Another member checks it (the members changed meanwhile): it answers.
          return forward(e, {ownership_->ownerOf(server)}, false);
        }
        if (clustered()) {
          return defer(e, op, server);
        }
        return fail(e, op, server,
                    "server '" + server + "' is registered, but the daemon is stopping");
      }
    });
    return;
  }
  // remove (in a cluster, the member that read it from the command stream deleted the record)
  if (!clustered() || e.ref.stream != stream_) {
    registry_.remove(server);
  }
  if (clustered()) {
    ownership_->forget(server);
  }
  ++inProgress_[id];
  refs_[id].push_back(e.ref);
  scheduler_.removeServer(server, id);
}

void CommandStream::runBroadcast(Entry e) {
  const std::string id = e.commandId;
  if (clustered() && e.ref.part && ownership_->gaining() > 0) {
    // Servers on their way to this member are in no member's scheduler: the member that had
    // them let them go, and this one checks them only once it has read their published state.
    // Checked without them, they would be checked for this command by nobody.
    if (hold(e, kPartDeferAttempts)) {
      return;
    }
    log::warn("commands: " + id + ": " + std::to_string(ownership_->gaining()) +
              " servers are still being taken over by this member after " +
              std::to_string(kPartDeferAttempts * 250 / 1000) +
              " s; the check goes on without them (they are checked when taken over)");
  }
  // Counted in the scheduler's BroadcastLog (constant memory per command): answered by
  // command_done once every server has a result.
  ++inProgress_[id];
  refs_[id].push_back(e.ref);
  if (scheduler_.checkAll(Trigger::kCommand, id)) {
    return;
  }
  if (e.ref.part) {
    return broadcastDone(id, 0);  // this member has no servers: its part is done
  }
  takeRef(id, true);
  fail(e, "check", "*", "there are no servers to check");
}

bool CommandStream::hold(Entry& e, int attempts) {
  const std::string key = activeKey(e.ref.stream, e.ref.entry);
  if (++deferrals_[key] > attempts) {
    deferrals_.erase(key);
    return false;
  }
  deferred_.push_back(std::move(e));
  if (!deferTimer_->active()) {
    deferTimer_->start(250, [this] { retryDeferred(); });
  }
  return true;
}

void CommandStream::defer(Entry e, const std::string& op, const std::string& server) {
  if (!hold(e, kDeferAttempts)) {
    fail(e, op, server,
         "server '" + server + "' is being taken over by this member and is not ready " + "after " +
             std::to_string(kDeferAttempts * 250 / 1000) + " s; ask again");
  }
}

void CommandStream::retryDeferred() {
  std::vector<Entry> entries = std::move(deferred_);
  deferred_.clear();
  for (auto& e : entries) {
    const std::string op = e.fields["op"];
    const std::string server = e.fields["server_id"];
    if (server == "*") {
      e.ref.part ? runBroadcast(std::move(e)) : split(std::move(e));
    } else {
      route(std::move(e), op, server);
    }
  }
  if (!deferred_.empty()) {
    deferTimer_->start(250, [this] { retryDeferred(); });
  }
}

void CommandStream::forward(Entry e, const std::vector<std::string>& candidates, bool declared) {
  const std::string op = e.fields["op"];
  const std::string server = e.fields["server_id"];
  int hops = 0;
  if (auto h = e.fields.find("hops"); h != e.fields.end()) {
    hops = std::atoi(h->second.substr(0, 3).c_str());
  }
  if (hops >= kMaxHops) {
    return fail(e, op, server,
                "forwarded " + std::to_string(hops) +
                    " times without reaching the member that checks '" + server +
                    "': the members do not agree on who is live; ask again");
  }
  std::vector<std::string> argv = {e.ref.stream,
                                   options_.keys.members(),
                                   options_.group,
                                   e.ref.entry,
                                   server,
                                   declared ? options_.keys.memberConfig("") : std::string(),
                                   options_.keys.memberCommands(""),
                                   std::to_string(candidates.size())};
  argv.insert(argv.end(), candidates.begin(), candidates.end());
  for (const std::string& f : {std::string("op"), std::string("server_id")}) {
    argv.push_back(f);
    argv.push_back(e.fields[f]);
  }
  argv.insert(argv.end(), {"origin", e.commandId, "hops", std::to_string(hops + 1)});
  const bool sent = forward_.run(writer_, 2, std::move(argv), [this, e](Result<redis::Reply> r) {
    const std::string op = e.fields.at("op");
    const std::string server = e.fields.at("server_id");
    if (!r) {
      finish(e.ref);  // still pending where it was: read again after a reconnect
      return;
    }
    if (r->type == redis::Reply::Type::kError) {
      return fail(e, op, server, "cannot forward the command to its owner: " + r->str);
    }
    if (r->type == redis::Reply::Type::kInteger && r->integer == -1) {
      return fail(e, op, server, "unknown server '" + server.substr(0, 128) + "'");
    }
    if (r->type == redis::Reply::Type::kInteger && r->integer == -2) {
      return defer(e, op, server);  // its owner left: routed again once the members are known
    }
    if (r->type == redis::Reply::Type::kInteger && r->integer == 1) {
      ++forwarded_;
    }
    finish(e.ref);  // forwarded, or answered by someone else already
  });
  if (!sent) {
    finish(e.ref);
  }
}

void CommandStream::split(Entry e) {
  std::vector<std::string> members = ownership_->members();
  if (members.empty()) {
    members.push_back(memberId_);
  }
  std::vector<std::string> argv = {e.ref.stream,
                                   options_.keys.commandParts(e.commandId),
                                   options_.keys.members(),
                                   options_.group,
                                   e.ref.entry,
                                   e.commandId,
                                   options_.keys.memberCommands(""),
                                   std::to_string(members.size())};
  argv.insert(argv.end(), members.begin(), members.end());
  const bool sent = split_.run(writer_, 3, std::move(argv), [this, e](Result<redis::Reply> r) {
    if (r && r->type == redis::Reply::Type::kError) {
      return fail(e, "check", "*", "cannot split the command among the members: " + r->str);
    }
    if (r && r->type == redis::Reply::Type::kInteger && r->integer == -2) {
      return defer(e, "check", "*");  // none of the members it knows is live: ask again
    }
    finish(e.ref);
  });
  if (!sent) {
    finish(e.ref);
  }
}

void CommandStream::announce(const std::string& op, const std::string& serverId) {
  std::string m = "{\"v\":1,\"op\":";
  json::appendString(m, op);
  m += ",\"server_id\":";
  json::appendString(m, serverId);
  m += ",\"member\":";
  json::appendString(m, memberId_);
  m += '}';
  writer_.command({"PUBLISH", options_.keys.controlChannel(), std::move(m)}, nullptr);
}

void CommandStream::onControl(const std::string& payload) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view op;
  std::string_view server;
  std::string_view member;
  if (payload.size() > 4096 || parser.parse(payload).get(doc) != simdjson::SUCCESS ||
      doc["op"].get(op) != simdjson::SUCCESS || doc["server_id"].get(server) != simdjson::SUCCESS ||
      doc["member"].get(member) != simdjson::SUCCESS || !registry::isServerId(server)) {
    return;  // not ours: whoever can publish can only make us read a record again
  }
  if (member == memberId_) {
    return;  // this member read the command, and acts on it
  }
  const std::string id(server);
  if (op == "upsert") {
    registry_.reload(id, [](Result<bool>) {});
  } else if (op == "remove" && !ownership_->owns(id)) {
    // The owner removes it when the command reaches it (answering it); the others forget it.
    registry_.forget(id);
  }
}

void CommandStream::membersLeft(const std::vector<std::string>& gone,
                                const std::vector<std::string>& live) {
  for (const auto& m : gone) {
    if (m != memberId_ && cluster::ownerOf(m, live) == memberId_) {
      takeOver(m);
    }
  }
}

void CommandStream::takeOver(const std::string& member) {
  if (!writer_.ready() || !takingOver_.insert(member).second) {
    return;  // the next sweep tries again
  }
  log::notice("commands: taking over the commands of member '" + member + "', which left");
  const std::string theirs = options_.keys.memberCommands(member);
  claimFrom(stream_, consumerOf(member), [this, member, theirs] {
    claimFrom(theirs, consumerOf(member), [this, member, theirs] {
      readRest(theirs, [this, member] {
        // Its consumer has nothing pending any more: forget it, so sweeps skip it.
        writer_.command({"XGROUP", "DELCONSUMER", stream_, options_.group, consumerOf(member)},
                        nullptr);
        takingOver_.erase(member);
      });
    });
  });
}

void CommandStream::claimFrom(const std::string& stream, const std::string& consumer,
                              std::function<void()> next) {
  // Shared, not moved into the reply's callback: when the command cannot be sent, the callback
  // is dropped unrun and `next` must still run (a connection going away at shutdown).
  auto then = std::make_shared<std::function<void()>>(std::move(next));
  const bool sent = writer_.command(
      {"XPENDING", stream, options_.group, "-", "+", "100", consumer},
      [this, stream, consumer, then](Result<redis::Reply> r) {
        if (!r || r->type != redis::Reply::Type::kArray || r->elements.empty()) {
          return (*then)();  // none (or no such group: nothing was ever forwarded there)
        }
        std::vector<std::string> argv = {"XCLAIM", stream, options_.group, options_.consumer, "0"};
        for (const auto& p : r->elements) {
          if (!p.elements.empty()) {
            argv.push_back(p.elements[0].str);
          }
        }
        const bool full = r->elements.size() >= 100;
        const bool sent = writer_.command(
            std::move(argv), [this, stream, consumer, full, then](Result<redis::Reply> c) {
              if (c && c->type == redis::Reply::Type::kArray) {
                handleEntries(stream, *c);
              }
              if (full && c && c->type == redis::Reply::Type::kArray) {
                // (an error reply, e.g. no XCLAIM for this user, would claim the same 100 again)
                return claimFrom(stream, consumer, std::move(*then));
              }
              (*then)();
            });
        if (!sent) {
          (*then)();
        }
      });
  if (!sent) {
    (*then)();
  }
}

void CommandStream::readRest(const std::string& stream, std::function<void()> done) {
  auto then = std::make_shared<std::function<void()>>(std::move(done));  // as in claimFrom
  const bool sent =
      writer_.command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT", "100",
                       "STREAMS", stream, ">"},
                      [this, stream, then](Result<redis::Reply> r) {
                        size_t n = 0;
                        if (r && r->type == redis::Reply::Type::kArray && !r->elements.empty() &&
                            r->elements[0].elements.size() == 2) {
                          n = r->elements[0].elements[1].elements.size();
                          handleEntries(stream, r->elements[0].elements[1]);
                        }
                        if (n >= 100) {
                          return readRest(stream, std::move(*then));
                        }
                        (*then)();
                      });
  if (!sent) {
    (*then)();
  }
}

void CommandStream::sweep() {
  if (!clustered()) {
    return;
  }
  writer_.command({"XINFO", "CONSUMERS", stream_, options_.group}, [this](Result<redis::Reply> r) {
    if (!r || r->type != redis::Reply::Type::kArray) {
      return;
    }
    const std::vector<std::string> live = ownership_->members();
    if (live.empty()) {
      return;
    }
    std::vector<std::string> gone;
    for (const auto& c : r->elements) {
      // Each consumer: [name, <name>, pending, <n>, idle, <ms>, ...].
      for (size_t i = 0; i + 1 < c.elements.size(); i += 2) {
        if (c.elements[i].str != "name") {
          continue;
        }
        const std::string& name = c.elements[i + 1].str;
        const std::string prefix = "mcp-healthd@";
        if (name.rfind(prefix, 0) != 0) {
          break;
        }
        const std::string member = name.substr(prefix.size());
        if (config::validMemberId(member) &&
            !std::binary_search(live.begin(), live.end(), member)) {
          gone.push_back(member);
        }
        break;
      }
    }
    membersLeft(gone, live);
  });
}

void CommandStream::fail(const Entry& e, const std::string& op, const std::string& serverId,
                         const std::string& message) {
  log::warn("commands: " + e.commandId + ": " + message);
  answers_.publishCommandError(e.commandId, op, serverId, message, entryOf(e.ref));
  finish(e.ref);
}

void CommandStream::answered(const std::string& commandId) {
  if (const std::optional<Ref> ref = takeRef(commandId, false)) {
    finish(*ref);  // acknowledged by the script that published the answer
  }
}

void CommandStream::ack(const Ref& ref) {
  writer_.command({"XACK", ref.stream, options_.group, ref.entry}, [id = ref.entry](
                                                                       Result<redis::Reply> r) {
    if (isError(r)) {
      log::warn("commands: XACK " + id + " failed (it will be carried out again): " + describe(r));
    }
  });
  if (ref.stream != stream_) {
    writer_.command({"XDEL", ref.stream, ref.entry},
                    nullptr);  // member streams hold the unanswered
  }
}

void CommandStream::finish(const Ref& ref) {
  active_.erase(activeKey(ref.stream, ref.entry));
  deferrals_.erase(activeKey(ref.stream, ref.entry));
}

}  // namespace mcphd::control
