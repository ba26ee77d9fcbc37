#include "config/config.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "common/ascii.hpp"
#include "common/file.hpp"
#include "http/listen_address.hpp"
#include "redis/redis_url.hpp"
#include "registry/validate.hpp"

namespace mcphd::config {

namespace {

using registry::AuthType;
using registry::ServerSpec;

// Thrown inside the loader only, turned into a Result at its boundary (no exception leaves it).
struct ConfigError {
  std::string message;
};

class Loader {
 public:
  Loader(std::string name, std::string baseDir)
      : name_(std::move(name)), baseDir_(std::move(baseDir)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& msg) const {
    std::string where = name_;
    if (node.IsDefined() && node.Mark().line >= 0) {
      where += ":" + std::to_string(node.Mark().line + 1);
    }
    throw ConfigError{where + ": " + key + ": " + msg};
  }

  void allowOnly(const YAML::Node& map, const std::string& path,
                 const std::set<std::string>& keys) const {
    if (!map.IsMap()) {
      fail(map, path, "must be a mapping");
    }
    for (const auto& kv : map) {
      std::string k = kv.first.as<std::string>();
      if (keys.count(k) == 0) {
        std::string known;
        for (const auto& s : keys) {
          known += (known.empty() ? "" : ", ") + s;
        }
        fail(kv.first, path.empty() ? k : path + "." + k,
             "unknown key (known keys: " + known + ")");
      }
    }
  }

  std::string str(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) {
      fail(n, key, "must be a string");
    }
    auto expanded = expandEnv(n.Scalar());
    if (!expanded) {
      fail(n, key, expanded.error().message);
    }
    return expanded.value();
  }

  int64_t duration(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) {
      fail(n, key, "must be a duration such as 500ms, 10s or 5m");
    }
    auto d = parseDuration(n.Scalar());
    if (!d) {
      fail(n, key, d.error().message);
    }
    return d.value();
  }

  long integer(const YAML::Node& n, const std::string& key, long lo, long hi) const {
    long v = 0;
    const std::string& s = n.IsScalar() ? n.Scalar() : std::string();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (!n.IsScalar() || ec != std::errc() || p != s.data() + s.size()) {
      fail(n, key, "must be an integer");
    }
    if (v < lo || v > hi) {
      fail(n, key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    return v;
  }

  // `privateOnly`: a file readable by group or others is refused (as ssh does with keys).
  Secret readSecretFile(const YAML::Node& n, const std::string& key,
                        bool privateOnly = false) const {
    std::string path = str(n, key);
    if (path.empty()) {
      fail(n, key, "is empty");
    }
    if (path.front() != '/') {
      // Under systemd, LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY: a relative name
      // is looked up there first, then next to the config file.
      const char* credDir = std::getenv("CREDENTIALS_DIRECTORY");
      std::string inCredentials =
          credDir != nullptr && *credDir != '\0' ? std::string(credDir) + "/" + path : "";
      path = !inCredentials.empty() && access(inCredentials.c_str(), F_OK) == 0
                 ? inCredentials
                 : baseDir_ + "/" + path;
    }
    if (privateOnly) {
      struct stat st {};
      if (stat(path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        fail(n, key,
             path + " is readable by group or others (mode " + mode + "); chmod 600 " + path);
      }
    }
    auto read = readBounded(path, 64 * 1024);
    if (!read) {
      fail(n, key, "cannot read " + path + ": " + std::strerror(errno));
    }
    std::string content = std::move(*read);
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) {
      content.pop_back();
    }
    if (content.empty()) {
      fail(n, key, path + " is empty");
    }
    if (content.size() > 64 * 1024) {
      wipeString(content);
      fail(n, key, path + " is larger than 64 KiB");
    }
    Secret s(content);
    wipeString(content);
    return s;
  }

  bool boolean(const YAML::Node& n, const std::string& key) const {
    const std::string& v = n.IsScalar() ? n.Scalar() : std::string();
    if (v == "true") {
      return true;
    }
    if (v == "false") {
      return false;
    }
    fail(n, key, "must be true or false");
  }

  // A stdio server's extra environment: NAME: value. Values may be secrets (API keys), so they
  // are kept as Secret and wiped.
  std::vector<std::pair<std::string, Secret>> environment(const YAML::Node& n,
                                                          const std::string& key) const {
    if (!n.IsMap()) {
      fail(n, key, "must be a mapping of variable names to values, e.g. {LOG_LEVEL: warn}");
    }
    std::vector<std::pair<std::string, Secret>> out;
    for (const auto& kv : n) {
      std::string name = kv.first.as<std::string>();
      bool valid = !name.empty() && name.size() <= 128 &&
                   std::isdigit(static_cast<unsigned char>(name[0])) == 0 &&
                   std::all_of(name.begin(), name.end(), [](char c) {
                     return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
                   });
      if (!valid) {
        fail(kv.first, key, "'" + name + "' is not a valid variable name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      std::string value = str(kv.second, key + "." + name);
      if (value.find('\0') != std::string::npos) {
        fail(kv.second, key + "." + name, "cannot contain a NUL byte");
      }
      out.emplace_back(name, Secret(value));
      wipeString(value);
    }
    return out;
  }

  std::vector<std::pair<std::string, std::string>> headerMap(const YAML::Node& n,
                                                             const std::string& key) const {
    if (!n.IsMap()) {
      fail(n, key, "must be a mapping of header names to values");
    }
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& kv : n) {
      std::string name = kv.first.as<std::string>();
      if (!registry::isHeaderName(name)) {
        fail(kv.first, key, "'" + name + "' is not a valid header name");
      }
      std::string value = str(kv.second, key + "." + name);
      if (value.find_first_of("\r\n") != std::string::npos) {
        fail(kv.second, key + "." + name, "header values cannot contain line breaks");
      }
      out.emplace_back(name, value);
    }
    return out;
  }

  void auth(const YAML::Node& n, const std::string& key, registry::AuthSpec& a) const {
    allowOnly(n, key,
              {"type", "token", "token_file", "username", "password", "password_file", "headers"});
    if (!n["type"]) {
      fail(n, key + ".type", "is required: none, bearer, basic or headers");
    }
    std::string type = str(n["type"], key + ".type");
    a = registry::AuthSpec{};
    auto forbid = [&](const char* field) {
      if (n[field]) {
        fail(n[field], key + "." + field, "does not apply to auth type " + type);
      }
    };
    if (type == "none") {
      a.type = AuthType::kNone;
      for (const char* f :
           {"token", "token_file", "username", "password", "password_file", "headers"}) {
        forbid(f);
      }
    } else if (type == "bearer") {
      a.type = AuthType::kBearer;
      for (const char* f : {"username", "password", "password_file", "headers"}) {
        forbid(f);
      }
      if (n["token"] && n["token_file"]) {
        fail(n["token"], key, "set token or token_file, not both");
      }
      if (n["token_file"]) {
        a.token = readSecretFile(n["token_file"], key + ".token_file");
      } else if (n["token"]) {
        a.token = Secret(str(n["token"], key + ".token"));
      } else {
        fail(n, key, "bearer auth needs token_file (or token, e.g. \"${MY_TOKEN}\")");
      }
    } else if (type == "basic") {
      a.type = AuthType::kBasic;
      for (const char* f : {"token", "token_file", "headers"}) {
        forbid(f);
      }
      if (!n["username"]) {
        fail(n, key + ".username", "is required for basic auth");
      }
      a.username = str(n["username"], key + ".username");
      if (a.username.find(':') != std::string::npos) {
        fail(n["username"], key + ".username", "cannot contain ':'");
      }
      if (n["password_file"]) {
        a.password = readSecretFile(n["password_file"], key + ".password_file");
      } else if (n["password"]) {
        a.password = Secret(str(n["password"], key + ".password"));
      } else {
        fail(n, key, "basic auth needs password_file (or password, e.g. \"${MY_PASSWORD}\")");
      }
    } else if (type == "headers") {
      a.type = AuthType::kHeaders;
      for (const char* f : {"token", "token_file", "username", "password", "password_file"}) {
        forbid(f);
      }
      if (!n["headers"]) {
        fail(n, key + ".headers", "is required for auth type headers");
      }
      for (auto& [name, value] : headerMap(n["headers"], key + ".headers")) {
        a.headers.emplace_back(name, Secret(value));
        wipeString(value);
      }
    } else {
      fail(n["type"], key + ".type", "'" + type + "' is not one of none, bearer, basic, headers");
    }
  }

  // Fields shared by `defaults` and each server. `marks` remembers where each came from.
  void serverFields(const YAML::Node& n, const std::string& path, ServerSpec& s,
                    std::map<std::string, YAML::Node>& marks) const {
    for (const auto& kv : n) {
      const std::string k = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      const std::string key = path + "." + k;
      marks[k] = v;
      if (k == "id") {
        continue;
      } else if (k == "url") {
        s.url = str(v, key);
      } else if (k == "transport") {
        std::string t = str(v, key);
        if (t == "streamable_http") {
          s.transport = registry::Transport::kStreamableHttp;
        } else if (t == "sse") {
          s.transport = registry::Transport::kSse;
        } else if (t == "auto") {
          s.transport = registry::Transport::kAuto;
        } else if (t == "stdio" && path != "defaults") {
          s.transport = registry::Transport::kStdio;
        } else if (t == "stdio") {
          fail(v, key, "stdio is set per server, with its command");
        } else {
          fail(v, key, "'" + t + "' is not one of auto, streamable_http, sse, stdio");
        }
      } else if (k == "command") {
        s.command = str(v, key);
        if (s.command.empty() || s.command.find('\0') != std::string::npos) {
          fail(v, key, "must name a program, e.g. node or /usr/bin/node");
        }
      } else if (k == "args") {
        if (!v.IsSequence()) {
          fail(v, key, "must be a list of strings, e.g. [\"dist/index.js\", \"/srv/data\"]");
        }
        s.args.clear();
        for (size_t i = 0; i < v.size(); ++i) {
          s.args.push_back(str(v[i], key + "[" + std::to_string(i) + "]"));
        }
      } else if (k == "env") {
        s.env = environment(v, key);
      } else if (k == "cwd") {
        s.cwd = str(v, key);
        if (s.cwd.empty()) {
          fail(v, key, "is empty");
        }
        if (s.cwd.front() != '/') {
          s.cwd = baseDir_ + "/" + s.cwd;
        }
      } else if (k == "watch_tools") {
        s.watchTools = boolean(v, key);
      } else if (k == "name") {
        s.name = str(v, key);
      } else if (k == "min_relist_interval") {
        s.minRelistIntervalMs = duration(v, key);
      } else if (k == "headers") {
        s.headers = headerMap(v, key);
      } else if (k == "auth") {
        auth(v, key, s.auth);
      } else if (k == "interval") {
        s.intervalMs = duration(v, key);
      } else if (k == "timeout") {
        s.timeoutMs = duration(v, key);
      } else if (k == "connect_timeout") {
        s.connectTimeoutMs = duration(v, key);
      } else if (k == "jitter") {
        auto p = v.IsScalar() ? parsePercent(v.Scalar())
                              : Result<double>(makeError("must be a percentage such as 10%"));
        if (!p) {
          fail(v, key, p.error().message);
        }
        s.jitter = p.value();
      } else if (k == "healthy_threshold") {
        s.healthyThreshold = static_cast<int>(integer(v, key, 1, 1000));
      } else if (k == "unhealthy_threshold") {
        s.unhealthyThreshold = static_cast<int>(integer(v, key, 1, 1000));
      } else if (k == "unhealthy_interval") {
        s.unhealthyIntervalMs = duration(v, key);
      } else if (k == "max_backoff") {
        s.maxBackoffMs = duration(v, key);
      } else if (k == "max_body") {
        auto sz = v.IsScalar() ? parseSize(v.Scalar())
                               : Result<size_t>(makeError("must be a size such as 8MiB"));
        if (!sz) {
          fail(v, key, sz.error().message);
        }
        if (sz.value() < 1024) {
          fail(v, key, "must be at least 1KiB");
        }
        s.maxBody = sz.value();
      } else if (k == "tool_baseline") {
        auto p = baseline::parsePolicy(str(v, key));
        if (!p) {
          fail(v, key, p.error().message);
        }
        s.tools.policy = *p;
      } else if (k == "on_drift" || k == "on_finding") {
        auto a = baseline::parseAction(str(v, key));
        if (!a) {
          fail(v, key, a.error().message);
        }
        (k == "on_drift" ? s.tools.onDrift : s.tools.onFinding) = *a;
      } else if (k == "max_tools") {
        s.maxTools = static_cast<size_t>(integer(v, key, 1, 1'000'000));
      } else if (k == "max_tools_bytes") {
        auto sz = v.IsScalar() ? parseSize(v.Scalar())
                               : Result<size_t>(makeError("must be a size such as 16MiB"));
        if (!sz) {
          fail(v, key, sz.error().message);
        }
        if (sz.value() < 1024) {
          fail(v, key, "must be at least 1KiB");
        }
        s.maxToolsBytes = sz.value();
      }
    }
  }

  void validate(const ServerSpec& s, const std::string& path, const YAML::Node& serverNode,
                const std::map<std::string, YAML::Node>& own,
                const std::map<std::string, YAML::Node>& defaults) const {
    auto where = [&](const std::string& k) -> std::pair<YAML::Node, std::string> {
      if (auto it = own.find(k); it != own.end()) {
        return {it->second, path + "." + k};
      }
      if (auto it = defaults.find(k); it != defaults.end()) {
        return {it->second, "defaults." + k};
      }
      return {serverNode, path + "." + k};
    };
    if (s.transport == registry::Transport::kStdio || !s.command.empty()) {
      if (s.transport != registry::Transport::kStdio && own.count("transport") != 0) {
        fail(own.at("transport"), path + ".transport",
             "must be stdio (or left out) for a server with a command");
      }
      if (s.command.empty()) {
        fail(serverNode, path + ".command", "is required for transport stdio");
      }
      for (const char* k : {"url", "headers", "auth", "connect_timeout"}) {
        if (own.count(k) != 0) {
          fail(own.at(k), path + "." + k, "does not apply to a stdio server");
        }
      }
      if (s.auth.type != AuthType::kNone) {
        auto [n, k] = where("auth");
        fail(n, k, "does not apply to stdio server '" + s.id + "'");
      }
    } else {
      for (const char* k : {"args", "env", "cwd"}) {
        if (own.count(k) != 0) {
          fail(own.at(k), path + "." + k, "applies to stdio servers only (set command)");
        }
      }
      if (s.url.empty()) {
        fail(serverNode, path + ".url", "is required (or command, for a stdio server)");
      }
    }
    // The rules every source of servers shares (registry/validate.hpp), reported at the line the
    // field came from: the server's own, or the defaults'.
    if (auto bad = registry::validateServer(s)) {
      const bool inAuth = bad->field == "auth.headers";
      auto [n, k] = where(inAuth ? "auth" : bad->field == "token_url" ? "auth" : bad->field);
      if (inAuth) {
        k += ".headers";
      }
      fail(n, k,
           bad->message +
               (k.rfind("defaults.", 0) == 0 ? " (for " + path + " '" + s.id + "')" : ""));
    }
  }

  void loadDashboard(const YAML::Node& d, DashboardSettings& out) const {
    allowOnly(d, "dashboard", {"listen", "token_file", "allowed_hosts", "max_streams"});
    if (!d["listen"]) {
      fail(d, "dashboard.listen", "is required to serve the dashboard (e.g. 127.0.0.1:9465)");
    }
    out.listen = str(d["listen"], "dashboard.listen");
    if (auto a = http::parseListenAddress(out.listen); !a) {
      fail(d["listen"], "dashboard.listen", a.error().message);
    }
    if (d["token_file"]) {
      out.token = readSecretFile(d["token_file"], "dashboard.token_file", /*privateOnly=*/true);
      const std::string_view t = out.token.reveal();
      const bool printable =
          std::all_of(t.begin(), t.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
      if (!printable || t.size() < 16) {
        fail(d["token_file"], "dashboard.token_file",
             "the token must be at least 16 printable characters without spaces (e.g. "
             "openssl rand -hex 32 > FILE)");
      }
    }
    if (const auto& hosts = d["allowed_hosts"]) {
      if (!hosts.IsSequence()) {
        fail(hosts, "dashboard.allowed_hosts", "must be a list of host names (host or host:port)");
      }
      for (size_t i = 0; i < hosts.size(); ++i) {
        const std::string key = "dashboard.allowed_hosts[" + std::to_string(i) + "]";
        std::string h = str(hosts[i], key);
        const bool ok =
            !h.empty() && h.size() <= 255 && std::all_of(h.begin(), h.end(), [](char ch) {
              return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
                     (ch != '\0' && std::strchr(".-:[]_", ch) != nullptr);
            });
        if (!ok) {
          fail(hosts[i], key, "'" + h + "' is not a host name or host:port");
        }
        if (h.front() != '[' && std::count(h.begin(), h.end(), ':') > 1) {
          fail(hosts[i], key,
               "'" + h + "': write an IPv6 address in brackets, as in a Host header ([" + h + "])");
        }
        out.allowedHosts.push_back(asciiLower(h));
      }
    }
    if (d["max_streams"]) {
      out.maxStreams =
          static_cast<size_t>(integer(d["max_streams"], "dashboard.max_streams", 1, 10'000));
    }
  }

  void loadCluster(const YAML::Node& c, ClusterSettings& out) const {
    if (!c.IsMap()) {
      fail(c, "cluster", "must be a map (e.g. member_id: healthd-a)");
    }
    allowOnly(c, "cluster", {"enabled", "member_id", "heartbeat", "member_ttl"});
    if (c["enabled"]) {
      out.enabled = boolean(c["enabled"], "cluster.enabled");
    }
    if (c["heartbeat"]) {
      out.heartbeatMs = duration(c["heartbeat"], "cluster.heartbeat");
      if (out.heartbeatMs < 100 || out.heartbeatMs > 60'000) {
        fail(c["heartbeat"], "cluster.heartbeat", "must be between 100ms and 60s");
      }
    }
    if (c["member_ttl"]) {
      out.memberTtlMs = duration(c["member_ttl"], "cluster.member_ttl");
    }
    if (out.memberTtlMs < 2 * out.heartbeatMs || out.memberTtlMs > 600'000) {
      fail(c["member_ttl"] ? c["member_ttl"] : c, "cluster.member_ttl",
           "must be at least twice cluster.heartbeat (" + std::to_string(out.heartbeatMs) +
               " ms), so that one late heartbeat does not drop a member, and at most 10m");
    }
    if (c["member_id"]) {
      out.memberId = str(c["member_id"], "cluster.member_id");
      if (!validMemberId(out.memberId)) {
        fail(c["member_id"], "cluster.member_id",
             "'" + out.memberId +
                 "' is not a member id: 1 to 128 characters of A-Z a-z 0-9 . _ - : @");
      }
    }
  }

  Config load(const YAML::Node& root) const {
    Config c;
    if (!root.IsDefined() || root.IsNull()) {
      throw ConfigError{name_ + ": the file is empty"};
    }
    allowOnly(root, "",
              {"redis", "defaults", "max_concurrent_checks", "max_watches", "registry_resync",
               "secrets", "egress", "servers", "metrics", "dashboard", "cluster", "log"});
    if (const auto& cl = root["cluster"]) {
      loadCluster(cl, c.cluster);
    }
    if (const auto& m = root["metrics"]) {
      allowOnly(m, "metrics", {"listen"});
      if (m["listen"]) {
        c.metricsListen = str(m["listen"], "metrics.listen");
        if (auto a = http::parseListenAddress(c.metricsListen); !a) {
          fail(m["listen"], "metrics.listen", a.error().message);
        }
      }
    }
    if (const auto& d = root["dashboard"]) {
      loadDashboard(d, c.dashboard);
    }
    if (const auto& l = root["log"]) {
      allowOnly(l, "log", {"format"});
      if (l["format"]) {
        std::string f = str(l["format"], "log.format");
        if (f != "text" && f != "json") {
          fail(l["format"], "log.format", "'" + f + "' is not one of text, json");
        }
        c.logJson = f == "json";
      }
    }
    if (const auto& e = root["egress"]) {
      allowOnly(e, "egress", {"deny", "allow", "registry"});
      auto cidrs = [&](const YAML::Node& node, const std::string& prefix, const char* key,
                       std::vector<http::Cidr>& out) {
        const auto& list = node[key];
        if (!list) {
          return;
        }
        if (!list.IsSequence()) {
          fail(list, prefix + "." + key,
               "must be a list of networks, e.g. [169.254.0.0/16, fe80::/10]");
        }
        out.clear();  // a list given replaces the default
        for (size_t i = 0; i < list.size(); ++i) {
          std::string k = prefix + "." + key + "[" + std::to_string(i) + "]";
          auto c = http::Cidr::parse(str(list[i], k));
          if (!c) {
            fail(list[i], k, c.error().message);
          }
          out.push_back(c.value());
        }
      };
      cidrs(e, "egress", "deny", c.egress.deny);
      cidrs(e, "egress", "allow", c.egress.allow);
      if (const auto& r = e["registry"]) {
        if (!r.IsMap()) {
          fail(r, "egress.registry", "must be a map with deny and/or allow lists");
        }
        allowOnly(r, "egress.registry", {"deny", "allow"});
        http::EgressPolicy p;
        p.name = "egress.registry";
        cidrs(r, "egress.registry", "deny", p.deny);
        cidrs(r, "egress.registry", "allow", p.allow);
        c.registryEgress = std::move(p);
      }
    }
    if (const auto& r = root["registry_resync"]) {
      c.registryResyncMs = duration(r, "registry_resync");
    }
    if (const auto& s = root["secrets"]) {
      allowOnly(s, "secrets", {"keys", "active", "accept_v1"});
      if (s["accept_v1"]) {
        c.acceptV1 = boolean(s["accept_v1"], "secrets.accept_v1");
      }
      const auto& keys = s["keys"];
      if (!keys || !keys.IsMap() || keys.size() == 0) {
        fail(keys ? keys : s, "secrets.keys",
             "must map key ids to key files, e.g. {k1: /etc/mcp-healthd/k1.key}");
      }
      const char* credDir = std::getenv("CREDENTIALS_DIRECTORY");
      for (const auto& kv : keys) {
        std::string id = kv.first.as<std::string>();
        std::string file = str(kv.second, "secrets.keys." + id);
        std::string dir = credDir != nullptr && *credDir != '\0' ? std::string(credDir) : baseDir_;
        if (auto r = c.keys.addKeyFile(id, file, dir); !r) {
          fail(kv.second, "secrets.keys." + id, r.error().message);
        }
      }
      if (!s["active"]) {
        fail(s, "secrets.active", "is required: the id of the key that encrypts new credentials");
      }
      if (auto r = c.keys.setActive(str(s["active"], "secrets.active")); !r) {
        fail(s["active"], "secrets.active", r.error().message);
      }
    }
    if (const auto& r = root["redis"]) {
      allowOnly(r, "redis",
                {"url", "prefix", "username", "password_file", "sentinels", "master_name"});
      if (r["username"]) {
        c.redis.username = str(r["username"], "redis.username");
        if (c.redis.username.empty() ||
            c.redis.username.find_first_of(" \t\r\n") != std::string::npos) {
          fail(r["username"], "redis.username", "must be a user name without spaces");
        }
      }
      if (r["url"]) {
        c.redis.url = str(r["url"], "redis.url");
        if (auto ep = redis::parseUrl(c.redis.url); !ep) {
          fail(r["url"], "redis.url", ep.error().message);
        }
      }
      if (r["prefix"]) {
        c.redis.prefix = str(r["prefix"], "redis.prefix");
        if (c.redis.prefix.size() > 64) {
          fail(r["prefix"], "redis.prefix", "is longer than 64 characters");
        }
      }
      if (r["password_file"]) {
        c.redis.password =
            readSecretFile(r["password_file"], "redis.password_file", /*privateOnly=*/true);
      }
      if (const auto& list = r["sentinels"]) {
        if (!list.IsSequence() || list.size() == 0) {
          fail(list, "redis.sentinels", "must be a list of host:port, e.g. [\"10.0.0.1:26379\"]");
        }
        if (list.size() > 32) {
          fail(list, "redis.sentinels", "lists more than 32 sentinels");
        }
        for (size_t i = 0; i < list.size(); ++i) {
          const std::string key = "redis.sentinels[" + std::to_string(i) + "]";
          auto hp = redis::parseHostPort(str(list[i], key));
          if (!hp) {
            fail(list[i], key, hp.error().message);
          }
          c.redis.sentinels.push_back(hp.value());
        }
        if (!r["master_name"]) {
          fail(list, "redis.master_name",
               "is required with redis.sentinels: the name the sentinels monitor the master by "
               "(`sentinel monitor <name> ...`)");
        }
      }
      if (const auto& m = r["master_name"]) {
        c.redis.masterName = str(m, "redis.master_name");
        const std::string& n = c.redis.masterName;
        if (n.empty() || n.size() > 128 || n.find_first_of(" \t\r\n") != std::string::npos) {
          fail(m, "redis.master_name", "must be a name without spaces, at most 128 characters");
        }
        if (c.redis.sentinels.empty()) {
          fail(m, "redis.master_name", "needs redis.sentinels (the sentinels to ask)");
        }
        if (c.redis.url.rfind("unix://", 0) == 0) {
          fail(r["url"], "redis.url",
               "must be a redis:// URL (or absent) with redis.sentinels: its host and port are "
               "not used, its database and credentials are");
        }
      }
    }
    if (const auto& m = root["max_watches"]) {
      c.maxWatches = static_cast<size_t>(integer(m, "max_watches", 0, 1'000'000));
    }
    if (const auto& m = root["max_concurrent_checks"]) {
      c.maxConcurrentChecks = static_cast<size_t>(integer(m, "max_concurrent_checks", 1, 100000));
    }
    static const std::set<std::string> kServerKeys = {"id",
                                                      "url",
                                                      "transport",
                                                      "headers",
                                                      "auth",
                                                      "interval",
                                                      "timeout",
                                                      "connect_timeout",
                                                      "jitter",
                                                      "healthy_threshold",
                                                      "unhealthy_threshold",
                                                      "unhealthy_interval",
                                                      "max_backoff",
                                                      "max_body",
                                                      "max_tools",
                                                      "max_tools_bytes",
                                                      "command",
                                                      "args",
                                                      "env",
                                                      "cwd",
                                                      "watch_tools",
                                                      "min_relist_interval",
                                                      "tool_baseline",
                                                      "on_drift",
                                                      "on_finding",
                                                      "name"};
    ServerSpec defaults;
    std::map<std::string, YAML::Node> defaultMarks;
    if (const auto& d = root["defaults"]) {
      std::set<std::string> keys = kServerKeys;
      for (const char* perServer : {"id", "name", "command", "args", "env", "cwd"}) {
        keys.erase(perServer);
      }
      allowOnly(d, "defaults", keys);
      serverFields(d, "defaults", defaults, defaultMarks);
    }
    if (auto bad = registry::validateSchedule(defaults)) {
      auto it = defaultMarks.find(bad->field);
      fail(it != defaultMarks.end() ? it->second : root, "defaults." + bad->field, bad->message);
    }
    c.defaults = defaults;
    if (const auto& servers = root["servers"]) {
      if (!servers.IsSequence()) {
        fail(servers, "servers", "must be a list");
      }
      std::set<std::string> ids;
      for (size_t i = 0; i < servers.size(); ++i) {
        const YAML::Node& n = servers[i];
        const std::string path = "servers[" + std::to_string(i) + "]";
        allowOnly(n, path, kServerKeys);
        if (!n["id"]) {
          fail(n, path + ".id", "is required");
        }
        ServerSpec s = defaults;
        s.id = str(n["id"], path + ".id");
        if (!registry::isServerId(s.id)) {
          fail(n["id"], path + ".id", "'" + s.id + "' must match [A-Za-z0-9._-]{1,128}");
        }
        if (!ids.insert(s.id).second) {
          fail(n["id"], path + ".id", "duplicate id '" + s.id + "'");
        }
        std::map<std::string, YAML::Node> marks;
        serverFields(n, path, s, marks);
        if (!s.command.empty() && marks.count("transport") == 0) {
          s.transport = registry::Transport::kStdio;  // a command implies stdio
        }
        validate(s, path, n, marks, defaultMarks);
        c.servers.push_back(std::move(s));
      }
    }
    return c;
  }

 private:
  std::string name_;
  std::string baseDir_;
};

}  // namespace

Result<std::string> expandEnv(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '$') {
      out += s[i];
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (i + 1 < s.size() && s[i + 1] == '{') {
      size_t close = s.find('}', i + 2);
      if (close == std::string::npos) {
        return makeError("unterminated ${ in '" + s + "'");
      }
      std::string name = s.substr(i + 2, close - i - 2);
      const char* value = std::getenv(name.c_str());
      if (name.empty() || value == nullptr) {
        return makeError("environment variable '" + name + "' is not set");
      }
      out += value;
      i = close;
      continue;
    }
    out += '$';
  }
  return out;
}

Result<Config> loadString(const std::string& text, const std::string& name,
                          const std::string& baseDir) {
  try {
    YAML::Node root = YAML::Load(text);
    Loader loader(name, baseDir);
    Config c = loader.load(root);
    c.path = name;
    return c;
  } catch (const ConfigError& e) {
    return makeError(e.message);
  } catch (const YAML::Exception& e) {
    return makeError(name + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

bool validMemberId(std::string_view id) {
  return !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) != 0 ||
           (ch != '\0' && std::strchr("._-:@", ch) != nullptr);
  });
}

Result<Config> loadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return makeError(path + ": cannot open the config file: " + std::strerror(errno));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  std::string dir = ".";
  if (auto slash = path.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
  }
  return loadString(buf.str(), path, dir);
}

}  // namespace mcphd::config
