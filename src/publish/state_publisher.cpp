#include "publish/state_publisher.hpp"

#include <simdjson.h>

#include "common/log.hpp"

namespace mcphd::publish {

StatePublisher::StatePublisher(redis::Commands& redis, const Clock& clock, std::string prefix)
    : redis_(redis), clock_(clock), prefix_(std::move(prefix)) {
  redis_.onReadyChange([this](bool ready) { onReady(ready); });
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
  redis_.command({"HGETALL", prefix_ + "status"}, [this, gen](Result<redis::Reply> r) {
    if (gen != generation_) {
      return;  // a newer connection took over
    }
    if (!r || r->type != redis::Reply::Type::kArray) {
      log::warn("redis: cannot read " + prefix_ +
                "status to restore sequence numbers: " + (r ? r->str : r.error().message));
      return;  // the next connection tries again
    }
    restore(r.value());
    // Snapshots that the server lost (a restart without persistence) are rewritten at the next
    // discovery: forget what we believe is stored unless the key still exists.
    for (auto& [id, s] : servers_) {
      if (s.publishedToolsHash.empty()) {
        continue;
      }
      std::string key = prefix_ + "tools:" + id;
      redis_.command({"EXISTS", key}, [this, gen, id = id](Result<redis::Reply> e) {
        if (gen != generation_ || !e || e->type != redis::Reply::Type::kInteger ||
            e->integer != 0) {
          return;
        }
        if (auto it = servers_.find(id); it != servers_.end()) {
          it->second.publishedToolsHash.clear();
          it->second.publishedTools.clear();
        }
      });
    }
    ready_ = true;
    for (auto& [id, s] : servers_) {
      if (!s.pendingHealth && !s.latestHealth.empty()) {
        send({"HSET", prefix_ + "status", id, s.latestHealth});  // refill, no new event
      }
      flush(id, s);
    }
  });
}

void StatePublisher::restore(const redis::Reply& hash) {
  simdjson::dom::parser parser;
  for (size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    const std::string& id = hash.elements[i].str;
    const std::string& value = hash.elements[i + 1].str;
    uint64_t seq = 0;
    simdjson::dom::element doc;
    if (parser.parse(value).get(doc) != simdjson::SUCCESS ||
        doc["seq"].get_uint64().get(seq) != simdjson::SUCCESS) {
      log::warn("redis: " + prefix_ + "status field '" + id + "' holds no valid seq; ignored");
      continue;
    }
    ServerState& s = servers_[id];
    if (seq > s.seq) {
      s.seq = seq;
    }
  }
}

void StatePublisher::onReport(const scheduler::CheckReport& report) {
  ServerState& s = servers_[report.serverId];
  s.removed = false;
  s.pendingHealth = healthParts(report);
  const mcp::ProbeResult& p = report.probe;
  const std::string& knownHash = s.pendingTools ? s.pendingTools->hash : s.publishedToolsHash;
  if (p.toolsComplete && p.toolsHash != knownHash) {
    s.pendingTools = PendingTools{p.toolsHash, report.checkedAtWallMs, p.tools};
  }
  flush(report.serverId, s);
}

void StatePublisher::onRemoved(const std::string& serverId) {
  auto it = servers_.find(serverId);
  uint64_t seq = it == servers_.end() ? 1 : it->second.seq + 1;
  if (it != servers_.end()) {
    servers_.erase(it);
  }
  if (!ready_) {
    return;  // the next resync cleans up (Redis registry, next issue)
  }
  send({"HDEL", prefix_ + "status", serverId});
  send({"DEL", prefix_ + "tools:" + serverId});
  send({"PUBLISH", prefix_ + "health", removedJson(serverId, seq, clock_.wallMs())});
}

void StatePublisher::flush(const std::string& id, ServerState& s) {
  if (!ready_) {
    return;
  }
  if (s.pendingHealth) {
    ++s.seq;
  }
  if (s.pendingTools) {
    PendingTools& t = *s.pendingTools;
    ToolHashes now;
    for (const auto& tool : t.tools) {
      now.emplace(tool.name, tool.hash);
    }
    ToolsDiff diff = diffTools(s.publishedTools, now);
    uint64_t seq = s.seq == 0 ? ++s.seq : s.seq;
    send({"SET", prefix_ + "tools:" + id,
          toolsSnapshotJson(id, seq, t.hash, t.discoveredAtWallMs, t.tools)});
    std::string event = toolsEventJson(id, seq, t.hash, t.tools.size(), diff, t.discoveredAtWallMs);
    if (s.pendingHealth) {
      s.latestHealth = s.pendingHealth->join(s.seq);
      send({"HSET", prefix_ + "status", id, s.latestHealth});
      send({"PUBLISH", prefix_ + "health", s.latestHealth});
      s.pendingHealth.reset();
    }
    send({"PUBLISH", prefix_ + "tools", event});
    s.publishedTools = std::move(now);
    s.publishedToolsHash = t.hash;
    s.pendingTools.reset();
  }
  if (s.pendingHealth) {
    s.latestHealth = s.pendingHealth->join(s.seq);
    send({"HSET", prefix_ + "status", id, s.latestHealth});
    send({"PUBLISH", prefix_ + "health", s.latestHealth});
    s.pendingHealth.reset();
  }
  ++published_;
}

void StatePublisher::send(std::vector<std::string> argv) {
  redis_.command(std::move(argv), [this](Result<redis::Reply> r) {
    if (r && r->type == redis::Reply::Type::kError) {
      log::warn("redis: command failed: " + r->str);
    }
    (void)this;
  });
}

}  // namespace mcphd::publish
