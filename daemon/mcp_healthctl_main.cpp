// mcp-healthctl: registers servers in Redis with encrypted credentials, shows their status,
// triggers checks and probes a URL one-off. main() reads the global options and runs one command
// of src/ctl; only here does a failure become a message on stderr and an exit status.
#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.hpp"
#include "ctl/commands.hpp"
#include "ctl/views.hpp"

namespace {

using namespace mcphd;
using ctl::Exit;

const char* const kHelp =
    "usage: mcp-healthctl [--config FILE] [--redis URL] COMMAND ... [--json]\n"
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
    "  login ID [--scope S] [--timeout D] [--wait D]\n"
    "                                 an oauth2 authorization_code record: print the URL to\n"
    "                                 open, wait for the browser (--timeout, 5 min), seal the\n"
    "                                 refresh token into the record and wait for its check\n"
    "  list                           a table of every server's status\n"
    "  show ID                        the record (secrets redacted), status and tools\n"
    "  tools ID                       the server's tools\n"
    "  tools approve ID|--all [--by NAME] [--yes] [--wait D]\n"
    "                                 approve the tool set shown (its diff against the baseline;\n"
    "                                 --all: every drifted or unapproved server), sign it with\n"
    "                                 the keys of --config, and wait until mcp-healthd reads it\n"
    "  tools diff ID                  the current tools against the approved baseline\n"
    "  tools lint ID                  the lint findings of the current tools (exit 1 if any)\n"
    "  check ID|--all [--wait D]      check now and print the result answering the command\n"
    "  watch                          print live events until Ctrl-C\n"
    "  members                        the live daemons sharing this Redis (cluster.enabled),\n"
    "                                 with their server counts and last heartbeat\n"
    "  probe URL [auth options] [--header 'K: V'] [--timeout D]\n"
    "                                 check a URL once without Redis\n"
    "Every command prints a readable view, or its JSON with --json.\n"
    "Secrets are read from files, the environment or stdin, never from the command line.\n"
    "--config takes the Redis URL, prefix and keys from the daemon's config.\n"
    "Exit status: 0 done (a checked server is healthy), 1 unhealthy or failed, 2 usage.\n";

struct Entry {
  std::string_view name;
  ctl::Command run;
};
constexpr Entry kCommands[] = {
    {"keygen", ctl::keygen}, {"add", ctl::add},         {"edit", ctl::edit},
    {"reseal", ctl::reseal}, {"remove", ctl::remove},   {"list", ctl::list},
    {"show", ctl::show},     {"tools", ctl::tools},     {"check", ctl::check},
    {"watch", ctl::watch},   {"members", ctl::members}, {"probe", ctl::probe},
    {"login", ctl::login}};

ctl::Outcome<Exit> run(std::vector<std::string> args) {
  std::optional<std::string> configPath;
  std::optional<std::string> redisUrl;
  while (!args.empty() && (args[0] == "--config" || args[0] == "--redis")) {
    if (args.size() < 2) {
      return ctl::usageError(args[0] + " needs a value");
    }
    (args[0] == "--config" ? configPath : redisUrl) = args[1];
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty()) {
    return ctl::usageError("missing COMMAND");
  }
  if (args[0] == "--help" || args[0] == "-h") {
    std::fputs(kHelp, stdout);
    return Exit::kOk;
  }
  const std::string name = args[0];
  args.erase(args.begin());
  for (const Entry& command : kCommands) {
    if (command.name != name) {
      continue;
    }
    auto options = ctl::parseOptions(args);
    if (!options) {
      return options.error();
    }
    auto context = ctl::loadContext(configPath, redisUrl);
    if (!context) {
      return context.error();
    }
    return command.run(*context, *options);
  }
  return ctl::usageError("unknown command '" + name + "'");
}

}  // namespace

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    std::fprintf(stderr, "mcp-healthctl: libsodium or libcurl failed to initialise\n");
    return static_cast<int>(Exit::kSoftware);
  }
  mcphd::log::setLevel(mcphd::log::Level::kWarning);
  auto outcome = run(std::move(args));
  curl_global_cleanup();
  if (!outcome) {
    // A message may quote what Redis holds: escaped, like every view.
    const ctl::Failure& f = outcome.error();
    std::fprintf(stderr, "mcp-healthctl: %s\n%s", ctl::printable(f.message).c_str(),
                 f.exit == Exit::kUsage ? "(see mcp-healthctl --help)\n" : "");
    return static_cast<int>(f.exit);
  }
  return static_cast<int>(*outcome);
}
