#include "metrics/metrics.hpp"

#include <catch2/catch.hpp>

using namespace mcphd;
using scheduler::Status;

namespace {

scheduler::CheckReport report(const std::string& id, Status status, bool ok) {
  scheduler::CheckReport r;
  r.serverId = id;
  r.status = status;
  r.checkedAtWallMs = 1'790'000'000'500;
  r.consecutiveFailures = ok ? 0 : 3;
  r.probe.totalUs = 12'000;
  r.probe.connectUs = 300;
  if (ok) {
    r.probe.initialized = true;
    r.probe.initializeUs = 4'000;
    r.probe.toolsComplete = true;
    r.probe.toolsListUs = 2'000;
    r.probe.tools.resize(20);
  } else {
    r.probe.error = mcp::CheckError{mcp::ErrorKind::kTimeout, "timed out", 0};
  }
  return r;
}

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("the exposition has every metric of every server, in the Prometheus text format") {
  metrics::Metrics m;
  m.onReport(report("a", Status::kHealthy, true));
  m.onReport(report("b", Status::kUnhealthy, false));
  metrics::Counters c;
  c.redisReconnects = 2;
  c.tokenSuccesses = 5;
  c.tokenFailures = 1;
  c.commands = {{"check", 3}, {"invalid", 1}};
  std::string text = m.render(c);
  INFO(text);
  CHECK(has(text, "# TYPE mcp_server_up gauge"));
  CHECK(has(text, R"(mcp_server_up{server_id="a"} 1)"));
  CHECK(has(text, R"(mcp_server_up{server_id="b"} 0)"));
  CHECK(has(text, R"(mcp_server_status{server_id="b",status="unhealthy"} 1)"));
  CHECK(has(text, R"(mcp_server_status{server_id="b",status="healthy"} 0)"));
  CHECK(has(text, R"(mcp_server_consecutive_failures{server_id="b"} 3)"));
  CHECK(has(text, R"(mcp_server_last_success_timestamp_seconds{server_id="a"} 1790000000.5)"));
  CHECK(text.find(R"(mcp_server_last_success_timestamp_seconds{server_id="b"})") ==
        std::string::npos);  // never succeeded: no sample
  CHECK(has(text, R"(mcp_server_tools{server_id="a"} 20)"));
  CHECK(has(text, "# TYPE mcp_check_duration_seconds histogram"));
  CHECK(has(text, R"(mcp_check_duration_seconds_bucket{phase="total",le="0.01"} 0)"));
  CHECK(has(text, R"(mcp_check_duration_seconds_bucket{phase="total",le="0.025"} 2)"));
  CHECK(has(text, R"(mcp_check_duration_seconds_bucket{phase="total",le="+Inf"} 2)"));
  CHECK(has(text, R"(mcp_check_duration_seconds_count{phase="initialize"} 1)"));
  CHECK(has(text, R"(mcp_check_duration_seconds_sum{phase="initialize"} 0.004)"));
  CHECK(has(text, R"(mcp_checks_total{result="success"} 1)"));
  CHECK(has(text, R"(mcp_checks_total{result="timeout"} 1)"));
  CHECK(has(text, R"(mcp_token_requests_total{result="success"} 5)"));
  CHECK(has(text, R"(mcp_token_requests_total{result="failure"} 1)"));
  CHECK(has(text, "mcp_redis_reconnects_total 2"));
  CHECK(has(text, R"(mcp_commands_total{op="check"} 3)"));
  CHECK(has(text, R"(mcp_server_error{server_id="b",kind="timeout"} 1)"));
  CHECK(text.find(R"(mcp_server_error{server_id="a")") == std::string::npos);  // healthy
  CHECK(has(text, "mcp_redis_connected 0"));
  c.redisConnected = true;
  CHECK(has(m.render(c), "mcp_redis_connected 1"));
  CHECK(has(text, "mcp_cluster_members 1"));  // without cluster: itself
  c.clusterMembers = 3;
  c.ownedServers = 117;
  text = m.render(c);
  CHECK(has(text, "# TYPE mcp_cluster_members gauge"));
  CHECK(has(text, "mcp_cluster_members 3"));
  CHECK(has(text, "# TYPE mcp_cluster_owned_servers gauge"));
  CHECK(has(text, "mcp_cluster_owned_servers 117"));

  m.onRemoved("b");
  text = m.render(c);
  CHECK(text.find(R"(server_id="b")") == std::string::npos);
}

TEST_CASE("label values are escaped") {
  CHECK(metrics::escapeLabel("a\"b\\c\nd") == "a\\\"b\\\\c\\nd");
}
