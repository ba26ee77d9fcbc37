#pragma once

#include "ctl/context.hpp"
#include "ctl/options.hpp"

// mcp-healthctl's subcommands. Each prints a readable view on stdout, or its JSON with --json;
// progress and questions go to stderr. Nothing is written to Redis before every argument checked.
namespace mcphd::ctl {

using Command = Outcome<Exit> (*)(const Context&, const Options&);

// records.cpp: the registry's records.
Outcome<Exit> add(const Context& ctx, const Options& o);     // register, wait for the first check
Outcome<Exit> edit(const Context& ctx, const Options& o);    // change a record, re-seal it
Outcome<Exit> reseal(const Context& ctx, const Options& o);  // re-seal with the active key
Outcome<Exit> remove(const Context& ctx, const Options& o);  // unregister
// An authorization-code record: the interactive flow (ctl/authorize), its refresh token sealed.
Outcome<Exit> login(const Context& ctx, const Options& o);

// status.cpp: what the daemon published, and asking it for a check.
Outcome<Exit> list(const Context& ctx, const Options& o);
Outcome<Exit> show(const Context& ctx, const Options& o);
Outcome<Exit> tools(const Context& ctx, const Options& o);
Outcome<Exit> check(const Context& ctx, const Options& o);
Outcome<Exit> watch(const Context& ctx, const Options& o);
Outcome<Exit> members(const Context& ctx, const Options& o);  // the live daemons of a cluster

// baselines.cpp: tools approve ID|--all, tools diff ID, tools lint ID (`tools` passes them on).
Outcome<Exit> toolsBaseline(const Context& ctx, const Options& o);

// probe.cpp: without Redis.
Outcome<Exit> probe(const Context& ctx, const Options& o);   // one check of a URL
Outcome<Exit> keygen(const Context& ctx, const Options& o);  // a new key for secrets.keys

}  // namespace mcphd::ctl
