#include "registry/redis_registry.hpp"

#include "common/log.hpp"

namespace mcphd::registry {

RedisRegistry::RedisRegistry(redis::Commands& redis, loop::TimerFactory& timers, std::string prefix,
                             ServerSpec defaults, const auth::KeyRing& keys,
                             std::set<std::string> configIds, ServerListener& listener,
                             int64_t resyncMs)
    : redis_(redis),
      timer_(timers.createTimer()),
      prefix_(std::move(prefix)),
      defaults_(std::move(defaults)),
      keys_(keys),
      configIds_(std::move(configIds)),
      listener_(listener),
      resyncMs_(resyncMs) {}

void RedisRegistry::start() {
  // The first full load happens as soon as Redis is ready; afterwards every resyncMs.
  timer_->start(0, [this] { sync(); });
}

RecordFields RedisRegistry::toFields(const redis::Reply& reply) {
  RecordFields f;
  for (size_t i = 0; i + 1 < reply.elements.size(); i += 2) {
    f[reply.elements[i].str] = reply.elements[i + 1].str;
  }
  return f;
}

bool RedisRegistry::refuse(const std::string& id) {
  if (!isServerId(id)) {
    if (warned_.insert(id).second) {
      log::error("registry: " + prefix_ +
                 "servers holds an invalid id (want [A-Za-z0-9._-]{1,128}); ignored");
    }
    return true;
  }
  if (configIds_.count(id) != 0) {
    if (warned_.insert(id).second) {
      log::error("registry: server '" + id +
                 "' in Redis is refused: the config file already defines that id");
    }
    return true;
  }
  return false;
}

void RedisRegistry::apply(const std::string& id, const RecordFields& fields) {
  if (fields.empty()) {
    // In the set but without a hash: report it rather than silently skipping it.
    ServerSpec bad = defaults_;
    bad.id = id;
    bad.source = Source::kRedis;
    bad.invalidReason =
        "record " + id + ": hash " + prefix_ + "server:" + id + " is missing or empty";
    auto it = known_.find(id);
    if (it == known_.end() || !(it->second == bad)) {
      const bool isNew = it == known_.end();
      known_[id] = bad;
      listener_.upsertServer(bad);
      if (isNew && loadedOnce_) {
        listener_.checkNow(id, "resync");
      }
    }
    return;
  }
  auto enabled = fields.find("enabled");
  if (enabled != fields.end() && (enabled->second == "false" || enabled->second == "0")) {
    forget(id);
    return;
  }
  ServerSpec spec = parseRecord(id, fields, defaults_, keys_);
  auto it = known_.find(id);
  if (it != known_.end() && it->second == spec) {
    return;
  }
  if (!spec.invalidReason.empty()) {
    log::warn("registry: " + spec.invalidReason);  // once per change of the record
  }
  const bool isNew = it == known_.end();
  known_[id] = spec;
  listener_.upsertServer(spec);
  if (isNew && loadedOnce_) {
    listener_.checkNow(id,
                       "resync");  // a server that appeared since the start: don't wait an interval
  }
}

bool RedisRegistry::forget(const std::string& id, bool announce) {
  if (known_.erase(id) == 0) {
    return false;
  }
  if (announce) {
    listener_.removeServer(id);
  }
  return true;
}

void RedisRegistry::reconfigure(ServerSpec defaults, std::set<std::string> configIds) {
  defaults_ = std::move(defaults);
  for (const auto& id : configIds) {
    known_.erase(id);
  }
  configIds_ = std::move(configIds);
  warned_.clear();
  if (loadedOnce_) {
    sync();
  }
}

void RedisRegistry::sync() {
  timer_->start(resyncMs_, [this] { sync(); });
  if (!redis_.ready()) {
    timer_->start(200, [this] { sync(); });  // first load waits for the connection
    return;
  }
  uint64_t gen = ++syncGeneration_;
  redis_.command({"SMEMBERS", prefix_ + "servers"}, [this, gen](Result<redis::Reply> r) {
    if (gen != syncGeneration_) {
      return;
    }
    if (!r || r->type != redis::Reply::Type::kArray) {
      log::warn("registry: cannot read " + prefix_ +
                "servers: " + (r ? r->str : r.error().message));
      return;
    }
    auto ids = std::make_shared<std::set<std::string>>();
    for (const auto& e : r->elements) {
      if (!refuse(e.str)) {
        ids->insert(e.str);
      }
    }
    auto records = std::make_shared<std::map<std::string, RecordFields>>();
    auto left = std::make_shared<size_t>(ids->size());
    auto finish = [this, gen, ids, records] {
      if (gen != syncGeneration_) {
        return;
      }
      for (const auto& id : *ids) {
        apply(id, (*records)[id]);
      }
      std::vector<std::string> gone;
      for (const auto& [id, spec] : known_) {
        if (ids->count(id) == 0) {
          gone.push_back(id);
        }
      }
      for (const auto& id : gone) {
        forget(id);
      }
      if (!loadedOnce_) {
        log::info("registry: " + std::to_string(known_.size()) + " servers registered in Redis");
      }
      loadedOnce_ = true;
    };
    if (ids->empty()) {
      finish();
      return;
    }
    bool failed = false;
    for (const auto& id : *ids) {
      bool sent = redis_.command(
          {"HGETALL", prefix_ + "server:" + id},
          [this, gen, id, records, left, finish](Result<redis::Reply> h) {
            if (gen != syncGeneration_) {
              return;
            }
            if (!h || h->type != redis::Reply::Type::kArray) {
              log::debug("registry: reading " + prefix_ + "server:" + id + " failed");
              ++syncGeneration_;  // incomplete: keep the current set until next time
              return;
            }
            (*records)[id] = toFields(h.value());
            if (--*left == 0) {
              finish();
            }
          });
      if (!sent) {
        failed = true;
        break;
      }
    }
    if (failed) {
      ++syncGeneration_;
    }
  });
}

void RedisRegistry::storeCredentials(const std::string& id, const std::string& plaintextJson) {
  auto blob = keys_.seal(plaintextJson, id);
  if (!blob) {
    log::error("registry: cannot store rotated credentials of '" + id +
               "': " + blob.error().message);
    return;
  }
  bool sent = redis_.command({"HSET", prefix_ + "server:" + id, "credentials", blob.value()},
                             [id](Result<redis::Reply> r) {
                               if (!r || r->type == redis::Reply::Type::kError) {
                                 log::error("registry: storing rotated credentials of '" + id +
                                            "' failed; the new refresh token lives in memory only");
                               }
                             });
  if (!sent) {
    log::error("registry: Redis is unavailable: the rotated refresh token of '" + id +
               "' lives in memory only until it can be stored");
  }
}

void RedisRegistry::reload(const std::string& id, std::function<void(Result<bool>)> done) {
  if (!isServerId(id)) {
    done(makeError("'" + id.substr(0, 64) + "' is not a valid server id"));
    return;
  }
  if (configIds_.count(id) != 0) {
    done(makeError("server '" + id + "' is defined in the config file; Redis cannot override it"));
    return;
  }
  bool sent = redis_.command({"SISMEMBER", prefix_ + "servers", id}, [this, id, done](
                                                                         Result<redis::Reply> m) {
    if (!m || m->type != redis::Reply::Type::kInteger) {
      done(makeError("cannot read the registry"));
      return;
    }
    if (m->integer == 0) {
      forget(id);
      done(false);
      return;
    }
    redis_.command({"HGETALL", prefix_ + "server:" + id}, [this, id, done](Result<redis::Reply> h) {
      if (!h || h->type != redis::Reply::Type::kArray) {
        done(makeError("cannot read the record"));
        return;
      }
      apply(id, toFields(h.value()));
      done(known_.count(id) != 0);
    });
  });
  if (!sent) {
    done(makeError("Redis is not connected"));
  }
}

}  // namespace mcphd::registry
