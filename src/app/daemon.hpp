#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "approval/approving_prober.hpp"
#include "approval/redis_baseline_store.hpp"
#include "auth/oauth2_provider.hpp"
#include "check/server_prober.hpp"
#include "cluster/membership.hpp"
#include "cluster/ownership.hpp"
#include "common/clock.hpp"
#include "common/result.hpp"
#include "config/config.hpp"
#include "control/command_stream.hpp"
#include "dashboard/dashboard.hpp"
#include "http/curl_multi_client.hpp"
#include "http/http_server.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/uv_loop.hpp"
#include "loop/uv_process.hpp"
#include "metrics/metrics.hpp"
#include "publish/state_publisher.hpp"
#include "redis/redis_client.hpp"
#include "redis/sentinel.hpp"
#include "registry/redis_registry.hpp"
#include "scheduler/scheduler.hpp"
#include "service/monitor.hpp"
#include "service/systemd.hpp"

namespace mcphd::app {

// Exit statuses of mcp-healthd.
inline constexpr int kExitUsage = 2;      // a bad config or argument (also at start-up)
inline constexpr int kExitSoftware = 70;  // a libuv handle was left open

// stdio servers run under the daemon's own binary as their supervisor (loop/child_supervisor).
inline constexpr const char* kSupervisor = "/proc/self/exe";
// At daemon stop, stdio servers get SIGTERM at once and SIGKILL after this: the daemon exits
// within 2 s of SIGTERM.
inline constexpr int64_t kStopKillAfterMs = 1000;
// How long first checks wait for the published state (<prefix>status) at start-up: a Redis that
// is down or slow to answer does not hold them longer (RedisClient's connect timeout).
inline constexpr int64_t kSnapshotWaitMs = 3000;

// What a stdio server inherits from the daemon's environment (mcp::kInheritedEnvNames only).
std::vector<std::string> inheritedEnvironment();

// STATUS= for systemd: "12 servers: 10 healthy, 1 degraded, 1 unhealthy; redis connected".
std::string statusLine(const scheduler::Scheduler& sched, bool redisUp);

// Every result goes to the metrics and the publisher, and tells the service monitor that the
// statuses may have changed. A removed server's baseline verdict is forgotten.
class ResultFanOut final : public scheduler::ResultSink {
 public:
  ResultFanOut(scheduler::ResultSink& publisher, metrics::Metrics& metrics,
               approval::ApprovingProber& approving)
      : publisher_(publisher), metrics_(metrics), approving_(approving) {}
  void onStatusesChanged(std::function<void()> changed) { changed_ = std::move(changed); }
  void onReport(const scheduler::CheckReport& r) override;
  void onRemoved(const std::string& id, const scheduler::Answers& answers) override;

 private:
  scheduler::ResultSink& publisher_;
  metrics::Metrics& metrics_;
  approval::ApprovingProber& approving_;
  std::function<void()> changed_;
};

// What cluster ownership drives: the scheduler, and the publisher (which forgets the state of a
// server another member checks, and reads the state a hand-over is due by).
class OwnedServersOf final : public cluster::OwnedServers {
 public:
  OwnedServersOf(scheduler::Scheduler& scheduler, publish::StatePublisher& publisher,
                 approval::ApprovingProber& approving)
      : scheduler_(scheduler), publisher_(publisher), approving_(approving) {}
  void own(const registry::ServerSpec& spec, Trigger firstCheck) override;
  void adopt(const registry::ServerSpec& spec, Trigger trigger,
             const std::optional<scheduler::LastCheck>& last) override;
  void release(const std::string& id) override;
  void remove(const std::string& id) override;
  void readPublished(
      std::vector<std::string> ids,
      std::function<void(std::optional<std::map<std::string, cluster::Published>>)> done) override;
  void forget(const std::string& id) override { publisher_.forget(id); }

 private:
  scheduler::Scheduler& scheduler_;
  publish::StatePublisher& publisher_;
  approval::ApprovingProber& approving_;
};

// mcp-healthd, assembled: every long-lived part is a member, declared in start-up order, so C++
// builds them in that order and tears them down in the reverse one (the scheduler's checks go
// before the prober, the HTTP client and the process spawner they use; Redis connections drop
// their pending replies silently when they go). run() starts the work and the loop.
class Daemon {
 public:
  // `cfg` is the loaded config; its servers move to the scheduler when run() starts.
  Daemon(loop::UvLoop& loop, config::Config cfg, redis::Endpoint endpoint);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGTERM or SIGINT; the exit status (kExitUsage when start-up failed).
  int run();

 private:
  // SIGHUP: the config file is read again. A bad file changes nothing. Servers, defaults, the
  // egress policies, max_concurrent_checks, max_watches and secrets (keys, accept_v1) take
  // effect; a server whose settings did not change keeps its state and schedule; a new one gets
  // its first check by the scheduler's rule, with trigger `reload`. Redis settings need a restart.
  Result<std::string> reload();
  void onSighup();
  // The refresh-token rotation policy: a token the authorization server rotated for a Redis
  // server is sealed again and written back into its record, only over the blob it came from.
  void storeRotatedToken(const registry::ServerSpec& spec, const Secret& token);
  // GET /metrics and /healthz on metrics.listen.
  http::ServerResponse serve(const std::string& path);
  void serveMetrics(const http::ServerRequest& request,
                    const std::shared_ptr<http::Exchange>& exchange);
  // The dashboard and its two Redis connections (dashboard.listen set).
  void startDashboard();
  // metrics.listen and dashboard.listen, one listener when they are the same address (the
  // dashboard's security headers then go with /metrics too). False (logged) when one cannot
  // listen.
  bool listenHttp();
  std::string healthzJson(int* status) const;
  // Where servers from the config file and the registry go: the scheduler, or with a cluster
  // the ownership that hands the scheduler the servers this member checks.
  registry::ServerListener& servers();
  // With a cluster: the settings digests of the config-file servers, announced to the others.
  void announceConfig(const std::vector<registry::ServerSpec>& servers);
  // Stops: the loop ends once results handed to Redis are written (1 s at most), stdio servers
  // are gone (SIGKILL after 1 s) and the DELETEs of ended watches are answered; at 1.5 s whatever
  // happens.
  void stop(const char* why);
  void stopStepDone();

  loop::UvLoop& loop_;
  service::Notifier notifier_;  // first: it takes NOTIFY_SOCKET out of the environment
  config::Config cfg_;          // the running config (its servers live in the scheduler)
  std::set<std::string> configIds_;
  const keyspace::Keyspace keys_;
  const std::string memberId_;  // cluster.member_id or <hostname>-<pid>: checked_by
  SystemRandom random_;
  http::CurlMultiClient http_;
  auth::OAuth2Provider auth_;
  loop::UvProcessSpawner processes_;
  check::ServerProber prober_;
  // redis.sentinels: where every connection below asks for the master (outlives them).
  std::unique_ptr<redis::SentinelWatch> sentinels_;
  redis::RedisClient redis_;
  redis::RedisClient commandsRedis_;   // a blocking XREADGROUP: a connection of its own
  redis::RedisClient eventsRedis_;     // the dashboard's subscription (started with it)
  redis::RedisClient dashboardRedis_;  // the dashboard's reads and commands (started with it)
  redis::RedisClient clusterRedis_;    // heartbeats: never queued behind a congested publisher
  redis::RedisClient controlRedis_;    // the control channel's subscription (with a cluster)
  publish::StatePublisher publisher_;
  // Tool baselines (<prefix>baseline:<id>) on the publisher's connection, signed with the
  // secrets keys; the judging stage between the prober and the scheduler.
  approval::RedisBaselineStore baselines_;
  approval::ApprovingProber approving_;
  metrics::Metrics metrics_;
  ResultFanOut results_;
  scheduler::Scheduler scheduler_;
  OwnedServersOf ownedServers_;
  std::unique_ptr<cluster::Ownership> ownership_;  // when cluster.enabled
  registry::RedisRegistry registry_;
  control::CommandStream commands_;
  service::Monitor monitor_;
  std::unique_ptr<loop::Timer> snapshotWait_;
  std::unique_ptr<loop::Timer> hardStop_;
  std::unique_ptr<dashboard::Dashboard> dashboard_;  // when dashboard.listen is set
  std::unique_ptr<cluster::Membership> membership_;  // when cluster.enabled
  std::vector<std::string> liveMembers_;             // as of the last view
  std::unique_ptr<http::HttpServer> metricsServer_;
  std::unique_ptr<http::HttpServer> dashboardServer_;  // when not on metrics.listen
  loop::UvSignal sigint_;
  loop::UvSignal sigterm_;
  loop::UvSignal sighup_;
  bool stopping_ = false;
  int stopSteps_ = 0;  // completions the stop still waits for
  int exitCode_ = 0;
};

}  // namespace mcphd::app
