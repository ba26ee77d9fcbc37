#include "control/command_stream.hpp"

#include "common/log.hpp"

namespace mcphd::control {

namespace {

bool isError(const Result<redis::Reply>& r) { return !r || r->type == redis::Reply::Type::kError; }

std::string describe(const Result<redis::Reply>& r) { return r ? r->str : r.error().message; }

// The entries of the one stream in an XREADGROUP reply ([[stream, [entry...]]]); null when the
// read timed out (nil) or the reply has another shape.
const redis::Reply* streamEntries(const redis::Reply& r) {
  if (r.type != redis::Reply::Type::kArray || r.elements.empty() ||
      r.elements[0].elements.size() != 2) {
    return nullptr;
  }
  return &r.elements[0].elements[1];
}

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
      claimTimer_(timers.createTimer()) {}

void CommandStream::broadcastDone(const std::string& id, size_t servers) {
  answers_.publishCommandDone(id, "check", servers);
  inProgress_.erase(id);
  ack(id);
}

void CommandStream::start() {
  scheduler_.broadcasts().onDone(
      [this](const std::string& id, size_t servers) { broadcastDone(id, servers); });
  reader_.onReadyChange([this](bool ready) { onReaderReady(ready); });
  if (reader_.ready()) {
    onReaderReady(true);
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
  // From 0: commands written before the group existed are carried out too.
  reader_.command({"XGROUP", "CREATE", stream_, options_.group, "0", "MKSTREAM"},
                  [this, gen](Result<redis::Reply> r) {
                    if (gen != generation_) {
                      return;
                    }
                    if (!r) {
                      return;  // connection lost: onReaderReady starts over
                    }
                    if (isError(r) && describe(r).rfind("BUSYGROUP", 0) != 0) {
                      log::warn("commands: cannot create consumer group on " + stream_ + ": " +
                                describe(r) + " (retrying)");
                      retry_->start(1000, [this, gen] { init(gen); });
                      return;
                    }
                    readPending(gen, "0");
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

void CommandStream::readPending(uint64_t gen, std::string from) {
  // Our own entries that were delivered but never acknowledged (the daemon died).
  reader_.command(
      {"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT", "100", "STREAMS", stream_,
       from},
      [this, gen](Result<redis::Reply> r) {
        if (!usable(gen, r, "cannot read pending commands")) {
          return;
        }
        std::string last;
        if (const redis::Reply* entries = streamEntries(r.value())) {
          if (!entries->elements.empty() && !entries->elements.back().elements.empty()) {
            last = entries->elements.back().elements[0].str;
          }
          handleEntries(*entries);
        }
        if (!last.empty()) {
          readPending(gen, last);
        } else {
          claim(gen, "0-0", true);
        }
      });
}

void CommandStream::claim(uint64_t gen, std::string from, bool thenRead) {
  auto finished = [this, gen, thenRead] {
    // Look for abandoned entries again later.
    claimTimer_->start(options_.claimIdleMs, [this, gen] { claim(gen, "0-0", false); });
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
        handleEntries(r->elements[1]);
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

void CommandStream::readNew(uint64_t gen) {
  if (gen != generation_) {
    return;
  }
  if (inProgress_.size() >= options_.maxInProgress) {
    retry_->start(100, [this, gen] { readNew(gen); });  // back-pressure: let answers catch up
    return;
  }
  bool sent =
      reader_.command({"XREADGROUP", "GROUP", options_.group, options_.consumer, "COUNT", "100",
                       "BLOCK", std::to_string(options_.blockMs), "STREAMS", stream_, ">"},
                      [this, gen](Result<redis::Reply> r) {
                        // NOGROUP (the stream was deleted) sets the group up again.
                        if (!usable(gen, r, "XREADGROUP failed")) {
                          return;
                        }
                        if (const redis::Reply* entries = streamEntries(r.value())) {
                          handleEntries(*entries);
                        }
                        readNew(gen);
                      });
  if (!sent) {
    retry_->start(1000, [this, gen] { readNew(gen); });
  }
}

void CommandStream::handleEntries(const redis::Reply& entries) {
  for (const auto& entry : entries.elements) {
    if (entry.elements.empty()) {
      continue;
    }
    const std::string& id = entry.elements[0].str;
    Fields fields;
    if (entry.elements.size() > 1) {
      const auto& kv = entry.elements[1].elements;
      for (size_t i = 0; i + 1 < kv.size(); i += 2) {
        fields[kv[i].str] = kv[i + 1].str;
      }
    }
    if (entry.elements.size() < 2 || entry.elements[1].type != redis::Reply::Type::kArray) {
      ack(id);  // the entry was deleted from the stream: nothing to answer
      continue;
    }
    if (inProgress_.count(id) != 0) {
      continue;  // already being carried out (read again after a reconnect)
    }
    execute(id, fields);
  }
}

void CommandStream::execute(const std::string& id, const Fields& fields) {
  auto get = [&](const char* k) {
    auto it = fields.find(k);
    return it == fields.end() ? std::string() : it->second;
  };
  const std::string op = get("op");
  const std::string server = get("server_id");
  ++counts_[op == "check" || op == "upsert" || op == "remove" ? op : "invalid"];
  if (op == "check") {
    if (server.empty()) {
      return fail(id, op, server, "check needs server_id (an id or *)");
    }
    if (server == "*") {
      // Counted in the scheduler's BroadcastLog (constant memory per command): answered by
      // command_done once every server has a result.
      inProgress_[id] = 1;
      if (!scheduler_.checkAll(Trigger::kCommand, id)) {
        inProgress_.erase(id);
        return fail(id, op, server, "there are no servers to check");
      }
      return;
    }
    if (!scheduler_.has(server)) {
      if (std::string why = elsewhere(server); !why.empty()) {
        return fail(id, op, server, why);
      }
      return fail(id, op, server, "unknown server '" + server.substr(0, 128) + "'");
    }
    inProgress_[id] = 1;
    scheduler_.checkNow(server, Trigger::kCommand, id);
    return;
  }
  if (op == "upsert") {
    if (server.empty()) {
      return fail(id, op, server, "upsert needs server_id");
    }
    inProgress_[id] = 1;  // also guards against reading the entry twice while Redis answers
    registry_.reload(server, [this, id, op, server](Result<bool> r) {
      if (!r) {
        inProgress_.erase(id);
        return fail(id, op, server, r.error().message);
      }
      if (!r.value()) {
        inProgress_.erase(id);
        return fail(id, op, server,
                    "server '" + server + "' is not registered (not in " +
                        "the servers set, or enabled is false)");
      }
      if (!scheduler_.checkNow(server, Trigger::kUpsert, id)) {
        inProgress_.erase(id);
        const std::string why = elsewhere(server);
        return fail(id, op, server,
                    "server '" + server + "' is registered, but " +
                        (why.empty() ? std::string("the daemon is stopping")
                                     : why + " Its owner reads the record at its next registry "
                                             "resync."));
      }
    });
    return;
  }
  if (op == "remove") {
    if (server.empty()) {
      return fail(id, op, server, "remove needs server_id");
    }
    if (scheduler_.has(server) && !registry_.has(server)) {
      return fail(id, op, server,
                  "server '" + server + "' is defined in the config file; remove it there");
    }
    registry_.remove(server);
    if (ownership_ != nullptr) {
      // The owner drops it at its next registry resync (until §4 sends it a message).
      ownership_->forget(server);
    }
    inProgress_[id] = 1;
    scheduler_.removeServer(server, id);
    return;
  }
  fail(id, op, server,
       op.empty() ? "the entry has no op field (check, upsert or remove)"
                  : "unknown op '" + op.substr(0, 64) + "' (check, upsert or remove)");
}

std::string CommandStream::elsewhere(const std::string& serverId) const {
  if (ownership_ == nullptr) {
    return {};
  }
  const std::string owner = ownership_->ownerOf(serverId);
  if (owner.empty()) {
    return {};
  }
  if (owner == memberId_) {
    return "server '" + serverId +
           "' is being taken over by this member (it waits for the member that had it to stop); "
           "ask again in a few seconds.";
  }
  return "server '" + serverId + "' is checked by cluster member '" + owner +
         "', and this member read the command: commands are not forwarded between members yet; "
         "ask again (any member may read it).";
}

void CommandStream::fail(const std::string& id, const std::string& op, const std::string& serverId,
                         const std::string& message) {
  log::warn("commands: " + id + ": " + message);
  answers_.publishCommandError(id, op, serverId, message);
  ack(id);
}

void CommandStream::answered(const std::string& commandId) {
  auto it = inProgress_.find(commandId);
  if (it == inProgress_.end()) {
    return;
  }
  if (--it->second == 0) {
    inProgress_.erase(it);
    ack(commandId);
  }
}

void CommandStream::ack(const std::string& id) {
  writer_.command({"XACK", stream_, options_.group, id}, [id](Result<redis::Reply> r) {
    if (isError(r)) {
      log::warn("commands: XACK " + id + " failed (it will be carried out again): " + describe(r));
    }
  });
}

}  // namespace mcphd::control
