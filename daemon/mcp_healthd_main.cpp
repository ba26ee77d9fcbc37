// mcp-healthd: parses its arguments, loads the config and runs the daemon (src/app) or one round
// of checks (--once).
#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "app/daemon.hpp"
#include "app/once.hpp"
#include "common/log.hpp"
#include "config/config.hpp"
#include "http/curl_multi_client.hpp"
#include "loop/child_supervisor.hpp"
#include "loop/uv_loop.hpp"
#include "redis/redis_url.hpp"

namespace {

using namespace mcphd;

using app::kExitUsage;

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
  if (!cfg->redis.sentinels.empty() && !args->redisUrl) {
    endpoint->sentinels = cfg->redis.sentinels;
    endpoint->masterName = cfg->redis.masterName;
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
  int rc = 0;
  if (args->once) {
    rc = app::runOnce(cfg.value());
  } else {
    loop::UvLoop loop;
    {
      app::Daemon daemon(loop, std::move(cfg.value()), std::move(endpoint.value()));
      rc = daemon.run();
    }
    // After the loop stopped and the daemon is gone, every handle must be closed.
    if (auto closed = loop.close(); !closed) {
      log::error(closed.error().message);
      rc = app::kExitSoftware;
    }
  }
  curl_global_cleanup();
  return rc;
}
