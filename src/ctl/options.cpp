#include "ctl/options.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>
#include <tuple>
#include <utility>

#include "common/file.hpp"
#include "common/units.hpp"
#include "registry/validate.hpp"

namespace mcphd::ctl {
namespace {

constexpr size_t kMaxSecretFile = 64 * 1024;

// Options that take a value, beside --header and --secret-header-file (which may repeat).
const std::set<std::string, std::less<>> kValued = {"--url",
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
                                                    "--wait",
                                                    "--by"};

// Option -> record field (docs/PROTOCOL.md, "Registry: servers in Redis").
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

const std::set<std::string, std::less<>> kAuthTypes = {"none", "bearer", "basic", "headers",
                                                       "oauth2"};

// A secret from a file: at most 64 KiB, trailing newlines dropped, not empty.
Outcome<Secret> readSecretFile(const std::string& path, const char* what) {
  auto read = readBounded(path, kMaxSecretFile);
  if (!read) {
    return usageError(std::string("cannot read ") + what + " file " + path + ": " +
                      std::strerror(errno));
  }
  std::string s = std::move(*read);
  if (s.size() > kMaxSecretFile) {
    wipeString(s);
    return usageError(std::string(what) + " file " + path + " is larger than 64 KiB");
  }
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) {
    s.pop_back();
  }
  if (s.empty()) {
    return usageError(std::string(what) + " file " + path + " is empty");
  }
  Secret out(s);
  wipeString(s);
  return out;
}

Outcome<Secret> readClientSecret(const Options& o, std::istream& in) {
  const int sources = (o.has("--client-secret-file") ? 1 : 0) +
                      (o.has("--client-secret-env") ? 1 : 0) + (o.secretStdin ? 1 : 0);
  if (sources > 1) {
    return usageError(
        "give the client secret one way: --client-secret-file, --client-secret-env or "
        "--client-secret-stdin");
  }
  if (o.has("--client-secret-file")) {
    return readSecretFile(o.get("--client-secret-file"), "client secret");
  }
  if (o.has("--client-secret-env")) {
    const char* v = std::getenv(o.get("--client-secret-env").c_str());
    if (v == nullptr || *v == '\0') {
      return usageError("environment variable " + o.get("--client-secret-env") + " is not set");
    }
    return Secret(v);
  }
  if (!o.secretStdin) {
    return Secret();
  }
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) {
    line.pop_back();
  }
  if (line.empty()) {
    return usageError("--client-secret-stdin: read an empty line");
  }
  Secret out(line);
  wipeString(line);
  return out;
}

// Sets `into` from the file named by option `option`, when given.
Outcome<void> secretFromFile(const Options& o, const char* option, const char* what, Secret& into) {
  if (!o.has(option)) {
    return {};
  }
  auto s = readSecretFile(o.get(option), what);
  if (!s) {
    return s.error();
  }
  into = std::move(s.value());
  return {};
}

// --header 'Name: value' options as a record's `headers` field.
Outcome<std::string> headersField(const std::vector<std::string>& headers) {
  std::vector<std::pair<std::string, std::string>> pairs;
  for (const auto& h : headers) {
    const size_t colon = h.find(':');
    if (colon == std::string::npos || colon == 0) {
      return usageError("--header takes 'Name: value'");
    }
    std::string value = h.substr(colon + 1);
    value.erase(0, std::min(value.size(), value.find_first_not_of(' ')));
    pairs.emplace_back(h.substr(0, colon), std::move(value));
  }
  return registry::headersJson(pairs);
}

}  // namespace

std::string Options::get(const char* name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second;
}

Outcome<Options> parseOptions(const std::vector<std::string>& args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool hasValue = i + 1 < args.size();
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
    } else if (a == "--unsigned") {
      o.unsignedBaseline = true;
    } else if (a == "--client-secret" || a == "--bearer-token" || a == "--password" ||
               a == "--private-key") {
      return usageError(a + ": secrets are never taken from the command line; use " + a +
                        "-file (or -env/-stdin)");
    } else if (a == "--header" || a == "--secret-header-file" || kValued.count(a) != 0) {
      if (!hasValue) {
        return usageError(a + " needs a value");
      }
      const std::string& value = args[++i];
      if (a == "--header") {
        o.headers.push_back(value);
      } else if (a == "--secret-header-file") {
        o.secretHeaderFiles.push_back(value);
      } else {
        o.values[a] = value;
      }
    } else if (a.rfind("--", 0) == 0) {
      return usageError("unknown option " + a);
    } else {
      o.positional.push_back(a);
    }
  }
  return o;
}

Outcome<std::string> onlyArgument(const Options& o, const std::string& command,
                                  const std::string& what) {
  if (o.positional.size() != 1) {
    return usageError(command + " takes one " + what);
  }
  return o.positional[0];
}

namespace {
Outcome<std::string> validId(Outcome<std::string> id) {
  if (id && !registry::isServerId(*id)) {
    return usageError("server id must match [A-Za-z0-9._-]{1,128}");
  }
  return id;
}
}  // namespace

Outcome<std::string> serverIdArgument(const Options& o, const std::string& command) {
  return validId(onlyArgument(o, command, "server ID"));
}

Outcome<std::string> idOrAll(const Options& o, const std::string& command) {
  if (o.all) {
    if (!o.positional.empty()) {
      return usageError(command + " takes one server ID or --all, not both");
    }
    return std::string();
  }
  return validId(onlyArgument(o, command, "server ID or --all"));
}

Outcome<std::chrono::milliseconds> waitOf(const Options& o) {
  auto d = parseDuration(o.get("--wait", "10s"));
  if (!d) {
    return usageError("--wait: " + d.error().message);
  }
  return std::chrono::milliseconds(d.value());
}

Outcome<auth::Credentials> secretsFromOptions(const Options& o, std::istream& in) {
  auth::Credentials c;
  c.clientId = o.get("--client-id");
  c.username = o.get("--username");
  auto secret = readClientSecret(o, in);
  if (!secret) {
    return secret.error();
  }
  c.clientSecret = std::move(secret.value());
  for (auto [option, what, into] :
       {std::tuple{"--private-key-file", "private key", &c.privateKeyPem},
        std::tuple{"--bearer-token-file", "bearer token", &c.bearerToken},
        std::tuple{"--password-file", "password", &c.password}}) {
    if (auto r = secretFromFile(o, option, what, *into); !r) {
      return r.error();
    }
  }
  for (const auto& spec : o.secretHeaderFiles) {
    const size_t colon = spec.find(':');
    if (colon == std::string::npos || colon == 0) {
      return usageError("--secret-header-file takes 'Name:FILE'");
    }
    auto value = readSecretFile(spec.substr(colon + 1), "secret header");
    if (!value) {
      return value.error();
    }
    c.headers.emplace_back(spec.substr(0, colon), std::move(value.value()));
  }
  return c;
}

Outcome<AuthChoice> authFromOptions(const Options& o, std::istream& in) {
  AuthChoice a;
  a.type = o.get("--auth", "none");
  if (kAuthTypes.count(a.type) == 0) {
    return usageError("--auth must be none, bearer, basic, headers or oauth2");
  }
  auto creds = secretsFromOptions(o, in);
  if (!creds) {
    return creds.error();
  }
  a.creds = std::move(creds.value());
  if (a.type == "bearer" && a.creds.bearerToken.empty()) {
    return usageError("--auth bearer needs --bearer-token-file");
  }
  if (a.type == "basic" && (a.creds.username.empty() || a.creds.password.empty())) {
    return usageError("--auth basic needs --username and --password-file");
  }
  if (a.type == "headers" && a.creds.headers.empty()) {
    return usageError("--auth headers needs --secret-header-file 'Name:FILE'");
  }
  if (a.type == "oauth2" && a.creds.clientId.empty() &&
      o.get("--oauth2-flow") != "authorization_code") {
    return usageError("--auth oauth2 needs --client-id and a client secret or --private-key-file");
  }
  return a;
}

Outcome<void> applyFieldOptions(const Options& o, registry::RecordFields& fields) {
  const std::string transport = o.get("--transport");
  if (transport == "stdio") {
    return usageError(
        "stdio servers are declared in the daemon's config file (servers[].command); the "
        "registry in Redis cannot start processes");
  }
  if (!transport.empty() && transport != "auto" && transport != "streamable_http" &&
      transport != "sse") {
    return usageError("--transport must be auto, streamable_http or sse");
  }
  const std::string watch = o.get("--watch-tools");
  if (!watch.empty() && watch != "true" && watch != "false") {
    return usageError("--watch-tools must be true or false");
  }
  if (o.has("--auth") && kAuthTypes.count(o.get("--auth")) == 0) {
    return usageError("--auth must be none, bearer, basic, headers or oauth2");
  }
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
    auto headers = headersField(o.headers);
    if (!headers) {
      return headers.error();
    }
    fields["headers"] = std::move(headers.value());
  }
  return {};
}

bool setsField(const Options& o, std::string_view field) {
  if (field == "headers") {
    return !o.headers.empty();
  }
  for (const auto& [option, name] : kFieldOptions) {
    if (field == name) {
      return o.has(option);
    }
  }
  return false;
}

}  // namespace mcphd::ctl
