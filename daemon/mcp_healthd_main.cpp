// mcp-healthd: composition root. Parses arguments, loads the config, builds the object graph,
// runs the loop.
#include <curl/curl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/credentials.hpp"
#include "auth/oauth2_provider.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/secret.hpp"
#include "config/config.hpp"
#include "control/command_stream.hpp"
#include "http/curl_multi_client.hpp"
#include "http/http_server.hpp"
#include "loop/child_supervisor.hpp"
#include "loop/uv_loop.hpp"
#include "loop/uv_process.hpp"
#include "mcp/prober.hpp"
#include "mcp/stdio_probe.hpp"
#include "metrics/metrics.hpp"
#include "publish/messages.hpp"
#include "publish/state_publisher.hpp"
#include "redis/redis_client.hpp"
#include "registry/redis_registry.hpp"
#include "scheduler/scheduler.hpp"
#include "service/monitor.hpp"
#include "service/systemd.hpp"

namespace {

using namespace mcphd;

constexpr int kExitUsage = 2;

struct Args {
  std::string configPath;
  std::optional<std::string> redisUrl;
  bool checkConfig = false;
  bool once = false;
  std::string logLevel = "info";
};

void usage(FILE* out) {
  std::fprintf(
      out,
      "usage: mcp-healthd --config FILE [--redis URL] [--once] [--check-config] [--log-level "
      "LEVEL]\n"
      "  --config FILE      the YAML config (see config/mcp-healthd.yaml)\n"
      "  --redis URL        overrides redis.url (redis://[:pw@]host[:port][/db] or unix:///path)\n"
      "  --once             check every server once without Redis, print one health JSON line\n"
      "                     per server, exit 0 when all are healthy and 1 otherwise\n"
      "  --check-config     validate the config and exit 0, or 2 with the error\n"
      "  --log-level LEVEL  error, warning, notice, info (default) or debug\n"
      "  --version          print the version\n");
}

std::optional<Args> parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "mcp-healthd: %s needs a value\n", name);
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    if (arg == "--config") {
      auto v = value("--config");
      if (!v) {
        return std::nullopt;
      }
      a.configPath = *v;
    } else if (arg == "--redis") {
      a.redisUrl = value("--redis");
      if (!a.redisUrl) {
        return std::nullopt;
      }
    } else if (arg == "--log-level") {
      auto v = value("--log-level");
      if (!v) {
        return std::nullopt;
      }
      a.logLevel = *v;
    } else if (arg == "--check-config") {
      a.checkConfig = true;
    } else if (arg == "--once") {
      a.once = true;
    } else if (arg == "--help" || arg == "-h") {
      usage(stdout);
      std::exit(0);
    } else if (arg == "--version") {
      std::printf("mcp-healthd %s\n", MCPHD_VERSION);
      std::exit(0);
    } else {
      std::fprintf(stderr, "mcp-healthd: unknown argument '%s'\n", arg.c_str());
      usage(stderr);
      return std::nullopt;
    }
  }
  if (a.configPath.empty()) {
    std::fprintf(stderr, "mcp-healthd: --config FILE is required\n");
    usage(stderr);
    return std::nullopt;
  }
  return a;
}

bool setLogLevel(const std::string& name) {
  static const std::pair<const char*, log::Level> kLevels[] = {{"error", log::Level::kError},
                                                               {"warning", log::Level::kWarning},
                                                               {"notice", log::Level::kNotice},
                                                               {"info", log::Level::kInfo},
                                                               {"debug", log::Level::kDebug}};
  for (const auto& [n, l] : kLevels) {
    if (name == n) {
      log::setLevel(l);
      return true;
    }
  }
  return false;
}

// What a stdio server inherits from the daemon's environment (a few names only).
std::vector<std::string> inheritedEnvironment() {
  std::vector<std::string> env;
  for (const char* name : mcp::kInheritedEnvNames) {
    if (const char* v = std::getenv(name); v != nullptr) {
      env.push_back(std::string(name) + "=" + v);
    }
  }
  return env;
}

// stdio servers run under this binary as their supervisor (see loop/child_supervisor.hpp).
constexpr const char* kSupervisor = "/proc/self/exe";
// At daemon stop, stdio servers get SIGTERM at once and SIGKILL after this: the daemon exits
// within 2 s of SIGTERM.
constexpr int64_t kStopKillAfterMs = 1000;

// Runs after the loop stopped: every handle must be closed by now.
int closeLoop(loop::UvLoop& loop, int status) {
  if (auto r = loop.close(); !r) {
    log::error(r.error().message);
    return 70;
  }
  return status;
}

int runOnce(const config::Config& cfg) {
  loop::UvLoop loop;
  int status = 0;
  {
    auto http = std::make_unique<http::CurlMultiClient>(loop);
    http->setEgressPolicy(cfg.egress);
    auth::OAuth2Provider auth(*http, loop);
    loop::UvProcessSpawner processes(loop, std::string(kSupervisor));
    mcp::ServerProber prober(*http, auth, loop, loop, &processes, inheritedEnvironment());
    std::vector<std::optional<scheduler::CheckReport>> reports(cfg.servers.size());
    std::vector<std::unique_ptr<mcp::RunningCheck>> running(cfg.servers.size());
    size_t next = 0;
    size_t active = 0;
    std::function<void()> startMore = [&] {
      while (active < cfg.maxConcurrentChecks && next < cfg.servers.size()) {
        size_t i = next++;
        ++active;
        running[i] = prober.start(cfg.servers[i], [&, i](mcp::ProbeResult r) {
          --active;
          reports[i] =
              scheduler::singleCheckReport(cfg.servers[i].id, std::move(r), "once", loop.wallMs());
          startMore();
        });
      }
      if (active == 0 && next == cfg.servers.size()) {
        processes.shutdown(kStopKillAfterMs, [] {});  // no need to wait for servers to notice EOF
      }
    };
    startMore();
    loop.run();
    for (const auto& rep : reports) {
      if (!rep) {
        status = 1;
        continue;
      }
      std::cout << publish::healthJson(*rep, 1) << '\n';
      if (rep->status != scheduler::Status::kHealthy) {
        status = 1;
      }
    }
    std::cout.flush();
    running.clear();
  }
  return closeLoop(loop, status);
}

// Passes results on to the publisher and tells the service monitor that statuses may have
// changed.
struct SinkTap final : scheduler::ResultSink {
  SinkTap(scheduler::ResultSink& sink, metrics::Metrics& m) : inner(sink), metrics(m) {}
  scheduler::ResultSink& inner;
  metrics::Metrics& metrics;
  std::function<void()> changed;
  void onReport(const scheduler::CheckReport& r) override {
    metrics.onReport(r);
    inner.onReport(r);
    if (changed && (r.changed || r.previousStatus == scheduler::Status::kUnknown)) {
      changed();
    }
  }
  void onRemoved(const std::string& id, const scheduler::Answers& answers) override {
    metrics.onRemoved(id);
    inner.onRemoved(id, answers);
    if (changed) {
      changed();
    }
  }
};

// STATUS= for systemd: "12 servers: 10 healthy, 1 degraded, 1 unhealthy; redis connected".
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

// SIGHUP: the config file is read again. A bad file changes nothing. Servers, defaults, the
// egress policy, max_concurrent_checks and secrets.keys take effect; a server whose settings did
// not change keeps its state and schedule. Redis settings need a restart.
struct Reloader {
  config::Config& current;           // without its servers: the scheduler holds those
  std::set<std::string>& configIds;  // the servers of the config file
  scheduler::Scheduler& sched;
  registry::RedisRegistry& registry;
  http::CurlMultiClient& http;

  Result<std::string> reload() {
    auto fresh = config::loadFile(current.path);
    if (!fresh) {
      return fresh.error();
    }
    config::Config& f = fresh.value();
    if (f.redis.url != current.redis.url || f.redis.prefix != current.redis.prefix ||
        !(f.redis.password == current.redis.password) || f.redis.username != current.redis.username) {
      log::warn("reload: the redis settings changed; they take effect at the next restart");
    }
    std::set<std::string> ids;
    for (const auto& s : f.servers) {
      ids.insert(s.id);
    }
    size_t removed = 0;
    for (const auto& id : configIds) {
      if (ids.count(id) == 0) {
        sched.removeServer(id);
        ++removed;
      }
    }
    for (const auto& s : f.servers) {
      sched.upsertServer(s);  // unchanged: nothing happens; changed: new settings, same state
    }
    const size_t count = f.servers.size();
    http.setEgressPolicy(f.egress);
    http.setRegistryEgressPolicy(f.registryEgress);
    sched.setMaxConcurrent(f.maxConcurrentChecks);
    sched.setMaxWatches(f.maxWatches);
    current.keys = std::move(f.keys);  // the registry holds a reference to current.keys
    current.acceptV1 = f.acceptV1;
    registry.setRecordOptions(registry::RecordOptions{current.acceptV1});
    current.defaults = f.defaults;
    current.egress = f.egress;
    current.registryEgress = f.registryEgress;
    current.maxConcurrentChecks = f.maxConcurrentChecks;
    current.maxWatches = f.maxWatches;
    configIds = ids;
    registry.reconfigure(current.defaults, std::move(ids));
    return std::to_string(count) + " servers in the config file, " + std::to_string(removed) +
           " removed";
  }
};

int runDaemon(config::Config cfg, redis::Endpoint endpoint) {
  service::Notifier notifier = service::Notifier::fromEnvironment();
  loop::UvLoop loop;
  int exitCode = 0;
  bool startupFailed = false;
  {
    SystemRandom random;
    auto http = std::make_unique<http::CurlMultiClient>(loop);
    http->setEgressPolicy(cfg.egress);
    http->setRegistryEgressPolicy(cfg.registryEgress);
    auth::OAuth2Provider auth(*http, loop);
    loop::UvProcessSpawner processes(loop, std::string(kSupervisor));
    mcp::ServerProber prober(*http, auth, loop, loop, &processes, inheritedEnvironment());
    log::info("redis: " + endpoint.display() + ", prefix '" + cfg.redis.prefix + "'");
    auto redis = std::make_unique<redis::RedisClient>(loop, endpoint, random);
    // Commands are read with a blocking XREADGROUP: a connection of their own.
    auto commandsRedis =
        std::make_unique<redis::RedisClient>(loop, std::move(endpoint), random, "redis commands");
    publish::StatePublisher publisher(*redis, loop, cfg.redis.prefix);
    metrics::Metrics metrics;
    SinkTap sinkTap(publisher, metrics);
    auto sched = std::make_unique<scheduler::Scheduler>(loop, loop, random, prober, sinkTap,
                                                        cfg.maxConcurrentChecks);
    sched->setMaxWatches(cfg.maxWatches);
    std::set<std::string> configIds;
    for (const auto& s : cfg.servers) {
      configIds.insert(s.id);
    }
    registry::RedisRegistry redisRegistry(*redis, loop, cfg.redis.prefix, cfg.defaults, cfg.keys,
                                          configIds, *sched, cfg.registryResyncMs,
                                          registry::RecordOptions{cfg.acceptV1});
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) != 0) {
      std::snprintf(host, sizeof host, "localhost");
    }
    control::CommandStream::Options opts;
    opts.prefix = cfg.redis.prefix;
    opts.consumer = std::string("mcp-healthd@") + host;
    // Rotated refresh tokens go back into the record, re-encrypted.
    auth.onRefreshTokenRotated(
        [&redisRegistry](const registry::ServerSpec& spec, const Secret& token) {
          if (spec.source != registry::Source::kRedis) {
            return;
          }
          auth::Credentials c;
          c.clientId = spec.auth.oauth2.clientId;
          c.clientSecret = spec.auth.oauth2.clientSecret;
          c.privateKeyPem = spec.auth.oauth2.privateKeyPem;
          c.refreshToken = token;
          redisRegistry.storeCredentials(spec.id, spec.auth.oauth2.sealedBlob, std::move(c));
        });
    control::CommandStream commands(*commandsRedis, *redis, loop, loop, redisRegistry, *sched,
                                    opts);
    publisher.onAnswered([&commands](const std::string& id) { commands.answered(id); });
    publisher.setBroadcasts(sched->broadcasts());
    redis->start();
    commandsRedis->start();
    for (const auto& s : cfg.servers) {
      sched->upsertServer(s);
    }
    const size_t configured = cfg.servers.size();
    // The scheduler has its own copy of each; at 10,000 servers these were 12 MB.
    std::vector<registry::ServerSpec>().swap(cfg.servers);
    redisRegistry.start();
    commands.start();
    log::notice("mcp-healthd " MCPHD_VERSION " checking " + std::to_string(configured) +
                " servers");
    service::Monitor monitor(
        loop, loop, [&notifier](const std::string& m) { notifier.notify(m); },
        notifier.watchdogUsec(), [&] { return statusLine(*sched, redis->ready()); });
    // Redis coming and going shows at the next periodic STATUS (its ready listener is taken).
    sinkTap.changed = [&monitor] { monitor.statusChanged(); };
    Reloader reloader{cfg, configIds, *sched, redisRegistry, *http};
    std::unique_ptr<http::HttpServer> metricsServer;
    if (!cfg.metricsListen.empty()) {
      auto handler = [&](const std::string&, const std::string& path) {
        http::ServerResponse r;
        if (path == "/metrics") {
          metrics::Counters c;
          c.redisReconnects = redis->reconnects() + commandsRedis->reconnects();
          c.tokenSuccesses = auth.tokenSuccesses();
          c.tokenFailures = auth.tokenFailures();
          c.commands = commands.commandCounts();
          r.contentType = "text/plain; version=0.0.4; charset=utf-8";
          r.body = metrics.render(c);
        } else if (path == "/healthz") {
          // Answering at all shows the loop runs; the last watchdog tick says how late it ran.
          const int64_t lagMs = monitor.lastLagMs();
          const bool redisUp = redis->ready();
          const bool loopOk = lagMs < 5000;
          r.status = redisUp && loopOk ? 200 : 503;
          r.contentType = "application/json";
          std::string why;
          if (!redisUp) {
            why = "redis is not connected";
          } else if (!loopOk) {
            why = "the event loop ran " + std::to_string(lagMs) + " ms late";
          }
          r.body = std::string("{\"status\":\"") + (r.status == 200 ? "ok" : "unavailable") +
                   "\",\"redis\":\"" + (redisUp ? "connected" : "not connected") +
                   "\",\"loop_lag_ms\":" + std::to_string(lagMs) +
                   ",\"servers\":" + std::to_string(sched->servers()) +
                   (why.empty() ? "" : ",\"reason\":" + json::quote(why)) + "}\n";
        } else {
          r.status = 404;
          r.body = "not found: try /metrics or /healthz\n";
        }
        return r;
      };
      auto server = http::HttpServer::listen(loop, cfg.metricsListen, handler);
      if (!server) {
        // A startup error like a bad config: the operator must pick another address.
        log::error("metrics.listen: " + server.error().message);
        startupFailed = true;
      } else {
        metricsServer = std::move(server.value());
        log::info("metrics: http://" + cfg.metricsListen + "/metrics and /healthz");
      }
    }

    if (!startupFailed) {
      // Readiness does not wait for Redis: results are kept until it is reachable, and STATUS
      // says whether it is.
      monitor.ready();
    }

    bool stopping = false;
    auto hardStop = loop.createTimer();
    auto shutdown = [&](const char* why) {
      if (stopping) {
        return;
      }
      stopping = true;
      log::notice(std::string("stopping (") + why + ")");
      monitor.stopping();
      sched->stop();  // stdio servers of the checks in flight enter their shutdown ladder
      // Results already handed to Redis get up to 1 s to be written, stdio servers get SIGTERM
      // now and SIGKILL after 1 s, the sessions of the watches just dropped are DELETEd; the
      // loop stops when all three are done, at 1.5 s whatever happens.
      auto left = std::make_shared<int>(3);  // shared by the three completions below
      auto oneDone = [&loop, left] {
        if (--*left == 0) {
          loop.stop();
        }
      };
      commandsRedis->shutdown(200, [] {});
      redis->shutdown(1000, oneDone);
      processes.shutdown(kStopKillAfterMs, oneDone);
      prober.whenDetachedDone(oneDone);
      hardStop->start(1500, [&loop] { loop.stop(); });
    };
    if (startupFailed) {
      exitCode = kExitUsage;
      shutdown("startup failed");
    }
    loop::UvSignal sigint(loop, SIGINT, [&] { shutdown("SIGINT"); });
    loop::UvSignal sigterm(loop, SIGTERM, [&] { shutdown("SIGTERM"); });
    loop::UvSignal sighup(loop, SIGHUP, [&] {
      if (stopping) {
        return;
      }
      monitor.reloading(service::reloadingMessage());
      auto r = reloader.reload();
      if (r) {
        log::notice("reloaded " + cfg.path + ": " + r.value());
      } else {
        log::error("reload failed, the running config stays: " + r.error().message);
      }
      monitor.reloaded();
    });
    loop.run();
    // Tear down in dependency order; each destructor closes its handles.
    // Redis first: destroying a connection runs its outstanding reply callbacks (with errors),
    // which reach the publisher, registry, command stream and scheduler, all still alive here.
    commandsRedis.reset();
    redis.reset();
    sched.reset();
    metricsServer.reset();
    hardStop.reset();
    http.reset();
  }
  return closeLoop(loop, exitCode);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], loop::kExecChildFlag) == 0) {
    return loop::runChildSupervisor(argc, argv);
  }
  auto args = parseArgs(argc, argv);
  if (!args) {
    return kExitUsage;
  }
  if (!setLogLevel(args->logLevel)) {
    std::fprintf(stderr,
                 "mcp-healthd: --log-level must be error, warning, notice, info or debug\n");
    return kExitUsage;
  }
  // Writes to a closed Redis or HTTP socket must fail with EPIPE, not kill the process.
  signal(SIGPIPE, SIG_IGN);
  // Decrypted credentials live in this process: no core dump, and no ptrace or /proc/<pid>/mem
  // by other processes of the same user (the unit also sets LimitCORE=0). stdio servers are
  // exec'd, which makes them dumpable again: this is the daemon's memory only.
  if (prctl(PR_SET_DUMPABLE, 0) != 0) {
    std::fprintf(stderr, "mcp-healthd: cannot make the process non-dumpable: %s\n",
                 std::strerror(errno));
    return 1;
  }
  if (sodium_init() < 0) {
    std::fprintf(stderr, "mcp-healthd: libsodium failed to initialise\n");
    return 1;
  }
  auto cfg = config::loadFile(args->configPath);
  if (!cfg) {
    std::fprintf(stderr, "mcp-healthd: %s\n", cfg.error().message.c_str());
    return kExitUsage;
  }
  log::setJson(cfg->logJson);
  std::string redisUrl = args->redisUrl.value_or(cfg->redis.url);
  auto endpoint = redis::parseUrl(redisUrl);
  if (!endpoint) {
    std::fprintf(stderr, "mcp-healthd: %s: %s\n", args->redisUrl ? "--redis" : "redis.url",
                 endpoint.error().message.c_str());
    return kExitUsage;
  }
  if (!cfg->redis.username.empty()) {
    endpoint->username = cfg->redis.username;
  }
  if (!cfg->redis.password.empty()) {
    endpoint->password = cfg->redis.password;
  } else if (args->redisUrl && !endpoint->password.empty()) {
    log::warn(
        "--redis: a password in the URL is visible in the process list; use redis.password_file");
  }
  if (args->checkConfig) {
    std::printf("%s: OK, %zu servers\n", args->configPath.c_str(), cfg->servers.size());
    return 0;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::fprintf(stderr, "mcp-healthd: libcurl failed to initialise\n");
    return 1;
  }
  const curl_version_info_data* cv = curl_version_info(CURLVERSION_NOW);
  if (http::CurlMultiClient::asyncDns()) {
    log::info(std::string("libcurl ") + cv->version + ": resolves names asynchronously");
  } else {
    log::warn(std::string("libcurl ") + cv->version +
              ": resolves names synchronously; a slow DNS server will stall the loop");
  }
  int rc = args->once ? runOnce(cfg.value())
                      : runDaemon(std::move(cfg.value()), std::move(endpoint.value()));
  curl_global_cleanup();
  return rc;
}
