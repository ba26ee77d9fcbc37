#include "app/daemon.hpp"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iterator>

#include "app/member_id.hpp"
#include "common/allocation_count.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "mcp/stdio_transport.hpp"

namespace mcphd::app {

namespace {

// The daemon's host name: its consumer name in the command stream, stable across restarts so
// that a restarted daemon finds the commands it had taken.
std::string consumerName() {
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0) {
    std::snprintf(host, sizeof host, "localhost");
  }
  return std::string("mcp-healthd@") + host;
}

std::set<std::string> idsOf(const std::vector<registry::ServerSpec>& servers) {
  std::set<std::string> ids;
  for (const auto& s : servers) {
    ids.insert(s.id);
  }
  return ids;
}

control::CommandStream::Options commandOptions(const keyspace::Keyspace& keys,
                                               const config::Config& cfg,
                                               const std::string& memberId) {
  control::CommandStream::Options o;
  o.keys = keys;
  // Members of a cluster may share a host: each reads as itself.
  o.consumer = cfg.cluster.enabled ? "mcp-healthd@" + memberId : consumerName();
  return o;
}

std::unique_ptr<cluster::Ownership> ownershipOf(const config::Config& cfg,
                                                cluster::OwnedServers& target, Clock& clock,
                                                loop::TimerFactory& timers,
                                                const std::string& memberId) {
  if (!cfg.cluster.enabled) {
    return nullptr;
  }
  // The grace before taking over a server from a live member: it sees the change at its next
  // heartbeat; half a heartbeat more covers the two heartbeats' phases and Redis's round trip.
  return std::make_unique<cluster::Ownership>(target, clock, timers, memberId,
                                              cfg.cluster.heartbeatMs * 3 / 2);
}

}  // namespace

std::vector<std::string> inheritedEnvironment() {
  std::vector<std::string> env;
  for (const char* name : mcp::kInheritedEnvNames) {
    if (const char* v = std::getenv(name); v != nullptr) {
      env.push_back(std::string(name) + "=" + v);
    }
  }
  return env;
}

std::string statusLine(const scheduler::Scheduler& sched, bool redisUp) {
  std::string line = std::to_string(sched.servers()) + " servers";
  const char* sep = ": ";
  for (const auto& [status, n] : sched.statusCounts()) {
    if (n > 0) {
      line += sep + std::to_string(n) + " " + scheduler::statusName(status);
      sep = ", ";
    }
  }
  return line + (redisUp ? "; redis connected" : "; redis not connected");
}

void ResultFanOut::onReport(const scheduler::CheckReport& r) {
  metrics_.onReport(r);
  publisher_.onReport(r);
  if (changed_ && (r.changed || r.previousStatus == scheduler::Status::kUnknown)) {
    changed_();
  }
}

void OwnedServersOf::own(const registry::ServerSpec& spec, Trigger firstCheck) {
  publisher_.own(spec.id);
  scheduler_.upsertServer(spec, firstCheck);
}

void OwnedServersOf::adopt(const registry::ServerSpec& spec, Trigger trigger,
                           const std::optional<scheduler::LastCheck>& last) {
  publisher_.own(spec.id);
  scheduler_.adoptServer(spec, trigger, last);
}

void OwnedServersOf::release(const std::string& id) {
  scheduler_.releaseServer(id);
  publisher_.release(id);
  approving_.forget(id);  // judged again (from its record) if it comes back
}

void OwnedServersOf::remove(const std::string& id) { scheduler_.removeServer(id); }

void OwnedServersOf::readPublished(
    std::vector<std::string> ids,
    std::function<void(std::optional<std::map<std::string, cluster::Published>>)> done) {
  publisher_.readStored(
      ids,
      [done = std::move(done)](std::optional<std::map<std::string, publish::StoredCheck>> stored) {
        if (!stored) {
          done(std::nullopt);
          return;
        }
        std::map<std::string, cluster::Published> out;
        for (auto& [id, c] : *stored) {
          out.emplace(id, cluster::Published{c.last, std::move(c.checkedBy)});
        }
        done(std::move(out));
      });
}

void ResultFanOut::onRemoved(const std::string& id, const scheduler::Answers& answers) {
  approving_.forget(id);
  metrics_.onRemoved(id);
  publisher_.onRemoved(id, answers);
  if (changed_) {
    changed_();
  }
}

Daemon::Daemon(loop::UvLoop& loop, config::Config cfg, redis::Endpoint endpoint)
    : loop_(loop),
      notifier_(service::Notifier::fromEnvironment()),
      cfg_(std::move(cfg)),
      configIds_(idsOf(cfg_.servers)),
      keys_(cfg_.redis.prefix),
      memberId_(memberIdOf(cfg_.cluster)),
      http_(loop),
      auth_(http_, loop),
      processes_(loop, std::string(kSupervisor)),
      prober_(http_, auth_, loop, loop, &processes_, inheritedEnvironment()),
      sentinels_(endpoint.sentinels.empty()
                     ? nullptr
                     : std::make_unique<redis::SentinelWatch>(loop, endpoint.sentinels,
                                                              endpoint.masterName, random_)),
      redis_(loop, endpoint, random_),
      commandsRedis_(loop, endpoint, random_, "redis commands"),
      eventsRedis_(loop, endpoint, random_, "redis events"),
      dashboardRedis_(loop, endpoint, random_, "redis dashboard"),
      clusterRedis_(loop, endpoint, random_, "redis cluster"),
      controlRedis_(loop, std::move(endpoint), random_, "redis control"),
      publisher_(redis_, loop, keys_, memberId_),
      // cfg_.keys: replaced in place by a reload, so new keys sign and verify from then on.
      baselines_(redis_, keys_, &cfg_.keys),
      approving_(prober_, &baselines_, &cfg_.keys, [&loop] { return loop.wallMs(); }),
      results_(publisher_, metrics_, approving_),
      scheduler_(loop, loop, random_, approving_, results_, cfg_.maxConcurrentChecks),
      ownedServers_(scheduler_, publisher_, approving_),
      ownership_(ownershipOf(cfg_, ownedServers_, loop, loop, memberId_)),
      registry_(redis_, loop, keys_, cfg_.defaults, cfg_.keys, configIds_, servers(),
                cfg_.registryResyncMs, registry::RecordOptions{cfg_.acceptV1}),
      commands_(commandsRedis_, redis_, loop, registry_, scheduler_, publisher_,
                commandOptions(keys_, cfg_, memberId_)),
      monitor_(
          loop, loop, [this](const std::string& m) { notifier_.notify(m); },
          notifier_.watchdogUsec(), [this] { return statusLine(scheduler_, redis_.ready()); }),
      snapshotWait_(loop.createTimer()),
      hardStop_(loop.createTimer()),
      sigint_(loop, SIGINT, [this] { stop("SIGINT"); }),
      sigterm_(loop, SIGTERM, [this] { stop("SIGTERM"); }),
      sighup_(loop, SIGHUP, [this] { onSighup(); }) {
  if (sentinels_) {
    for (redis::RedisClient* c : {&redis_, &commandsRedis_, &eventsRedis_, &dashboardRedis_,
                                  &clusterRedis_, &controlRedis_}) {
      c->useSentinels(*sentinels_);
    }
  }
  http_.setEgressPolicy(cfg_.egress);
  http_.setRegistryEgressPolicy(cfg_.registryEgress);
  scheduler_.setMaxWatches(cfg_.maxWatches);
  auth_.onRefreshTokenRotated([this](const registry::ServerSpec& spec, const Secret& token) {
    storeRotatedToken(spec, token);
  });
  publisher_.setBroadcasts(scheduler_.broadcasts());
  // Redis coming and going shows at the next periodic STATUS (its ready listener is taken).
  results_.onStatusesChanged([this] { monitor_.statusChanged(); });
  // First checks are due by the published state (a server checked recently by the daemon that
  // ran before is not checked again until its interval has passed): they wait for its first
  // read, or until it cannot be read (then every server is due now).
  scheduler_.awaitSnapshot();
  if (cfg_.cluster.enabled) {
    cluster::MembershipOptions m;
    m.memberId = memberId_;
    m.heartbeatMs = cfg_.cluster.heartbeatMs;
    m.memberTtlMs = cfg_.cluster.memberTtlMs;
    m.startedAtWallMs = loop.wallMs();
    m.version = MCPHD_VERSION;
    membership_ = std::make_unique<cluster::Membership>(clusterRedis_, loop, keys_, std::move(m));
    membership_->onChange([this](const cluster::ClusterView& view) {
      ownership_->setView(view);
      std::vector<std::string> gone;
      std::set_difference(liveMembers_.begin(), liveMembers_.end(), view.members.begin(),
                          view.members.end(), std::back_inserter(gone));
      liveMembers_ = view.members;
      if (!gone.empty()) {
        commands_.membersLeft(gone, liveMembers_);
      }
    });
    commands_.setCluster(*ownership_, memberId_, controlRedis_, loop);
  }
  // "Never silently re-learned" across restarts and take-overs: what was published says which
  // servers had a baseline.
  publisher_.onBaselineSeen(
      [this](const std::string& id, bool drifted) { approving_.hadBaseline(id, drifted); });
  // ... except when Redis lost its data: then a tofu server learns its baseline again (logged).
  publisher_.onDataLost([this] { approving_.redisLost(); });
  commands_.onBaselineChanged([this](const std::string& id) { approving_.reread(id); });
  publisher_.setSnapshotSigner([this](const std::string& id, const std::string& hash) {
    if (cfg_.keys.empty()) {
      return std::string();
    }
    auto mac = cfg_.keys.mac(baseline::kSnapshotMacContext, baseline::snapshotMacMessage(id, hash));
    return mac ? std::move(*mac) : std::string();
  });
  publisher_.onSnapshot([this](std::optional<scheduler::Snapshot> snapshot) {
    snapshotWait_->stop();
    scheduler_.setSnapshot(std::move(snapshot));
  });
}

int Daemon::run() {
  log::info("redis: " + redis_.display() + ", prefix '" + keys_.prefix() + "'; member id '" +
            memberId_ + "'");
  snapshotWait_->start(kSnapshotWaitMs, [this] {
    log::warn("redis: " + keys_.status() + " could not be read within " +
              std::to_string(kSnapshotWaitMs) + " ms; every server is checked now");
    scheduler_.setSnapshot(std::nullopt);
  });
  if (sentinels_) {
    sentinels_->start();
  }
  redis_.start();
  commandsRedis_.start();
  announceConfig(cfg_.servers);
  for (const auto& s : cfg_.servers) {
    servers().upsertServer(s, Trigger::kStartup);
  }
  const size_t configured = cfg_.servers.size();
  // The scheduler has its own copy of each; at 10,000 servers these were 12 MB.
  std::vector<registry::ServerSpec>().swap(cfg_.servers);
  registry_.start();
  commands_.start();
  if (membership_) {
    membership_->setOwned([this] { return ownership_->owned(); });
    membership_->start();
    clusterRedis_.start();
    controlRedis_.start();
  }
  if (cfg_.keys.empty()) {
    log::warn(
        "tool baselines: no secrets key is configured (keys:), so baselines are written and read "
        "unsigned: whoever can write to Redis can approve a tool set");
  }
  log::notice("mcp-healthd " MCPHD_VERSION " checking " + std::to_string(configured) + " servers");
  if (!cfg_.dashboard.listen.empty()) {
    startDashboard();
  }
  const bool startupFailed = !listenHttp();
  if (startupFailed) {
    exitCode_ = kExitUsage;
    stop("startup failed");
  } else {
    // Readiness does not wait for Redis: results are kept until it is reachable, and STATUS
    // says whether it is.
    monitor_.ready();
  }
  loop_.run();
  return exitCode_;
}

registry::ServerListener& Daemon::servers() {
  if (ownership_) {
    return *ownership_;
  }
  return scheduler_;
}

void Daemon::announceConfig(const std::vector<registry::ServerSpec>& servers) {
  if (!membership_) {
    return;
  }
  std::map<std::string, std::string> digests;
  for (const auto& s : servers) {
    digests.emplace(s.id, registry::settingsDigest(s));
  }
  membership_->setConfig(std::move(digests));
}

void Daemon::stop(const char* why) {
  if (stopping_) {
    return;
  }
  stopping_ = true;
  log::notice(std::string("stopping (") + why + ")");
  monitor_.stopping();
  scheduler_.stop();  // stdio servers of the checks in flight enter their shutdown ladder
  snapshotWait_->stop();
  stopSteps_ = (membership_ ? 4 : 3) + (sentinels_ ? 1 : 0);
  if (sentinels_) {
    sentinels_->shutdown(200, [this] { stopStepDone(); });
  }
  if (membership_) {
    // Withdrawn at once: the others need not wait for member_ttl to take its servers.
    membership_->leave([this] { clusterRedis_.shutdown(200, [this] { stopStepDone(); }); });
  }
  commandsRedis_.shutdown(200, [] {});
  controlRedis_.shutdown(200, [] {});
  eventsRedis_.shutdown(200, [] {});
  dashboardRedis_.shutdown(200, [] {});
  redis_.shutdown(1000, [this] { stopStepDone(); });
  processes_.shutdown(kStopKillAfterMs, [this] { stopStepDone(); });
  prober_.whenDetachedDone([this] { stopStepDone(); });
  hardStop_->start(1500, [this] { loop_.stop(); });
}

void Daemon::stopStepDone() {
  if (--stopSteps_ == 0) {
    loop_.stop();
  }
}

void Daemon::onSighup() {
  if (stopping_) {
    return;
  }
  monitor_.reloading(service::reloadingMessage());
  auto r = reload();
  if (r) {
    log::notice("reloaded " + cfg_.path + ": " + r.value());
  } else {
    log::error("reload failed, the running config stays: " + r.error().message);
  }
  monitor_.reloaded();
}

Result<std::string> Daemon::reload() {
  auto fresh = config::loadFile(cfg_.path);
  if (!fresh) {
    return fresh.error();
  }
  config::Config& f = fresh.value();
  if (f.redis.url != cfg_.redis.url || f.redis.prefix != cfg_.redis.prefix ||
      !(f.redis.password == cfg_.redis.password) || f.redis.username != cfg_.redis.username ||
      f.redis.sentinels != cfg_.redis.sentinels || f.redis.masterName != cfg_.redis.masterName) {
    log::warn("reload: the redis settings changed; they take effect at the next restart");
  }
  std::set<std::string> ids = idsOf(f.servers);
  size_t removed = 0;
  for (const auto& id : configIds_) {
    if (ids.count(id) == 0) {
      servers().removeServer(id);
      ++removed;
    }
  }
  announceConfig(f.servers);
  for (const auto& s : f.servers) {
    // Unchanged: nothing happens; changed: new settings, same state; new: due by the rule.
    servers().upsertServer(s, Trigger::kReload);
  }
  const size_t count = f.servers.size();
  http_.setEgressPolicy(f.egress);
  http_.setRegistryEgressPolicy(f.registryEgress);
  scheduler_.setMaxConcurrent(f.maxConcurrentChecks);
  scheduler_.setMaxWatches(f.maxWatches);
  cfg_.keys = std::move(f.keys);  // the registry holds a reference to cfg_.keys
  cfg_.acceptV1 = f.acceptV1;
  registry_.setRecordOptions(registry::RecordOptions{cfg_.acceptV1});
  cfg_.defaults = f.defaults;
  cfg_.egress = f.egress;
  cfg_.registryEgress = f.registryEgress;
  cfg_.maxConcurrentChecks = f.maxConcurrentChecks;
  cfg_.maxWatches = f.maxWatches;
  if (f.dashboard.listen != cfg_.dashboard.listen ||
      f.dashboard.allowedHosts != cfg_.dashboard.allowedHosts ||
      f.dashboard.maxStreams != cfg_.dashboard.maxStreams) {
    log::warn(
        "reload: the dashboard settings changed; they take effect at the next restart "
        "(a new dashboard.token_file content applies now)");
  }
  if (!(f.cluster == cfg_.cluster)) {
    log::warn("reload: the cluster settings changed; they take effect at the next restart");
  }
  if (dashboard_) {
    dashboard_->setToken(f.dashboard.token);
  }
  cfg_.dashboard.token = f.dashboard.token;
  configIds_ = ids;
  registry_.reconfigure(cfg_.defaults, std::move(ids));
  return std::to_string(count) + " servers in the config file, " + std::to_string(removed) +
         " removed";
}

void Daemon::storeRotatedToken(const registry::ServerSpec& spec, const Secret& token) {
  if (spec.source != registry::Source::kRedis) {
    return;  // a config file's credentials are the operator's: nothing to write back
  }
  auth::Credentials c;
  c.clientId = spec.auth.oauth2.clientId;
  c.clientSecret = spec.auth.oauth2.clientSecret;
  c.privateKeyPem = spec.auth.oauth2.privateKeyPem;
  c.refreshToken = token;
  registry_.storeCredentials(spec.id, spec.auth.oauth2.sealedBlob, std::move(c));
}

void Daemon::startDashboard() {
  const auto& d = cfg_.dashboard;
  dashboard::Options o;
  o.keys = keys_;
  o.listen = d.listen;
  o.allowedHosts = d.allowedHosts;
  o.token = d.token;
  dashboard_ =
      std::make_unique<dashboard::Dashboard>(dashboardRedis_, eventsRedis_, loop_, std::move(o));
  // After a Redis restart, pages re-read the status hash once this daemon has refilled it.
  publisher_.onRefilled([this] { dashboard_->resyncPages(); });
  eventsRedis_.start();
  dashboardRedis_.start();
  dashboard_->start();
}

bool Daemon::listenHttp() {
  const auto& d = cfg_.dashboard;
  const bool shared = dashboard_ && d.listen == cfg_.metricsListen;
  http::HttpServer::Options dashboardOptions;
  dashboardOptions.maxStreams = d.maxStreams;
  dashboardOptions.headers = dashboard::securityHeaders();
  if (!cfg_.metricsListen.empty()) {
    auto server = http::HttpServer::listen(
        loop_, cfg_.metricsListen,
        [this, shared](const http::ServerRequest& req, const std::shared_ptr<http::Exchange>& ex) {
          if (shared && req.path != "/metrics" && req.path != "/healthz") {
            dashboard_->handle(req, ex);
          } else {
            serveMetrics(req, ex);
          }
        },
        shared ? dashboardOptions : http::HttpServer::Options{});
    if (!server) {
      // A start-up error like a bad config: the operator must pick another address.
      log::error("metrics.listen: " + server.error().message);
      return false;
    }
    metricsServer_ = std::move(server.value());
    log::info("metrics: http://" + cfg_.metricsListen + "/metrics and /healthz");
  }
  if (dashboard_ && !shared) {
    auto server = http::HttpServer::listen(
        loop_, d.listen,
        [this](const http::ServerRequest& req, const std::shared_ptr<http::Exchange>& ex) {
          dashboard_->handle(req, ex);
        },
        dashboardOptions);
    if (!server) {
      log::error("dashboard.listen: " + server.error().message);
      return false;
    }
    dashboardServer_ = std::move(server.value());
  }
  if (dashboard_) {
    log::notice("dashboard: http://" + d.listen + "/" +
                (d.token.empty() ? " (read-only: no dashboard.token_file)" : ""));
  }
  return true;
}

void Daemon::serveMetrics(const http::ServerRequest& request,
                          const std::shared_ptr<http::Exchange>& exchange) {
  if (request.method != "GET" && request.method != "HEAD") {
    http::ServerResponse r;
    r.status = 405;
    r.body = "GET or HEAD only\n";
    r.headers.emplace_back("Allow", "GET, HEAD");
    exchange->respond(std::move(r));
    return;
  }
  exchange->respond(serve(request.path));
}

http::ServerResponse Daemon::serve(const std::string& path) {
  http::ServerResponse r;
  if (path == "/metrics") {
    metrics::Counters c;
    c.redisReconnects = redis_.reconnects() + commandsRedis_.reconnects();
    c.tokenSuccesses = auth_.tokenSuccesses();
    c.tokenFailures = auth_.tokenFailures();
    c.commands = commands_.commandCounts();
    c.redisConnected = redis_.ready() && commandsRedis_.ready();
    c.clusterMembers = membership_ ? membership_->members().size() : 1;
    c.ownedServers = scheduler_.servers();
    r.contentType = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.render(c);
  } else if (path == "/healthz") {
    r.contentType = "application/json";
    r.body = healthzJson(&r.status);
  } else {
    r.status = 404;
    r.body = "not found: try /metrics or /healthz\n";
  }
  return r;
}

std::string Daemon::healthzJson(int* status) const {
  // Answering at all shows the loop runs; the last watchdog tick says how late it ran.
  const std::optional<uint64_t> allocations = allocationCount();  // read before this allocates
  const int64_t lagMs = monitor_.lastLagMs();
  const bool redisUp = redis_.ready();
  const bool loopOk = lagMs < 5000;
  *status = redisUp && loopOk ? 200 : 503;
  std::string why;
  if (!redisUp) {
    why = "redis is not connected";
  } else if (!loopOk) {
    why = "the event loop ran " + std::to_string(lagMs) + " ms late";
  }
  return std::string("{\"status\":\"") + (*status == 200 ? "ok" : "unavailable") +
         "\",\"redis\":\"" + (redisUp ? "connected" : "not connected") +
         "\",\"loop_lag_ms\":" + std::to_string(lagMs) +
         ",\"servers\":" + std::to_string(scheduler_.servers()) +
         (why.empty() ? "" : ",\"reason\":" + json::quote(why)) +
         (allocations ? ",\"allocations\":" + std::to_string(*allocations) : "") + "}\n";
}

}  // namespace mcphd::app
