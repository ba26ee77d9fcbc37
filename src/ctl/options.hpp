#pragma once

#include <chrono>
#include <istream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "auth/credentials.hpp"
#include "ctl/context.hpp"
#include "registry/record.hpp"

namespace mcphd::ctl {

// A command's arguments after the command name. Every command takes the same option syntax;
// each refuses the positional arguments it does not expect.
struct Options {
  std::map<std::string, std::string> values;   // --name value
  std::vector<std::string> headers;            // --header 'Name: value', in order
  std::vector<std::string> secretHeaderFiles;  // --secret-header-file 'Name:FILE'
  bool json = false;
  bool all = false;
  bool secretStdin = false;
  bool rediscover = false;
  bool yes = false;
  bool unsignedBaseline = false;  // --unsigned: tools approve without the daemon's keys
  std::vector<std::string> positional;

  bool has(const char* name) const { return values.count(name) != 0; }
  std::string get(const char* name, const std::string& fallback = "") const;
};

// Refuses unknown options, a valued option without its value, and a secret on the command line.
Outcome<Options> parseOptions(const std::vector<std::string>& args);

// The one positional argument of `command` (`what` names it in the error).
Outcome<std::string> onlyArgument(const Options& o, const std::string& command,
                                  const std::string& what);
// The one positional argument, a valid server id.
Outcome<std::string> serverIdArgument(const Options& o, const std::string& command);
// Either one valid server id or --all (check, reseal): the id, or "" for --all.
Outcome<std::string> idOrAll(const Options& o, const std::string& command);
// --wait (default 10 s): how long to wait for the daemon's answer.
Outcome<std::chrono::milliseconds> waitOf(const Options& o);

// The auth type and secrets that add and probe take from the options.
struct AuthChoice {
  std::string type = "none";
  auth::Credentials creds;
};
// The secrets given as files, an environment variable or stdin (`in`); nothing else is filled.
Outcome<auth::Credentials> secretsFromOptions(const Options& o, std::istream& in);
// --auth and the secrets it needs.
Outcome<AuthChoice> authFromOptions(const Options& o, std::istream& in);

// The record fields that options set (add, edit, probe): one table, option -> field. An option
// given an empty value ("--token-url ''") removes its field (edit). Checks the values that the
// record validator cannot see as options (stdio, true/false spellings).
Outcome<void> applyFieldOptions(const Options& o, registry::RecordFields& fields);
// Whether the options set record field `field`.
bool setsField(const Options& o, std::string_view field);

}  // namespace mcphd::ctl
