// mcp-healthctl: registers servers in Redis with encrypted credentials, shows their status,
// triggers checks and probes a URL one-off. Composition root: argument parsing and output.
#include <curl/curl.h>
#include <signal.h>
#include <simdjson.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "auth/credentials.hpp"
#include "auth/key_ring.hpp"
#include "auth/oauth2_provider.hpp"
#include "check/server_prober.hpp"
#include "common/file.hpp"
#include "common/json_writer.hpp"
#include "common/log.hpp"
#include "common/secret.hpp"
#include "common/units.hpp"
#include "config/config.hpp"
#include "http/curl_multi_client.hpp"
#include "keyspace/keyspace.hpp"
#include "loop/uv_loop.hpp"
#include "publish/messages.hpp"
#include "redis/redis_url.hpp"
#include "redis/sync_client.hpp"
#include "registry/record.hpp"
#include "registry/record_writes.hpp"
#include "scheduler/scheduler.hpp"

namespace {

using namespace mcphd;
using Clock = std::chrono::steady_clock;

constexpr int kUsage = 2;

struct UsageError {
  std::string message;
};

[[noreturn]] void usage(const std::string& message) { throw UsageError{message}; }

const char* kHelp =
    "usage: mcp-healthctl [--config FILE] [--redis URL] COMMAND ...\n"
    "  keygen                         print a new base64 key for secrets.keys\n"
    "  add ID --url URL [options]     register a server (credentials encrypted), wait for its "
    "first result\n"
    "      [--transport auto|streamable_http|sse] [--watch-tools true|false] [--name N]\n"
    "      [--auth none|bearer|basic|headers|oauth2]\n"
    "      [--oauth2-flow client_credentials|authorization_code] [--token-url U] [--client-id ID]\n"
    "      [--client-secret-file F | --client-secret-env VAR | --client-secret-stdin]\n"
    "      [--private-key-file PEM] [--bearer-token-file F] [--username U --password-file F]\n"
    "      [--secret-header-file 'Name:FILE'] [--scope S] [--audience A] [--resource R]\n"
    "      [--token-endpoint-auth-method M] [--header 'K: V'] [--interval D] [--timeout D] [--wait "
    "D]\n"
    "  edit ID [any option of add] [--rediscover]\n"
    "                                 change a record and re-seal it; stored secrets are kept\n"
    "                                 unless new ones are given; '' removes a field\n"
    "  reseal ID|--all [--yes]        re-seal credentials as v2 with secrets.active (shows each\n"
    "                                 url and token_url and asks first; also rotates keys)\n"
    "  remove ID [--wait D]           unregister a server\n"
    "  list                           a table of every server's status\n"
    "  show ID                        the record (secrets redacted), status and tools\n"
    "  tools ID [--json]              the server's tools\n"
    "  check ID|--all [--wait D]      check now and print the result answering the command\n"
    "  watch [--json]                 print live events until Ctrl-C\n"
    "  probe URL [auth options] [--header 'K: V'] [--timeout D] [--json]\n"
    "                                 check a URL once without Redis; exit 0 when healthy\n"
    "Secrets are read from files, the environment or stdin, never from the command line.\n"
    "--config takes the Redis URL, prefix and keys from the daemon's config.\n";

struct Global {
  std::optional<config::Config> cfg;
  std::string redisUrl = "redis://127.0.0.1:6379/0";
  keyspace::Keyspace keys;
  Secret redisPassword;
  std::string redisUsername;
};

// Options of add/probe; secrets are read at once and kept as Secrets.
struct Options {
  std::map<std::string, std::string> values;
  std::vector<std::string> headers;
  std::vector<std::string> secretHeaderFiles;
  bool json = false;
  bool all = false;
  bool secretStdin = false;
  bool rediscover = false;
  bool yes = false;
  std::vector<std::string> positional;
};

Secret readSecretFile(const std::string& path, const char* what) {
  auto read = readBounded(path, 64 * 1024);
  if (!read) {
    usage(std::string("cannot read ") + what + " file " + path + ": " + std::strerror(errno));
  }
  std::string s = std::move(*read);
  if (s.size() > 64 * 1024) {
    wipeString(s);
    usage(std::string(what) + " file " + path + " is larger than 64 KiB");
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  if (s.empty()) {
    usage(std::string(what) + " file " + path + " is empty");
  }
  Secret out(s);
  wipeString(s);
  return out;
}

Options parseOptions(std::vector<std::string>& args) {
  static const std::set<std::string> kValued = {"--url",
                                                "--transport",
                                                "--name",
                                                "--auth",
                                                "--oauth2-flow",
                                                "--token-url",
                                                "--client-id",
                                                "--client-secret-file",
                                                "--client-secret-env",
                                                "--private-key-file",
                                                "--bearer-token-file",
                                                "--username",
                                                "--password-file",
                                                "--scope",
                                                "--audience",
                                                "--resource",
                                                "--token-endpoint-auth-method",
                                                "--interval",
                                                "--timeout",
                                                "--watch-tools",
                                                "--wait"};
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--json") {
      o.json = true;
    } else if (a == "--all") {
      o.all = true;
    } else if (a == "--client-secret-stdin") {
      o.secretStdin = true;
    } else if (a == "--rediscover") {
      o.rediscover = true;
    } else if (a == "--yes") {
      o.yes = true;
    } else if (a == "--header" || a == "--secret-header-file") {
      if (i + 1 >= args.size()) {
        usage(a + " needs a value");
      }
      (a == "--header" ? o.headers : o.secretHeaderFiles).push_back(args[++i]);
    } else if (a == "--client-secret" || a == "--bearer-token" || a == "--password" ||
               a == "--private-key") {
      usage(a + ": secrets are never taken from the command line; use " + a +
            "-file (or -env/-stdin)");
    } else if (kValued.count(a) != 0) {
      if (i + 1 >= args.size()) {
        usage(a + " needs a value");
      }
      o.values[a] = args[++i];
    } else if (a.rfind("--", 0) == 0) {
      usage("unknown option " + a);
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

std::string opt(const Options& o, const char* name, const std::string& fallback = "") {
  auto it = o.values.find(name);
  return it == o.values.end() ? fallback : it->second;
}

std::chrono::milliseconds waitOf(const Options& o) {
  auto d = parseDuration(opt(o, "--wait", "10s"));
  if (!d) {
    usage("--wait: " + d.error().message);
  }
  return std::chrono::milliseconds(d.value());
}

// Credentials and auth settings from the options (add and probe share them).
struct AuthChoice {
  std::string type = "none";
  auth::Credentials creds;
};

// The secrets given on the command line (files, environment, stdin); nothing else is filled in.
auth::Credentials secretsFromOptions(const Options& o) {
  auth::Credentials c;
  c.clientId = opt(o, "--client-id");
  int secretSources = (o.values.count("--client-secret-file") ? 1 : 0) +
                      (o.values.count("--client-secret-env") ? 1 : 0) + (o.secretStdin ? 1 : 0);
  if (secretSources > 1) {
    usage(
        "give the client secret one way: --client-secret-file, --client-secret-env or "
        "--client-secret-stdin");
  }
  if (o.values.count("--client-secret-file")) {
    c.clientSecret = readSecretFile(opt(o, "--client-secret-file"), "client secret");
  } else if (o.values.count("--client-secret-env")) {
    const char* v = std::getenv(opt(o, "--client-secret-env").c_str());
    if (v == nullptr || *v == '\0') {
      usage("environment variable " + opt(o, "--client-secret-env") + " is not set");
    }
    c.clientSecret = Secret(v);
  } else if (o.secretStdin) {
    std::string line;
    std::getline(std::cin, line);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
      line.pop_back();
    }
    if (line.empty()) {
      usage("--client-secret-stdin: read an empty line");
    }
    c.clientSecret = Secret(line);
    wipeString(line);
  }
  if (o.values.count("--private-key-file")) {
    c.privateKeyPem = readSecretFile(opt(o, "--private-key-file"), "private key");
  }
  if (o.values.count("--bearer-token-file")) {
    c.bearerToken = readSecretFile(opt(o, "--bearer-token-file"), "bearer token");
  }
  c.username = opt(o, "--username");
  if (o.values.count("--password-file")) {
    c.password = readSecretFile(opt(o, "--password-file"), "password");
  }
  for (const auto& spec : o.secretHeaderFiles) {
    size_t colon = spec.find(':');
    if (colon == std::string::npos || colon == 0) {
      usage("--secret-header-file takes 'Name:FILE'");
    }
    c.headers.emplace_back(spec.substr(0, colon),
                           readSecretFile(spec.substr(colon + 1), "secret header"));
  }
  return c;
}

void checkAuthType(const std::string& type) {
  static const std::set<std::string> kTypes = {"none", "bearer", "basic", "headers", "oauth2"};
  if (kTypes.count(type) == 0) {
    usage("--auth must be none, bearer, basic, headers or oauth2");
  }
}

AuthChoice authFromOptions(const Options& o) {
  AuthChoice a;
  a.type = opt(o, "--auth", "none");
  checkAuthType(a.type);
  a.creds = secretsFromOptions(o);
  if (a.type == "bearer" && a.creds.bearerToken.empty()) {
    usage("--auth bearer needs --bearer-token-file");
  }
  if (a.type == "basic" && (a.creds.username.empty() || a.creds.password.empty())) {
    usage("--auth basic needs --username and --password-file");
  }
  if (a.type == "headers" && a.creds.headers.empty()) {
    usage("--auth headers needs --secret-header-file 'Name:FILE'");
  }
  if (a.type == "oauth2" && a.creds.clientId.empty() &&
      opt(o, "--oauth2-flow") != "authorization_code") {
    usage("--auth oauth2 needs --client-id and a client secret or --private-key-file");
  }
  return a;
}

// --header 'Name: value' options as a record's `headers` field.
std::string headersJson(const std::vector<std::string>& headers) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& h : headers) {
    size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      usage("--header takes 'Name: value'");
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' ') == std::string::npos
                       ? value.size()
                       : value.find_first_not_of(' '));
    pairs.emplace_back(h.substr(0, colon), std::move(value));
  }
  return registry::headersJson(pairs);
}

redis::SyncClient connectRedis(const Global& g) {
  auto ep = redis::parseUrl(g.redisUrl);
  if (!ep) {
    usage("--redis: " + ep.error().message);
  }
  if (!g.redisUsername.empty()) {
    ep->username = g.redisUsername;
  }
  if (!g.redisPassword.empty()) {
    ep->password = g.redisPassword;
  }
  auto c = redis::SyncClient::connect(ep.value(), std::chrono::seconds(5));
  if (!c) {
    std::fprintf(stderr, "mcp-healthctl: %s\n", c.error().message.c_str());
    std::exit(1);
  }
  return std::move(c.value());
}

[[noreturn]] void redisFailed(const Error& e) {
  std::fprintf(stderr, "mcp-healthctl: Redis: %s\n", e.message.c_str());
  std::exit(1);
}

// Field `key` of a JSON text ("" when absent or not a string/number).
std::string jsonField(simdjson::dom::element e, const char* key) {
  simdjson::dom::element v;
  if (e[key].get(v) != simdjson::SUCCESS || v.is_null()) {
    return "";
  }
  if (v.is_string()) {
    return std::string(std::string_view(v));
  }
  return simdjson::minify(v);
}

struct Parsed {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
  explicit Parsed(const std::string& s) { ok = parser.parse(s).get(root) == simdjson::SUCCESS; }
};

bool answers(const std::string& payload, const std::string& commandId) {
  Parsed p(payload);
  if (!p.ok) {
    return false;
  }
  simdjson::dom::array ids;
  if (p.root["command_ids"].get_array().get(ids) == simdjson::SUCCESS) {
    for (auto id : ids) {
      if (std::string_view(id) == commandId) {
        return true;
      }
    }
  }
  return jsonField(p.root, "command_id") == commandId;
}

void printHealthLine(const std::string& payload) {
  Parsed p(payload);
  if (!p.ok) {
    std::printf("%s\n", payload.c_str());
    return;
  }
  std::string type = jsonField(p.root, "type");
  std::string id = jsonField(p.root, "server_id");
  if (type == "health") {
    std::string line =
        jsonField(p.root, "checked_at") + "  " + id + "  " + jsonField(p.root, "status");
    if (jsonField(p.root, "changed") == "true") {
      line += " (was " + jsonField(p.root, "previous_status") + ")";
    }
    line += "  " + jsonField(p.root["latency_ms"], "total") + " ms";
    std::string tools = jsonField(p.root, "tool_count");
    if (!tools.empty()) {
      line += "  " + tools + " tools";
    }
    simdjson::dom::element err;
    if (p.root["error"].get(err) == simdjson::SUCCESS && !err.is_null()) {
      line += "  " + jsonField(err, "kind") + ": " + jsonField(err, "message");
    }
    std::printf("%s\n", line.c_str());
  } else if (type == "tools") {
    std::printf("%s  %s  tools: +%s -%s ~%s\n", jsonField(p.root, "discovered_at").c_str(),
                id.c_str(), jsonField(p.root, "added").c_str(),
                jsonField(p.root, "removed").c_str(), jsonField(p.root, "changed").c_str());
  } else if (type == "removed") {
    std::printf("%s  %s  removed\n", jsonField(p.root, "removed_at").c_str(), id.c_str());
  } else if (type == "command_error") {
    std::printf("%s  command %s failed: %s\n", jsonField(p.root, "at").c_str(),
                jsonField(p.root, "command_id").c_str(), jsonField(p.root, "error").c_str());
  } else {
    std::printf("%s\n", payload.c_str());
  }
  std::fflush(stdout);
}

// Sends a command and waits for the messages answering it. Returns the answers.
std::vector<std::string> sendAndWait(const Global& g, const std::vector<std::string>& fields,
                                     size_t expected, std::chrono::milliseconds wait,
                                     std::string* commandIdOut = nullptr, bool* doneOut = nullptr) {
  redis::SyncClient sub = connectRedis(g);
  if (auto r = sub.command({"SUBSCRIBE", g.keys.healthChannel()}); !r) {
    redisFailed(r.error());
  }
  redis::SyncClient c = connectRedis(g);
  std::vector<std::string> argv = {"XADD", g.keys.commands(), "MAXLEN", "~", "10000", "*"};
  argv.insert(argv.end(), fields.begin(), fields.end());
  auto id = c.command(argv);
  if (!id) {
    redisFailed(id.error());
  }
  if (commandIdOut != nullptr) {
    *commandIdOut = id->str;
  }
  std::vector<std::string> out;
  auto deadline = Clock::now() + wait;
  while (out.size() < expected) {
    auto m = sub.nextMessage(deadline);
    if (!m) {
      redisFailed(m.error());
    }
    if (!m.value()) {
      break;
    }
    if (answers(m.value()->second, id->str)) {
      out.push_back(m.value()->second);
      Parsed last(out.back());
      const std::string type = last.ok ? jsonField(last.root, "type") : "";
      if (type == "command_error") {
        break;
      }
      if (type == "command_done") {
        out.pop_back();  // every server has answered (check --all): the end, not an answer
        if (doneOut != nullptr) {
          *doneOut = true;
        }
        break;
      }
    }
  }
  return out;
}

int exitFor(const std::vector<std::string>& answers, size_t expected) {
  if (answers.size() < expected) {
    std::fprintf(stderr,
                 "mcp-healthctl: no answer in time (is mcp-healthd running against this Redis?)\n");
    return 1;
  }
  for (const auto& a : answers) {
    Parsed p(a);
    if (!p.ok || jsonField(p.root, "status") != "healthy") {
      return 1;
    }
  }
  return 0;
}

// The record fields that the options of add and edit set. An option given with an empty value
// ("--token-url ''") removes the field (edit).
const std::vector<std::pair<const char*, const char*>> kFieldOptions = {
    {"--url", "url"},
    {"--transport", "transport"},
    {"--watch-tools", "watch_tools"},
    {"--name", "name"},
    {"--auth", "auth_type"},
    {"--oauth2-flow", "oauth2_flow"},
    {"--token-url", "token_url"},
    {"--scope", "scopes"},
    {"--audience", "audience"},
    {"--resource", "resource"},
    {"--token-endpoint-auth-method", "token_endpoint_auth_method"},
    {"--interval", "interval"},
    {"--timeout", "timeout"}};

void checkFieldOptions(const Options& o) {
  const std::string transport = opt(o, "--transport");
  if (transport == "stdio") {
    usage(
        "stdio servers are declared in the daemon's config file (servers[].command); the "
        "registry in Redis cannot start processes");
  }
  if (!transport.empty() && transport != "auto" && transport != "streamable_http" &&
      transport != "sse") {
    usage("--transport must be auto, streamable_http or sse");
  }
  const std::string watch = opt(o, "--watch-tools");
  if (!watch.empty() && watch != "true" && watch != "false") {
    usage("--watch-tools must be true or false");
  }
  if (o.values.count("--auth") != 0) {
    checkAuthType(opt(o, "--auth"));
  }
}

void applyFieldOptions(const Options& o, registry::RecordFields& fields) {
  for (const auto& [option, field] : kFieldOptions) {
    auto it = o.values.find(option);
    if (it == o.values.end()) {
      continue;
    }
    if (it->second.empty()) {
      fields.erase(field);
    } else {
      fields[field] = it->second;
    }
  }
  if (!o.headers.empty()) {
    fields["headers"] = headersJson(o.headers);
  }
  char now[32];
  std::time_t t = std::time(nullptr);
  std::strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  fields["updated_at"] = now;
}

// OAuth discovery as the daemon does it (the server's 401 challenge, its protected resource
// metadata, the authorization server's metadata with the issuer and https rules), run once so the
// record can hold the token endpoint: the daemon then sends the secret there and nowhere else.
// Nothing secret is sent. Exits 1 with the reason when discovery fails.
std::string discoverTokenEndpoint(const Global& g, const std::string& id,
                                  const registry::RecordFields& fields) {
  registry::ServerSpec spec = g.cfg ? g.cfg->defaults : registry::ServerSpec{};
  spec.id = id;
  spec.url = fields.at("url");
  spec.auth = registry::AuthSpec{};
  spec.auth.type = registry::AuthType::kOAuth2;
  if (auto it = fields.find("headers"); it != fields.end()) {
    spec.headers.clear();  // the record's own; parsed for the request below
    Parsed p(it->second);
    simdjson::dom::object obj;
    if (p.ok && p.root.get(obj) == simdjson::SUCCESS) {
      for (auto [k, v] : obj) {
        std::string_view value;
        if (v.get_string().get(value) == simdjson::SUCCESS) {
          spec.headers.emplace_back(std::string(k), std::string(value));
        }
      }
    }
  }
  std::string found;
  std::string issuer;
  std::string failure;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  {
    loop::UvLoop loop;
    {
      http::CurlMultiClient http(loop);
      if (g.cfg) {
        http.setEgressPolicy(g.cfg->egress);
      }
      auth::OAuth2Provider auth(http, loop);
      std::unique_ptr<auth::Pending> discovery;
      http::Request req;
      req.url = spec.url;
      for (const auto& [name, value] : spec.headers) {
        req.headers.push_back(name + ": " + value);
      }
      req.headers.push_back("Content-Type: application/json");
      req.headers.push_back("Accept: application/json, text/event-stream");
      req.body =
          R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
          R"("capabilities":{},"clientInfo":{"name":"mcp-healthctl","version":")" MCPHD_VERSION
          R"("}}})";
      req.timeoutMs = spec.timeoutMs;
      req.connectTimeoutMs = spec.connectTimeoutMs;
      req.maxBody = 1024 * 1024;
      auto call = http.send(std::move(req), [&](http::Response r) {
        if (r.failure != http::Failure::kNone) {
          failure = spec.url + " is unreachable: " + r.failureMessage;
          return;
        }
        // Without a 401 challenge the well-known locations are tried all the same.
        discovery = auth.discover(spec, r.status == 401 ? r.wwwAuthenticate : "Bearer",
                                  [&](Result<void> d) {
                                    if (!d) {
                                      failure = d.error().message;
                                      return;
                                    }
                                    found = auth.discoveredTokenEndpoint(spec);
                                    issuer = auth.discoveredIssuer(spec);
                                  });
      });
      loop.run();
      call.reset();
      discovery.reset();
    }
    (void)loop.close();
  }
  curl_global_cleanup();
  if (found.empty()) {
    std::fprintf(stderr,
                 "mcp-healthctl: OAuth discovery for %s failed: %s (give --token-url to name the "
                 "token endpoint yourself)\n",
                 spec.url.c_str(), failure.empty() ? "no token endpoint found" : failure.c_str());
    std::exit(1);
  }
  std::fprintf(stderr, "token_url: discovered %s (issuer %s)\n", found.c_str(), issuer.c_str());
  return found;
}

// Seals `creds` into `fields` (bound to them) when the record has any, and checks the record the
// daemon will read. Usage error when it would not be valid.
void sealAndCheck(const Global& g, const std::string& id, registry::RecordFields& fields,
                  const auth::Credentials& creds, bool haveCreds) {
  fields.erase("credentials");
  if (haveCreds) {
    if (!g.cfg || g.cfg->keys.empty()) {
      usage("credentials need the daemon's keys: pass --config with its secrets section");
    }
    auto blob = registry::sealRecord(id, fields, creds, g.cfg->keys);
    if (!blob) {
      usage(blob.error().message);
    }
    fields["credentials"] = blob.value();
  }
  auth::KeyRing none;
  registry::ServerSpec spec = registry::parseRecord(
      id, fields, g.cfg ? g.cfg->defaults : registry::ServerSpec{}, g.cfg ? g.cfg->keys : none);
  if (!spec.invalidReason.empty()) {
    usage(spec.invalidReason);
  }
}

// Replaces the record with `fields` and registers the id, in one transaction; then asks the
// daemon to read it and prints the answer.
int writeRecord(const Global& g, const std::string& id, const registry::RecordFields& fields,
                std::chrono::milliseconds wait) {
  redis::SyncClient c = connectRedis(g);
  if (auto r = c.transaction(registry::putRecord(g.keys, id, fields)); !r) {
    redisFailed(r.error());
  }
  auto answers = sendAndWait(g, {"op", "upsert", "server_id", id}, 1, wait);
  for (const auto& a2 : answers) {
    std::printf("%s\n", a2.c_str());
  }
  return exitFor(answers, 1);
}

int cmdAdd(const Global& g, std::vector<std::string>& args) {
  // Every argument is checked before anything is written.
  Options o = parseOptions(args);
  if (o.positional.size() != 1) {
    usage("add takes one server ID");
  }
  const std::string id = o.positional[0];
  if (!registry::isServerId(id)) {
    usage("server id must match [A-Za-z0-9._-]{1,128}");
  }
  const auto wait = waitOf(o);
  std::string url = opt(o, "--url");
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    usage("add needs --url http(s)://...");
  }
  checkFieldOptions(o);
  AuthChoice a = authFromOptions(o);
  registry::RecordFields fields = {{"url", url}, {"auth_type", a.type}, {"enabled", "true"}};
  if (a.type == "oauth2") {
    fields["oauth2_flow"] = opt(o, "--oauth2-flow", "client_credentials");
  }
  applyFieldOptions(o, fields);
  if (a.type != "oauth2") {
    fields.erase("oauth2_flow");
  }
  if (a.type == "oauth2" && fields.count("token_url") == 0) {
    fields["token_url"] = discoverTokenEndpoint(g, id, fields);
  }
  sealAndCheck(g, id, fields, a.creds, a.type != "none");
  return writeRecord(g, id, fields, wait);
}

registry::RecordFields readRecord(redis::SyncClient& c, const Global& g, const std::string& id) {
  auto r = c.command({"HGETALL", g.keys.server(id)});
  if (!r) {
    redisFailed(r.error());
  }
  if (r->type != redis::Reply::Type::kArray) {
    std::fprintf(stderr, "mcp-healthctl: %s is not a hash: %s\n", g.keys.server(id).c_str(),
                 r->str.c_str());
    std::exit(1);
  }
  registry::RecordFields f;
  for (size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    f[r->elements[i].str] = r->elements[i + 1].str;
  }
  return f;
}

// Merges newly given secrets over stored ones: editing never requires re-entering a secret.
void mergeSecrets(auth::Credentials& stored, auth::Credentials given) {
  if (!given.clientId.empty()) {
    stored.clientId = given.clientId;
  }
  auto take = [](Secret& into, Secret& from) {
    if (!from.empty()) {
      into = std::move(from);
    }
  };
  take(stored.clientSecret, given.clientSecret);
  take(stored.privateKeyPem, given.privateKeyPem);
  take(stored.bearerToken, given.bearerToken);
  take(stored.password, given.password);
  if (!given.username.empty()) {
    stored.username = given.username;
  }
  for (auto& header : given.headers) {
    const std::string& name = header.first;
    auto it = std::find_if(stored.headers.begin(), stored.headers.end(),
                           [&name](const auto& h) { return h.first == name; });
    if (it != stored.headers.end()) {
      it->second = std::move(header.second);
    } else {
      stored.headers.emplace_back(name, std::move(header.second));
    }
  }
}

bool hasSecrets(const auth::Credentials& c) {
  return !c.clientId.empty() || !c.clientSecret.empty() || !c.privateKeyPem.empty() ||
         !c.bearerToken.empty() || !c.refreshToken.empty() || !c.username.empty() ||
         !c.password.empty() || !c.headers.empty();
}

// Asks on the terminal (stdin); true for "y" or "yes".
bool confirm(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  std::string line;
  if (!std::getline(std::cin, line)) {
    return false;
  }
  return line == "y" || line == "Y" || line == "yes";
}

// The bound fields of a record as "name=value" lines, for people to check.
std::string describeBound(const registry::RecordFields& fields) {
  std::string out;
  for (const char* name : auth::kBoundFieldNames) {
    auto it = fields.find(name);
    if (it != fields.end() && !it->second.empty()) {
      out += std::string("  ") + name + ": " + it->second + "\n";
    }
  }
  return out.empty() ? "  (no destination fields)\n" : out;
}

// Puts back the sealed value of every bound field that this edit does not set: whoever can write
// to Redis may have changed them, and re-sealing must not bless that. Says what it restores.
void restoreSealed(registry::RecordFields& fields, const auth::BoundFields& sealed,
                   const Options& o) {
  auto setByOptions = [&](const std::string& field) {
    if (field == "headers") {
      return !o.headers.empty();
    }
    for (const auto& [option, name] : kFieldOptions) {
      if (field == name) {
        return o.values.count(option) != 0;
      }
    }
    return false;
  };
  for (const char* name : auth::kBoundFieldNames) {
    if (setByOptions(name)) {
      continue;
    }
    std::optional<std::string> want;
    if (std::string_view(name) == "headers") {
      if (sealed.headers) {
        want = registry::headersJson(*sealed.headers);
      }
    } else if (auto it = sealed.values.find(name); it != sealed.values.end()) {
      want = it->second;
    }
    auto have = fields.find(name);
    const bool present = have != fields.end() && !have->second.empty();
    if (!want && !present) {
      continue;
    }
    if (want && present && *want == have->second) {
      continue;
    }
    if (std::string_view(name) == "headers" && want && present) {
      // Compared as parsed objects, like the daemon does: only a real difference is restored.
      registry::RecordFields a = {{"headers", *want}};
      registry::RecordFields b = {{"headers", have->second}};
      auto pa = registry::boundFieldsOf(a);
      auto pb = registry::boundFieldsOf(b);
      if (pa && pb && pa->headers == pb->headers) {
        continue;
      }
    }
    std::fprintf(stderr, "%s: restoring the sealed value %s (the record in Redis said %s)\n", name,
                 want ? want->c_str() : "(none)", present ? have->second.c_str() : "(none)");
    if (want) {
      fields[name] = *want;
    } else {
      fields.erase(name);
    }
  }
}

// Replaces the record by `fields` only while its credentials are still `expected` (the blob this
// command read): a blob written meanwhile (a rotated refresh token, a login, another edit) is
// never overwritten. Then asks the daemon to read it and prints the answer.
int writeRecordIfUnchanged(const Global& g, const std::string& id,
                           const registry::RecordFields& fields, const std::string& expected,
                           std::chrono::milliseconds wait) {
  redis::SyncClient c = connectRedis(g);
  auto r = c.command(registry::putRecordIfUnchanged(g.keys, id, fields, expected));
  if (!r) {
    redisFailed(r.error());
  }
  if (r->type != redis::Reply::Type::kInteger || r->integer != 1) {
    std::fprintf(stderr,
                 "mcp-healthctl: the record of %s changed while it was being edited (a rotated "
                 "token or another edit); nothing was written, run the edit again\n",
                 id.c_str());
    return 1;
  }
  auto answers = sendAndWait(g, {"op", "upsert", "server_id", id}, 1, wait);
  for (const auto& a2 : answers) {
    std::printf("%s\n", a2.c_str());
  }
  return exitFor(answers, 1);
}

int cmdEdit(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  if (o.positional.size() != 1) {
    usage("edit takes one server ID");
  }
  const std::string id = o.positional[0];
  if (!registry::isServerId(id)) {
    usage("server id must match [A-Za-z0-9._-]{1,128}");
  }
  const auto wait = waitOf(o);
  checkFieldOptions(o);
  auth::Credentials given = secretsFromOptions(o);
  redis::SyncClient c = connectRedis(g);
  registry::RecordFields fields = readRecord(c, g, id);
  if (fields.empty()) {
    usage("no record " + g.keys.server(id) + " in Redis (register it with add)");
  }
  auth::Credentials stored;
  int version = 0;
  const std::string readBlob = fields.count("credentials") != 0 ? fields["credentials"] : "";
  if (fields.count("credentials") != 0) {
    if (!g.cfg || g.cfg->keys.empty()) {
      usage(
          "the record's credentials need the daemon's keys: pass --config with its secrets "
          "section");
    }
    auto opened = registry::openRecordCredentials(id, fields, g.cfg->keys, &version);
    if (!opened) {
      std::fprintf(stderr, "mcp-healthctl: record %s: %s\n", id.c_str(),
                   opened.error().message.c_str());
      return 1;
    }
    stored = std::move(opened.value());
  }
  const registry::RecordFields before = fields;
  if (stored.bound) {
    restoreSealed(fields, *stored.bound, o);
  } else if (!readBlob.empty()) {
    // A v1 blob binds nothing: whoever can write to Redis may have changed these already.
    std::fprintf(stderr, "%s: v%d credentials, not bound to a destination; the record says:\n%s",
                 id.c_str(), version, describeBound(fields).c_str());
    if (!o.yes && !confirm("Seal " + id + "'s credentials to these (and the options given)?")) {
      std::fprintf(stderr, "%s: left as it is\n", id.c_str());
      return 1;
    }
  }
  applyFieldOptions(o, fields);
  const bool oauth2 = fields.count("auth_type") != 0 && fields["auth_type"] == "oauth2";
  if (oauth2 && o.values.count("--token-url") == 0 &&
      (o.rediscover || fields.count("token_url") == 0)) {
    fields["token_url"] = discoverTokenEndpoint(g, id, fields);
  } else if (o.rediscover) {
    usage("--rediscover is for records with auth_type oauth2 (and without --token-url)");
  }
  mergeSecrets(stored, std::move(given));
  const bool authNone = fields.count("auth_type") == 0 || fields["auth_type"] == "none";
  if (authNone) {
    stored = auth::Credentials{};  // no auth: the old secrets are dropped, not kept sealed
  }
  for (const char* f : auth::kBoundFieldNames) {
    auto b = before.find(f);
    auto a = fields.find(f);
    std::string was = b == before.end() || b->second.empty() ? "(none)" : b->second;
    std::string now = a == fields.end() || a->second.empty() ? "(none)" : a->second;
    if (was != now) {
      std::fprintf(stderr, "%s: %s -> %s\n", f, was.c_str(), now.c_str());
    }
  }
  sealAndCheck(g, id, fields, stored, !authNone && hasSecrets(stored));
  return writeRecordIfUnchanged(g, id, fields, readBlob, wait);
}

int cmdReseal(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  const bool yes = o.yes;
  if (o.all == !o.positional.empty() || o.positional.size() > 1) {
    usage("reseal takes one server ID or --all");
  }
  if (!g.cfg || g.cfg->keys.empty()) {
    usage("reseal needs the daemon's keys: pass --config with its secrets section");
  }
  redis::SyncClient c = connectRedis(g);
  std::vector<std::string> ids = o.positional;
  if (o.all) {
    auto m = c.command({"SMEMBERS", g.keys.servers()});
    if (!m) {
      redisFailed(m.error());
    }
    for (const auto& e : m->elements) {
      ids.push_back(e.str);
    }
    std::sort(ids.begin(), ids.end());
  }
  // Written only over the blob that was read: a record changed meanwhile is left alone.
  int failures = 0;
  size_t resealed = 0;
  for (const auto& id : ids) {
    if (!registry::isServerId(id)) {
      continue;
    }
    registry::RecordFields fields = readRecord(c, g, id);
    auto blob = fields.find("credentials");
    if (blob == fields.end() || blob->second.empty()) {
      std::fprintf(stderr, "%s: no credentials, nothing to re-seal\n", id.c_str());
      continue;
    }
    int version = 0;
    auto creds = registry::openRecordCredentials(id, fields, g.cfg->keys, &version);
    if (!creds) {
      std::fprintf(stderr, "%s: %s\n", id.c_str(), creds.error().message.c_str());
      ++failures;
      continue;
    }
    if (creds->bound) {
      // A v2 record whose clear fields differ from its sealed copy is not re-sealed here: edit
      // restores the sealed values (or sets new ones the operator names).
      registry::ServerSpec check = registry::parseRecord(id, fields, g.cfg->defaults, g.cfg->keys,
                                                         registry::RecordOptions{true});
      if (check.invalidReason.find("differ") != std::string::npos) {
        std::fprintf(stderr, "%s: %s\n", id.c_str(), check.invalidReason.c_str());
        ++failures;
        continue;
      }
    }
    // A v1 record may already have been tampered with: whoever confirms vouches for these.
    std::fprintf(stderr, "%s: v%d, sealed with key %s; its destination:\n%s", id.c_str(), version,
                 blob->second.substr(3, blob->second.find('.', 3) - 3).c_str(),
                 describeBound(fields).c_str());
    if (!yes && !confirm("Re-seal " + id + " bound to these?")) {
      std::fprintf(stderr, "%s: left as it is\n", id.c_str());
      continue;
    }
    const std::string old = blob->second;
    registry::RecordFields clear = fields;
    clear.erase("credentials");
    auto sealed = registry::sealRecord(id, clear, std::move(creds.value()), g.cfg->keys);
    if (!sealed) {
      std::fprintf(stderr, "%s: %s\n", id.c_str(), sealed.error().message.c_str());
      ++failures;
      continue;
    }
    auto r = c.command(registry::replaceCredentials(g.keys, id, old, sealed.value()));
    if (!r) {
      redisFailed(r.error());
    }
    if (r->type != redis::Reply::Type::kInteger || r->integer != 1) {
      std::fprintf(stderr, "%s: the record changed while re-sealing; run reseal again\n",
                   id.c_str());
      ++failures;
      continue;
    }
    (void)c.command(
        {"XADD", g.keys.commands(), "MAXLEN", "~", "10000", "*", "op", "upsert", "server_id", id});
    std::printf("%s: re-sealed with key %s\n", id.c_str(), g.cfg->keys.activeId().c_str());
    ++resealed;
  }
  std::printf("%zu re-sealed, %d failed\n", resealed, failures);
  return failures == 0 ? 0 : 1;
}

int cmdRemove(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  if (o.positional.size() != 1) {
    usage("remove takes one server ID");
  }
  auto answers = sendAndWait(g, {"op", "remove", "server_id", o.positional[0]}, 1, waitOf(o));
  for (const auto& a : answers) {
    printHealthLine(a);
  }
  if (answers.empty()) {
    std::fprintf(stderr,
                 "mcp-healthctl: no answer in time (is mcp-healthd running against this Redis?)\n");
    return 1;
  }
  return Parsed(answers[0]).ok && jsonField(Parsed(answers[0]).root, "type") == "removed" ? 0 : 1;
}

std::string ago(const std::string& rfc3339) {
  if (rfc3339.size() < 19) {
    return "-";
  }
  struct tm tm {};
  if (strptime(rfc3339.substr(0, 19).c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr) {
    return rfc3339;
  }
  long secs = static_cast<long>(std::time(nullptr) - timegm(&tm));
  if (secs < 0) {
    secs = 0;
  }
  if (secs < 120) {
    return std::to_string(secs) + "s ago";
  }
  if (secs < 7200) {
    return std::to_string(secs / 60) + "m ago";
  }
  return std::to_string(secs / 3600) + "h ago";
}

int cmdList(const Global& g) {
  redis::SyncClient c = connectRedis(g);
  auto status = c.command({"HGETALL", g.keys.status()});
  auto members = c.command({"SMEMBERS", g.keys.servers()});
  if (!status) {
    redisFailed(status.error());
  }
  if (!members) {
    redisFailed(members.error());
  }
  std::map<std::string, std::string> rows;
  for (const auto& m : members->elements) {
    rows[m.str] = "";
  }
  for (size_t i = 0; i + 1 < status->elements.size(); i += 2) {
    rows[status->elements[i].str] = status->elements[i + 1].str;
  }
  std::printf("%-24s %-10s %-9s %-10s %9s %6s  %s\n", "ID", "STATUS", "SINCE", "CHECKED", "LATENCY",
              "TOOLS", "ERROR");
  for (const auto& [id, json] : rows) {
    Parsed p(json);
    if (!p.ok) {
      std::printf("%-24s %-10s\n", id.c_str(), "unknown");
      continue;
    }
    std::string err;
    simdjson::dom::element e;
    if (p.root["error"].get(e) == simdjson::SUCCESS && !e.is_null()) {
      err = jsonField(e, "kind") + ": " + jsonField(e, "message");
    }
    std::string tools = jsonField(p.root, "tool_count");
    std::printf("%-24s %-10s %-9s %-10s %9s %6s  %s\n", id.c_str(),
                jsonField(p.root, "status").c_str(), ago(jsonField(p.root, "status_since")).c_str(),
                ago(jsonField(p.root, "checked_at")).c_str(),
                (jsonField(p.root["latency_ms"], "total") + "ms").c_str(),
                tools.empty() ? "-" : tools.c_str(), err.substr(0, 100).c_str());
  }
  return 0;
}

int cmdShow(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  if (o.positional.size() != 1) {
    usage("show takes one server ID");
  }
  const std::string& id = o.positional[0];
  redis::SyncClient c = connectRedis(g);
  auto record = c.command({"HGETALL", g.keys.server(id)});
  if (!record) {
    redisFailed(record.error());
  }
  if (record->elements.empty()) {
    std::printf("record: none in Redis (a config-file server, or not registered)\n");
  } else {
    std::printf("record %s:\n", g.keys.server(id).c_str());
    for (size_t i = 0; i + 1 < record->elements.size(); i += 2) {
      std::string value = record->elements[i + 1].str;
      if (record->elements[i].str == "credentials") {
        std::string keyId = value.size() > 3 ? value.substr(3, value.find('.', 3) - 3) : "?";
        value = "<encrypted, key " + keyId + ", " + std::to_string(value.size()) + " bytes>";
      }
      std::printf("  %-28s %s\n", record->elements[i].str.c_str(), value.c_str());
    }
  }
  auto status = c.command({"HGET", g.keys.status(), id});
  std::printf("status: %s\n", status && status->type == redis::Reply::Type::kString
                                  ? status->str.c_str()
                                  : "none yet");
  auto tools = c.command({"GET", g.keys.tools(id)});
  if (tools && tools->type == redis::Reply::Type::kString) {
    Parsed p(tools->str);
    simdjson::dom::array arr;
    if (p.ok && p.root["tools"].get_array().get(arr) == simdjson::SUCCESS) {
      std::printf("tools (%zu):", arr.size());
      for (auto t : arr) {
        std::printf(" %s", jsonField(t, "name").c_str());
      }
      std::printf("\n");
    }
  }
  return 0;
}

int cmdTools(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  if (o.positional.size() != 1) {
    usage("tools takes one server ID");
  }
  redis::SyncClient c = connectRedis(g);
  auto tools = c.command({"GET", g.keys.tools(o.positional[0])});
  if (!tools) {
    redisFailed(tools.error());
  }
  if (tools->type != redis::Reply::Type::kString) {
    std::fprintf(stderr, "mcp-healthctl: no tools known for %s yet\n", o.positional[0].c_str());
    return 1;
  }
  if (o.json) {
    std::printf("%s\n", tools->str.c_str());
    return 0;
  }
  Parsed p(tools->str);
  simdjson::dom::array arr;
  if (!p.ok || p.root["tools"].get_array().get(arr) != simdjson::SUCCESS) {
    std::fprintf(stderr, "mcp-healthctl: the stored tool list is not valid\n");
    return 1;
  }
  for (auto t : arr) {
    std::string desc = jsonField(t, "description");
    std::replace(desc.begin(), desc.end(), '\n', ' ');
    std::printf("%-40s %s\n", jsonField(t, "name").c_str(), desc.substr(0, 100).c_str());
  }
  return 0;
}

int cmdCheck(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  if (o.all == !o.positional.empty() || o.positional.size() > 1) {
    usage("check takes one server ID or --all");
  }
  // --all: every health message answering it, until its command_done says all servers have one.
  const size_t expected = o.all ? SIZE_MAX : 1;
  bool done = false;
  auto answers = sendAndWait(g, {"op", "check", "server_id", o.all ? "*" : o.positional[0]},
                             expected, waitOf(o), nullptr, &done);
  for (const auto& a : answers) {
    std::printf("%s\n", a.c_str());
  }
  return exitFor(answers, o.all && done ? answers.size() : expected);
}

volatile sig_atomic_t g_stop = 0;

int cmdWatch(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  redis::SyncClient sub = connectRedis(g);
  if (auto r = sub.command({"SUBSCRIBE", g.keys.healthChannel(), g.keys.toolsChannel()}); !r) {
    redisFailed(r.error());
  }
  signal(SIGINT, [](int) { g_stop = 1; });
  signal(SIGTERM, [](int) { g_stop = 1; });
  while (g_stop == 0) {
    auto m = sub.nextMessage(Clock::now() + std::chrono::milliseconds(250));
    if (!m) {
      redisFailed(m.error());
    }
    if (m.value()) {
      if (o.json) {
        std::printf("%s\n", m.value()->second.c_str());
        std::fflush(stdout);
      } else {
        printHealthLine(m.value()->second);
      }
    }
  }
  return 0;
}

// The MCP conformance suite runs `probe URL` with the scenario's credentials in
// MCP_CONFORMANCE_CONTEXT (JSON, from the environment: never argv).
void conformanceContext(Options& o, AuthChoice& a) {
  const char* ctx = std::getenv("MCP_CONFORMANCE_CONTEXT");
  if (ctx == nullptr || o.values.count("--auth") != 0) {
    return;
  }
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(std::string_view(ctx)).get(obj) != simdjson::SUCCESS) {
    usage("MCP_CONFORMANCE_CONTEXT is not a JSON object");
  }
  std::string_view v;
  if (obj["client_id"].get_string().get(v) == simdjson::SUCCESS) {
    a.type = "oauth2";
    a.creds.clientId = std::string(v);
  }
  if (obj["client_secret"].get_string().get(v) == simdjson::SUCCESS) {
    a.creds.clientSecret = Secret(std::string(v));
  }
  if (obj["private_key_pem"].get_string().get(v) == simdjson::SUCCESS) {
    a.creds.privateKeyPem = Secret(std::string(v));
  }
}

int cmdProbe(const Global& g, std::vector<std::string>& args) {
  Options o = parseOptions(args);
  if (o.positional.size() != 1) {
    usage("probe takes one URL");
  }
  AuthChoice a = authFromOptions(o);
  conformanceContext(o, a);
  registry::RecordFields fields = {
      {"url", o.positional[0]}, {"auth_type", a.type}, {"interval", "1h"}};
  fields["timeout"] = opt(o, "--timeout", "10s");
  if (!o.headers.empty()) {
    fields["headers"] = headersJson(o.headers);
  }
  for (const char* k :
       {"--token-url", "--scope", "--audience", "--resource", "--token-endpoint-auth-method"}) {
    static const std::map<std::string, std::string> kField = {
        {"--token-url", "token_url"},
        {"--scope", "scopes"},
        {"--audience", "audience"},
        {"--resource", "resource"},
        {"--token-endpoint-auth-method", "token_endpoint_auth_method"}};
    if (o.values.count(k)) {
      fields[kField.at(k)] = opt(o, k);
    }
  }
  // The probe builds the same spec the daemon would, through an in-memory key.
  auth::KeyRing ring;
  (void)ring.addKey("probe", auth::generateKeyBase64());
  (void)ring.setActive("probe");
  if (a.type != "none") {
    auto blob = registry::sealRecord("probe", fields, a.creds, ring);
    if (!blob) {
      usage(blob.error().message);
    }
    fields["credentials"] = blob.value();
  }
  registry::ServerSpec spec = registry::parseRecord(
      "probe", fields, g.cfg ? g.cfg->defaults : registry::ServerSpec{}, ring);
  if (!spec.invalidReason.empty()) {
    usage(spec.invalidReason.substr(std::string("record probe: ").size()));
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 1;
  {
    loop::UvLoop loop;
    {
      http::CurlMultiClient http(loop);
      if (g.cfg) {
        http.setEgressPolicy(g.cfg->egress);
      }
      auth::OAuth2Provider auth(http, loop);
      check::ServerProber prober(http, auth, loop, loop);
      std::optional<mcp::ProbeResult> result;
      auto check = prober.start(spec, [&](mcp::ProbeResult r) { result = std::move(r); });
      loop.run();
      check.reset();
      if (result) {
        scheduler::CheckReport rep = scheduler::singleCheckReport("probe", std::move(*result),
                                                                  Trigger::kProbe, loop.wallMs());
        std::string line = publish::healthJson(rep, 1);
        if (o.json) {
          std::printf("%s\n", line.c_str());
        } else {
          printHealthLine(line);
          for (const auto& t : rep.probe.tools) {
            std::printf("  %s\n", t.name.c_str());
          }
        }
        rc = rep.status == scheduler::Status::kHealthy ? 0 : 1;
      }
    }
    if (auto r = loop.close(); !r) {
      std::fprintf(stderr, "mcp-healthctl: %s\n", r.error().message.c_str());
      rc = 70;
    }
  }
  curl_global_cleanup();
  return rc;
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  Global g;
  std::optional<std::string> configPath;
  std::optional<std::string> redisUrl;
  while (!args.empty() && (args[0] == "--config" || args[0] == "--redis" || args[0] == "--help" ||
                           args[0] == "-h")) {
    if (args[0] == "--help" || args[0] == "-h") {
      std::fputs(kHelp, stdout);
      return 0;
    }
    if (args.size() < 2) {
      usage(args[0] + " needs a value");
    }
    (args[0] == "--config" ? configPath : redisUrl) = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (configPath) {
    auto cfg = config::loadFile(*configPath);
    if (!cfg) {
      usage(cfg.error().message);
    }
    g.redisUrl = cfg->redis.url;
    g.keys = keyspace::Keyspace(cfg->redis.prefix);
    g.redisPassword = cfg->redis.password;
    g.redisUsername = cfg->redis.username;
    g.cfg = std::move(cfg.value());
  }
  if (redisUrl) {
    g.redisUrl = *redisUrl;
  }
  if (args.empty()) {
    usage("missing COMMAND");
  }
  std::string cmd = args[0];
  args.erase(args.begin());
  if (cmd == "keygen") {
    std::printf("%s\n", auth::generateKeyBase64().c_str());
    return 0;
  }
  if (cmd == "add") {
    return cmdAdd(g, args);
  }
  if (cmd == "edit") {
    return cmdEdit(g, args);
  }
  if (cmd == "reseal") {
    return cmdReseal(g, args);
  }
  if (cmd == "remove") {
    return cmdRemove(g, args);
  }
  if (cmd == "list") {
    return cmdList(g);
  }
  if (cmd == "show") {
    return cmdShow(g, args);
  }
  if (cmd == "tools") {
    return cmdTools(g, args);
  }
  if (cmd == "check") {
    return cmdCheck(g, args);
  }
  if (cmd == "watch") {
    return cmdWatch(g, args);
  }
  if (cmd == "probe") {
    return cmdProbe(g, args);
  }
  usage("unknown command '" + cmd + "'");
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (sodium_init() < 0) {
    std::fprintf(stderr, "mcp-healthctl: libsodium failed to initialise\n");
    return 1;
  }
  mcphd::log::setLevel(mcphd::log::Level::kWarning);
  try {
    return run(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "mcp-healthctl: %s\n(see mcp-healthctl --help)\n", e.message.c_str());
    return kUsage;
  }
}
