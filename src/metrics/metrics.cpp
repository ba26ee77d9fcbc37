#include "metrics/metrics.hpp"

#include <cstdio>

#include "mcp/probe_result.hpp"

namespace mcphd::metrics {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

const scheduler::Status kStatuses[] = {
    scheduler::Status::kUnknown,      scheduler::Status::kHealthy,
    scheduler::Status::kDegraded,     scheduler::Status::kUnhealthy,
    scheduler::Status::kAuthRequired, scheduler::Status::kQuarantined};

}  // namespace

std::string escapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Metrics::Histogram::observe(double seconds) {
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      ++counts[i];
      break;
    }
  }
  ++count;
  sum += seconds;
}

void Metrics::onReport(const scheduler::CheckReport& r) {
  Server& s = servers_[r.serverId];
  s.status = r.status;
  s.consecutiveFailures = r.consecutiveFailures;
  const mcp::ProbeResult& p = r.probe;
  if (!p.error) {
    s.lastSuccessWallMs = r.checkedAtWallMs;
  }
  s.errorKind = p.error ? mcp::errorKindName(p.error->kind) : "";
  if (p.toolsComplete) {
    s.tools = static_cast<int64_t>(p.tools.size());
  }
  if (p.verdict) {
    s.verdict = p.verdict;
  }
  ++checks_[p.error ? mcp::errorKindName(p.error->kind) : "success"];
  durations_["total"].observe(static_cast<double>(p.totalUs) / 1e6);
  if (p.connectUs > 0) {
    durations_["connect"].observe(static_cast<double>(p.connectUs) / 1e6);
  }
  if (p.initialized) {
    durations_["initialize"].observe(static_cast<double>(p.initializeUs) / 1e6);
  }
  if (p.toolsComplete) {
    durations_["tools_list"].observe(static_cast<double>(p.toolsListUs) / 1e6);
  }
}

void Metrics::onRemoved(const std::string& serverId) { servers_.erase(serverId); }

std::string Metrics::render(const Counters& c) const {
  std::string out;
  out.reserve(256 + servers_.size() * 600);
  auto perServer = [&](const char* name, const char* type, const char* help, auto value) {
    header(out, name, type, help);
    for (const auto& [id, s] : servers_) {
      std::string v = value(s);
      if (!v.empty()) {
        out += std::string(name) + "{server_id=\"" + escapeLabel(id) + "\"} " + v + '\n';
      }
    }
  };
  perServer("mcp_server_up", "gauge",
            "1 when the server answers MCP (status healthy, degraded or quarantined), else 0",
            [](const Server& s) {
              return std::string(s.status == scheduler::Status::kHealthy ||
                                         s.status == scheduler::Status::kDegraded ||
                                         s.status == scheduler::Status::kQuarantined
                                     ? "1"
                                     : "0");
            });
  header(out, "mcp_server_status", "gauge", "1 for the server's current status, 0 for the others");
  for (const auto& [id, s] : servers_) {
    for (auto st : kStatuses) {
      out += "mcp_server_status{server_id=\"" + escapeLabel(id) + "\",status=\"" +
             scheduler::statusName(st) + "\"} " + (s.status == st ? "1" : "0") + '\n';
    }
  }
  perServer("mcp_server_consecutive_failures", "gauge", "Failed checks in a row",
            [](const Server& s) { return std::to_string(s.consecutiveFailures); });
  perServer("mcp_server_last_success_timestamp_seconds", "gauge",
            "Unix time of the last successful check (absent: none yet)", [](const Server& s) {
              return s.lastSuccessWallMs == 0
                         ? std::string()
                         : number(static_cast<double>(s.lastSuccessWallMs) / 1000.0);
            });
  perServer("mcp_server_tools", "gauge", "Tools in the server's last complete tools/list",
            [](const Server& s) { return s.tools < 0 ? std::string() : std::to_string(s.tools); });

  perServer("mcp_server_tools_drifted", "gauge",
            "1 while the server's tool set differs from its approved baseline, else 0 (absent "
            "with tool_baseline off)",
            [](const Server& s) {
              if (!s.verdict || s.verdict->approval == baseline::Approval::kNone) {
                return std::string();
              }
              return std::string(s.verdict->approval == baseline::Approval::kDrifted ? "1" : "0");
            });
  header(out, "mcp_server_tool_findings", "gauge",
         "Lint findings in the server's last complete tool list, by code (absent: none)");
  for (const auto& [id, s] : servers_) {
    if (s.verdict) {
      for (const auto& [code, n] : s.verdict->findingCounts) {
        out += "mcp_server_tool_findings{server_id=\"" + escapeLabel(id) + "\",code=\"" +
               escapeLabel(code) + "\"} " + std::to_string(n) + '\n';
      }
    }
  }

  header(out, "mcp_server_error", "gauge",
         "1 while the server's last check failed, labelled with the error kind (auth, timeout, "
         "connect, ...); absent after a success");
  for (const auto& [id, s] : servers_) {
    if (!s.errorKind.empty()) {
      out += "mcp_server_error{server_id=\"" + escapeLabel(id) + "\",kind=\"" +
             escapeLabel(s.errorKind) + "\"} 1\n";
    }
  }

  header(out, "mcp_check_duration_seconds", "histogram",
         "Check durations by phase: connect, initialize, tools_list (every page), total");
  for (const auto& [phase, h] : durations_) {
    uint64_t cumulative = 0;
    const std::string label = "phase=\"" + phase + "\"";
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out += "mcp_check_duration_seconds_bucket{" + label + ",le=\"" + number(kBuckets[i]) +
             "\"} " + std::to_string(cumulative) + '\n';
    }
    out += "mcp_check_duration_seconds_bucket{" + label + ",le=\"+Inf\"} " +
           std::to_string(h.count) + '\n';
    out += "mcp_check_duration_seconds_sum{" + label + "} " + number(h.sum) + '\n';
    out += "mcp_check_duration_seconds_count{" + label + "} " + std::to_string(h.count) + '\n';
  }
  header(out, "mcp_checks_total", "counter",
         "Checks by result: success, or the error kind (timeout, connect, protocol, ...)");
  for (const auto& [result, n] : checks_) {
    out += "mcp_checks_total{result=\"" + escapeLabel(result) + "\"} " + std::to_string(n) + '\n';
  }
  header(out, "mcp_token_requests_total", "counter",
         "OAuth2 token endpoint requests by result: success or failure");
  out += "mcp_token_requests_total{result=\"success\"} " + std::to_string(c.tokenSuccesses) + '\n';
  out += "mcp_token_requests_total{result=\"failure\"} " + std::to_string(c.tokenFailures) + '\n';
  header(out, "mcp_redis_connected", "gauge",
         "1 while the daemon's Redis connections (publishing, commands) are both up, else 0");
  out += std::string("mcp_redis_connected ") + (c.redisConnected ? "1" : "0") + '\n';
  header(out, "mcp_redis_reconnects_total", "counter", "Redis connections re-established");
  out += "mcp_redis_reconnects_total " + std::to_string(c.redisReconnects) + '\n';
  header(out, "mcp_cluster_members", "gauge",
         "Live daemons sharing this Redis as this one last saw them (1 without cluster.enabled)");
  out += "mcp_cluster_members " + std::to_string(c.clusterMembers) + '\n';
  header(out, "mcp_cluster_owned_servers", "gauge", "Servers this daemon checks");
  out += "mcp_cluster_owned_servers " + std::to_string(c.ownedServers) + '\n';
  header(out, "mcp_commands_total", "counter",
         "Commands read from the command stream by op (check, upsert, remove, baseline, invalid)");
  for (const auto& [op, n] : c.commands) {
    out += "mcp_commands_total{op=\"" + escapeLabel(op) + "\"} " + std::to_string(n) + '\n';
  }
  return out;
}

}  // namespace mcphd::metrics
