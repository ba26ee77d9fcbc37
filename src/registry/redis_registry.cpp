#include "registry/redis_registry.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "registry/record_writes.hpp"

namespace mcphd::registry {

RedisRegistry::RedisRegistry(redis::Commands& redis, loop::TimerFactory& timers,
                             keyspace::Keyspace keyspace, ServerSpec defaults,
                             const auth::KeyRing& keys, std::set<std::string> configIds,
                             ServerListener& listener, int64_t resyncMs, RecordOptions options)
    : redis_(redis),
      timer_(timers.createTimer()),
      keyspace_(std::move(keyspace)),
      defaults_(std::move(defaults)),
      keys_(keys),
      configIds_(std::move(configIds)),
      listener_(listener),
      resyncMs_(resyncMs),
      timers_(timers),
      options_(options) {}

void RedisRegistry::markLoaded() {
  if (loadedOnce_) {
    return;
  }
  loadedOnce_ = true;
  auto listeners = std::move(loadedListeners_);
  loadedListeners_.clear();
  for (auto& l : listeners) {
    l();
  }
}

void RedisRegistry::onLoaded(std::function<void()> listener) {
  if (loadedOnce_) {
    listener();
    return;
  }
  loadedListeners_.push_back(std::move(listener));
}

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
      log::error("registry: " + keyspace_.servers() +
                 " holds an invalid id (want [A-Za-z0-9._-]{1,128}); ignored");
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

// A record that cannot be read (a key of another type): that server alone is reported.
void RedisRegistry::applyUnreadable(const std::string& id, const std::string& why) {
  ServerSpec bad = defaults_;
  bad.id = id;
  bad.source = Source::kRedis;
  bad.auth = AuthSpec{};
  bad.invalidReason =
      "record " + id + ": cannot read hash " + keyspace_.server(id) + ": " + why.substr(0, 200);
  rotatable_.erase(id);
  auto it = known_.find(id);
  if (it != known_.end() && it->second == bad) {
    return;
  }
  log::warn("registry: " + bad.invalidReason);
  known_[id] = bad;
  listener_.upsertServer(bad, firstCheck());
}

void RedisRegistry::apply(const std::string& id, const RecordFields& fields) {
  if (fields.empty()) {
    // In the set but without a hash: report it rather than silently skipping it.
    ServerSpec bad = defaults_;
    bad.id = id;
    bad.source = Source::kRedis;
    bad.invalidReason = "record " + id + ": hash " + keyspace_.server(id) + " is missing or empty";
    auto it = known_.find(id);
    if (it == known_.end() || !(it->second == bad)) {
      known_[id] = bad;
      listener_.upsertServer(bad, firstCheck());
    }
    return;
  }
  auto enabled = fields.find("enabled");
  if (enabled != fields.end() && (enabled->second == "false" || enabled->second == "0")) {
    forget(id);
    return;
  }
  RecordNotes notes;
  ServerSpec spec = parseRecord(id, fields, defaults_, keys_, options_, &notes);
  if (notes.v1 && warnedV1_.insert(id).second) {
    log::warn("registry: record " + id +
              ": its credentials are a v1 envelope, not bound to the record's url (accepted by "
              "secrets.accept_v1); convert it with mcp-healthctl reseal " +
              id);
  }
  if (spec.invalidReason.empty() && !spec.auth.oauth2.refreshToken.empty()) {
    rotatable_[id] = fields;
  } else {
    rotatable_.erase(id);
  }
  auto it = known_.find(id);
  if (it != known_.end() && it->second == spec) {
    return;
  }
  if (!spec.invalidReason.empty()) {
    log::warn("registry: " + spec.invalidReason);  // once per change of the record
  }
  known_[id] = spec;
  listener_.upsertServer(spec, firstCheck());
}

void RedisRegistry::remove(const std::string& id) {
  for (auto& c : removeRecord(keyspace_, id)) {
    redis_.command(std::move(c), [](Result<redis::Reply>) {});
  }
  forget(id, /*announce=*/false);
}

bool RedisRegistry::forget(const std::string& id, bool announce) {
  rotatable_.erase(id);
  ownWrites_.erase(id);
  warnedV1_.erase(id);
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
  redis_.command({"SMEMBERS", keyspace_.servers()}, [this, gen](Result<redis::Reply> r) {
    if (gen != syncGeneration_) {
      return;
    }
    if (!r || r->type != redis::Reply::Type::kArray) {
      log::warn("registry: cannot read " + keyspace_.servers() + ": " +
                (r ? r->str.substr(0, 200) : r.error().message) +
                "; the servers read before stay as they are");
      if (r) {
        // Redis answered, with an error (a key of another type): that is a read of the registry
        // too, and commands for the other servers must not wait for it forever.
        markLoaded();
      } else {
        retryFirstLoad();
      }
      return;
    }
    auto ids = std::make_shared<std::set<std::string>>();
    for (const auto& e : r->elements) {
      if (!refuse(e.str)) {
        ids->insert(e.str);
      }
    }
    auto records = std::make_shared<std::map<std::string, RecordFields>>();
    auto unreadable = std::make_shared<std::map<std::string, std::string>>();
    auto left = std::make_shared<size_t>(ids->size());
    auto finish = [this, gen, ids, records, unreadable] {
      if (gen != syncGeneration_) {
        return;
      }
      for (const auto& id : *ids) {
        auto bad = unreadable->find(id);
        if (bad != unreadable->end()) {
          applyUnreadable(id, bad->second);
        } else {
          apply(id, (*records)[id]);
        }
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
      markLoaded();
    };
    if (ids->empty()) {
      finish();
      return;
    }
    bool failed = false;
    for (const auto& id : *ids) {
      bool sent = redis_.command(
          {"HGETALL", keyspace_.server(id)},
          [this, gen, id, records, unreadable, left, finish](Result<redis::Reply> h) {
            if (gen != syncGeneration_) {
              return;
            }
            if (!h) {
              // The connection went: keep the current set until the next full read.
              log::debug("registry: reading " + keyspace_.server(id) + " failed");
              ++syncGeneration_;
              retryFirstLoad();
              return;
            }
            if (h->type != redis::Reply::Type::kArray) {
              (*unreadable)[id] =
                  h->type == redis::Reply::Type::kError ? h->str : std::string("not a hash");
            } else {
              (*records)[id] = toFields(h.value());
            }
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
      retryFirstLoad();
    }
  });
}

void RedisRegistry::retryFirstLoad() {
  if (!loadedOnce_) {
    // Commands wait for the first full read: not for resyncMs (a minute) after a connection
    // that dropped in the middle of it.
    timer_->start(1000, [this] { sync(); });
  }
}

void RedisRegistry::storeCredentials(const std::string& id, const std::string& readFrom,
                                     auth::Credentials credentials) {
  auto it = rotatable_.find(id);
  auto own = ownWrites_.find(id);
  const bool ours = it != rotatable_.end() && own != ownWrites_.end() &&
                    it->second["credentials"] == own->second.written &&
                    std::find(own->second.replaced.begin(), own->second.replaced.end(), readFrom) !=
                        own->second.replaced.end();
  if (it == rotatable_.end() || (it->second["credentials"] != readFrom && !ours)) {
    log::notice("registry: the rotated refresh token of '" + id +
                "' is not stored: its record holds newer credentials (a login or an edit), "
                "which are used from now on");
    return;
  }
  auto blob = sealRecord(id, it->second, std::move(credentials), keys_);
  if (!blob) {
    log::error("registry: cannot store rotated credentials of '" + id +
               "': " + blob.error().message);
    return;
  }
  PendingWrite& w = writes_[id];
  w.expected = it->second["credentials"];  // readFrom, or our own write that replaced it
  w.blob = std::move(blob.value());
  w.backoffMs = 1'000;
  if (!w.retry) {
    w.retry = timers_.createTimer();
  }
  writeCredentials(id);
}

// Compare-and-set: the new blob replaces the one the daemon read, and nothing else.
void RedisRegistry::writeCredentials(const std::string& id) {
  auto it = writes_.find(id);
  if (it == writes_.end()) {
    return;
  }
  PendingWrite& w = it->second;
  auto retry = [this, id] {
    auto p = writes_.find(id);
    if (p == writes_.end()) {
      return;
    }
    const int64_t delay = p->second.backoffMs;
    p->second.backoffMs = std::min<int64_t>(p->second.backoffMs * 2, 30'000);
    p->second.retry->start(delay, [this, id] { writeCredentials(id); });
  };
  const std::string sent = w.blob;
  bool ok = redis_.command(
      replaceCredentials(keyspace_, id, w.expected, w.blob),
      [this, id, sent, retry](Result<redis::Reply> r) {
        auto p = writes_.find(id);
        if (p == writes_.end() || p->second.blob != sent) {
          return;  // replaced by a newer write meanwhile
        }
        if (!r) {
          log::warn("registry: storing the rotated refresh token of '" + id +
                    "' failed; retrying (it lives in memory until then)");
          retry();
          return;
        }
        if (r->type == redis::Reply::Type::kError) {
          // NOPERM, WRONGTYPE, ...: retrying cannot help.
          log::error("registry: Redis refused to store the rotated refresh token of '" + id +
                     "': " + r->str.substr(0, 200) + "; it lives in memory only");
          writes_.erase(p);
          return;
        }
        const std::string replaced = p->second.expected;
        writes_.erase(p);
        if (r->integer == 1) {
          auto f = rotatable_.find(id);
          if (f != rotatable_.end()) {
            f->second["credentials"] = sent;
          }
          OwnWrites& mine = ownWrites_[id];
          mine.replaced.push_back(replaced);
          if (mine.replaced.size() > 16) {
            mine.replaced.erase(mine.replaced.begin());
          }
          mine.written = sent;
          log::info("registry: stored the rotated refresh token of '" + id + "'");
          reload(id, [](Result<bool>) {});  // the server's spec catches up with its record
          return;
        }
        // Someone wrote newer credentials (a login, an edit): they win; read them.
        log::notice("registry: the record of '" + id +
                    "' changed since it was read; its newer credentials are kept and read");
        reload(id, [](Result<bool>) {});
      });
  if (!ok) {
    retry();
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
  bool sent = redis_.command(
      {"SISMEMBER", keyspace_.servers(), id}, [this, id, done](Result<redis::Reply> m) {
        if (!m || m->type != redis::Reply::Type::kInteger) {
          done(makeError("cannot read the registry"));
          return;
        }
        if (m->integer == 0) {
          forget(id);
          done(false);
          return;
        }
        const bool sent = redis_.command(
            {"HGETALL", keyspace_.server(id)}, [this, id, done](Result<redis::Reply> h) {
              if (!h) {
                done(makeError("cannot read the record"));
                return;
              }
              if (h->type != redis::Reply::Type::kArray) {
                applyUnreadable(id, h->type == redis::Reply::Type::kError ? h->str : "not a hash");
              } else {
                apply(id, toFields(h.value()));
              }
              done(known_.count(id) != 0);
            });
        if (!sent) {
          done(makeError("Redis is not connected"));  // the connection is going
        }
      });
  if (!sent) {
    done(makeError("Redis is not connected"));
  }
}

}  // namespace mcphd::registry
