#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "baseline/verdict.hpp"
#include "scheduler/scheduler.hpp"

namespace mcphd::metrics {

// Counters the daemon's other parts keep; read when /metrics is scraped.
struct Counters {
  uint64_t redisReconnects = 0;
  uint64_t tokenSuccesses = 0;
  uint64_t tokenFailures = 0;
  std::map<std::string, uint64_t> commands;  // by op
  bool redisConnected = false;               // both of the daemon's Redis connections are ready
  size_t clusterMembers = 1;  // live members this daemon sees (1 without cluster: itself)
  size_t ownedServers = 0;    // servers this daemon schedules
};

// What Prometheus scrapes: per-server gauges, check durations and outcomes, kept up to date from
// the scheduler's reports (Metrics::onReport) and rendered in the text exposition format 0.0.4.
class Metrics {
 public:
  static constexpr std::array<double, 13> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                      0.25,  0.5,    1,     2.5,  5,     10};

  void onReport(const scheduler::CheckReport& report);
  void onRemoved(const std::string& serverId);
  std::string render(const Counters& counters) const;

 private:
  struct Server {
    scheduler::Status status = scheduler::Status::kUnknown;
    int consecutiveFailures = 0;
    int64_t lastSuccessWallMs = 0;  // 0: never
    int64_t tools = -1;             // -1: not known
    std::string errorKind;          // of the last check; empty when it succeeded
    // The tool-baseline verdict of the last complete tool list (shared with the check's result,
    // which later checks of the same list share too); null before one.
    std::shared_ptr<const baseline::Verdict> verdict;
  };
  struct Histogram {
    std::array<uint64_t, kBuckets.size()> counts{};  // per bucket (not cumulative)
    uint64_t count = 0;
    double sum = 0;
    void observe(double seconds);
  };

  std::map<std::string, Server> servers_;
  std::map<std::string, Histogram> durations_;  // by phase
  std::map<std::string, uint64_t> checks_;      // by result
};

// A label value in the exposition format: backslash, double quote and newline escaped.
std::string escapeLabel(const std::string& value);

}  // namespace mcphd::metrics
