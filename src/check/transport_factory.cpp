#include "check/transport_factory.hpp"

#include "mcp/legacy_sse_transport.hpp"
#include "mcp/stdio_transport.hpp"
#include "mcp/streamable_http_transport.hpp"

namespace mcphd::check {

registry::Transport DetectedTransports::forSpec(const registry::ServerSpec& spec) const {
  if (spec.transport != registry::Transport::kAuto) {
    return spec.transport;
  }
  auto it = known_.find(spec.id);
  return it != known_.end() && it->second.first == spec.url ? it->second.second
                                                            : registry::Transport::kStreamableHttp;
}

SessionFactory::SessionFactory(http::Client& client, const Clock& clock, loop::TimerFactory& timers,
                               loop::ProcessSpawner* processes,
                               std::vector<std::string> inheritedEnv, http::DetachedCalls& detached)
    : client_(client),
      clock_(clock),
      timers_(timers),
      processes_(processes),
      inheritedEnv_(std::move(inheritedEnv)),
      detached_(detached) {}

Result<std::unique_ptr<mcp::McpSession>> SessionFactory::open(
    const registry::ServerSpec& spec, registry::Transport transport,
    const std::vector<std::string>& authHeaders, int64_t timeoutMs, KeepOpen keepOpen,
    std::function<void(mcp::ProbeResult)> done) {
  mcp::SessionOptions so;
  so.timeoutMs = timeoutMs;
  so.toolLimits = mcp::ToolLimits{spec.maxTools, spec.maxToolsBytes};
  so.onNotification = std::move(keepOpen.onNotification);
  so.onLost = std::move(keepOpen.onLost);
  const bool keep = static_cast<bool>(so.onNotification);
  std::unique_ptr<mcp::Transport> t;
  if (transport == registry::Transport::kStdio) {
    if (processes_ == nullptr) {
      return makeError(
          "stdio servers are checked by mcp-healthd only: declare them in its config file");
    }
    mcp::StdioOptions o;
    o.serverId = spec.id;
    o.command = spec.command;
    o.args = spec.args;
    o.env = spec.env;
    o.inheritedEnv = inheritedEnv_;
    o.cwd = spec.cwd;
    o.maxBody = spec.maxBody;
    for (const auto& [name, value] : spec.env) {
      so.secrets.push_back(name + ": " + std::string(value.reveal()));
    }
    t = std::make_unique<mcp::StdioTransport>(*processes_, clock_, timers_, std::move(o));
  } else {
    mcp::HttpTransportOptions o;
    o.url = spec.url;
    o.headers.reserve(spec.headers.size() + authHeaders.size());
    for (const auto& [name, value] : spec.headers) {
      o.headers.push_back(name + ": " + value);
    }
    o.headers.insert(o.headers.end(), authHeaders.begin(), authHeaders.end());
    so.secrets = o.headers;  // a server echoing a request cannot publish what it carried
    o.timeoutMs = timeoutMs;
    o.connectTimeoutMs = spec.connectTimeoutMs;
    o.maxBody = spec.maxBody;
    o.registryEgress = spec.source == registry::Source::kRedis;
    o.keepOpen = keep;
    o.detached = keep ? &detached_ : nullptr;
    if (transport == registry::Transport::kSse) {
      t = std::make_unique<mcp::LegacySseTransport>(client_, clock_, std::move(o));
    } else {
      t = std::make_unique<mcp::StreamableHttpTransport>(client_, clock_, timers_, std::move(o));
    }
  }
  return std::make_unique<mcp::McpSession>(std::move(t), clock_, timers_, std::move(so),
                                           std::move(done));
}

}  // namespace mcphd::check
