#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mcphd::keyspace {

// Every Redis key and channel name of mcp-healthd (docs/PROTOCOL.md), built from the configured
// prefix (`redis.prefix`, "mcp:" by default). The only place these names are written: the
// publisher, the registry, the command stream and mcp-healthctl all ask here.
class Keyspace {
 public:
  Keyspace() : prefix_("mcp:") {}
  explicit Keyspace(std::string prefix) : prefix_(std::move(prefix)) {}

  const std::string& prefix() const { return prefix_; }

  // hash: server id -> the latest health message (JSON).
  std::string status() const { return prefix_ + "status"; }
  // string: a random token the first daemon to connect writes (SET NX) and none changes: a new
  // token under a new Redis run_id says Redis lost its data (docs/PROTOCOL.md, "Tool baselines").
  std::string epoch() const { return prefix_ + "epoch"; }
  // hash: server id -> the seq of its latest message. Kept when the server is removed, so that
  // one registered again continues its sequence.
  std::string seq() const { return prefix_ + "seq"; }
  // string: the server's last complete tool list (JSON).
  std::string tools(std::string_view serverId) const { return join("tools:", serverId); }
  // set: the ids of the servers registered in Redis.
  std::string servers() const { return prefix_ + "servers"; }
  // hash: one registered server's record.
  std::string server(std::string_view serverId) const { return join("server:", serverId); }
  // A server's approved tool set (hash; docs/PROTOCOL.md, "Tool baselines").
  std::string baseline(std::string_view serverId) const { return join("baseline:", serverId); }
  // stream: commands to the daemons (check, upsert, remove).
  std::string commands() const { return prefix_ + "commands"; }
  // sorted set: member id -> when its announcement expires (ms since the epoch, Redis's clock).
  std::string members() const { return prefix_ + "members"; }
  // hash: one member's announcement (heartbeat_at, started_at, owned, version, ttl_ms); expires
  // with it.
  std::string member(std::string_view memberId) const { return join("member:", memberId); }
  // hash: config-file server id -> its settings digest, as one member declares it; expires with
  // the member's announcement (whose `config` field is a digest of the whole hash).
  std::string memberConfig(std::string_view memberId) const {
    return join("member-config:", memberId);
  }
  // stream: the commands forwarded to one member (the owner of their server), read by it in
  // group kCommandGroup next to commands().
  std::string memberCommands(std::string_view memberId) const {
    return join("member-commands:", memberId);
  }
  // hash: the parts of one `check *` split among the members (parts, done, servers); deleted
  // when the last part is done.
  std::string commandParts(std::string_view commandId) const {
    return join("command-parts:", commandId);
  }
  // string, expires after a day: the command entry `entry` of stream `stream` (commands() or a
  // memberCommands()) was answered. <prefix>answered:<entry>:<stream without the prefix>.
  std::string answered(std::string_view stream, std::string_view entry) const {
    if (stream.substr(0, prefix_.size()) == prefix_) {
      stream.remove_prefix(prefix_.size());
    }
    std::string key = join("answered:", entry);
    key += ':';
    key += stream;
    return key;
  }
  // channel: upsert and remove commands, so that every member reads the record at once.
  std::string controlChannel() const { return prefix_ + "control"; }
  // channel: health, removed, command_error and command_done messages.
  std::string healthChannel() const { return prefix_ + "health"; }
  // channel: tools messages.
  std::string toolsChannel() const { return prefix_ + "tools"; }

  // The XADD that appends a command (`op` of server `serverId`, or "*") to the stream, capped at
  // about 10,000 entries as docs/PROTOCOL.md asks of writers.
  std::vector<std::string> addCommand(std::string_view op, std::string_view serverId) const {
    return {"XADD", commands(), "MAXLEN",        "~",         "10000",
            "*",    "op",       std::string(op), "server_id", std::string(serverId)};
  }

  // The consumer group the daemons read the command stream with.
  static constexpr const char* kCommandGroup = "mcp-healthd";

 private:
  std::string join(std::string_view kind, std::string_view id) const {
    std::string key;
    key.reserve(prefix_.size() + kind.size() + id.size());
    key.append(prefix_).append(kind).append(id);
    return key;
  }

  std::string prefix_;
};

}  // namespace mcphd::keyspace
