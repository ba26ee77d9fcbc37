// tools approve, tools diff, tools lint: tool baselines (docs/PROTOCOL.md, "Tool baselines").
#include "ctl/baselines.hpp"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>

#include "approval/redis_baseline_store.hpp"
#include "auth/key_ring.hpp"
#include "baseline/diff.hpp"
#include "baseline/lint.hpp"
#include "common/json_writer.hpp"
#include "ctl/commands.hpp"
#include "ctl/exchange.hpp"
#include "ctl/views.hpp"

namespace mcphd::ctl {

Outcome<SnapshotTools> snapshotTools(std::string_view id, std::string_view json) {
  const std::string what = "the tool snapshot of " + printable(id);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view hash;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS ||
      root["tools_hash"].get_string().get(hash) != simdjson::SUCCESS) {
    return failure(what + " is not a tool snapshot (no tools_hash)");
  }
  // The same decoder as a tools/list result: {"tools":[…]} with other keys beside it.
  auto page = mcp::decodeToolsListResult(json);
  if (!page) {
    return failure(what + " holds no valid tool list: " + page.error().message);
  }
  SnapshotTools out;
  out.toolsHash = std::string(hash);
  std::string_view mac;
  if (root["mac"].get_string().get(mac) == simdjson::SUCCESS) {
    out.mac = std::string(mac.substr(0, 256));
  }
  out.tools = std::move(page->tools);
  // Hashed again here: only the tool set that gives the published tools_hash is approved.
  const baseline::Baseline b = baseline::fromTools(out.tools, "", "");
  if (b.toolsHash != out.toolsHash) {
    return failure(what + " does not match its tools_hash (" + printable(out.toolsHash) +
                   "; its tools hash to " + b.toolsHash + "): nothing is approved from it");
  }
  return out;
}

namespace {

std::string names(const std::vector<std::string>& list) {
  std::string out = "[";
  for (size_t i = 0; i < list.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    json::appendString(out, list[i]);
  }
  return out + "]";
}

}  // namespace

std::string driftText(std::string_view id, const baseline::Drift& drift) {
  if (drift.empty()) {
    return printable(id) + ": the tools are the approved ones\n";
  }
  std::string out;
  for (const auto& n : drift.added) {
    out += "  + " + printable(n) + "  (added)\n";
  }
  for (const auto& n : drift.removed) {
    out += "  - " + printable(n) + "  (removed)\n";
  }
  for (const auto& c : drift.changed) {
    std::string keys;
    for (const auto& k : c.keys) {
      keys += (keys.empty() ? "" : ", ") + printable(k);
    }
    out += "  ~ " + printable(c.name) + "  (changed: " +
           (keys.empty() ? std::string("the approved definition is not at hand") : keys) + ")\n";
  }
  return out;
}

std::string driftJson(const baseline::Drift& drift) {
  std::string out = "{\"added\":" + names(drift.added) + ",\"removed\":" + names(drift.removed) +
                    ",\"changed\":[";
  for (size_t i = 0; i < drift.changed.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    out += "{\"name\":";
    json::appendString(out, drift.changed[i].name);
    out += ",\"keys\":" + names(drift.changed[i].keys) + "}";
  }
  return out + "]}";
}

std::string definitionsText(const baseline::Drift& drift, const std::vector<mcp::Tool>& tools) {
  std::vector<std::string> shown = drift.added;
  for (const auto& c : drift.changed) {
    shown.push_back(c.name);
  }
  std::string out;
  for (const auto& name : shown) {
    for (const auto& t : tools) {
      if (t.name == name) {
        out += "    " + printable(name) + ": " + printable(t.raw().substr(0, 2000)) +
               (t.raw().size() > 2000 ? " ... (" + std::to_string(t.raw().size()) + " bytes)"
                                      : std::string()) +
               "\n";
        break;  // a name listed twice: its first definition, as the diff compares
      }
    }
  }
  return out;
}

std::string findingsText(const std::vector<baseline::Finding>& findings) {
  std::string out;
  for (const auto& f : findings) {
    out += "  " + printable(f.tool) + "  " + f.code + "  " + printable(f.detail) + "\n";
  }
  return out;
}

std::string findingsJson(const std::vector<baseline::Finding>& findings) {
  std::string out;
  baseline::appendFindingsJson(out, findings, findings.size());
  return out;
}

namespace {

// The baseline record of `id` as the daemon would read it: valid, absent, or not valid (why).
struct StoredBaseline {
  bool present = false;
  std::optional<baseline::Baseline> valid;
  std::string reason;  // why a present record is not valid
};

// Through the daemon's read script: the size is bounded inside Redis (whoever can write to Redis
// must not make mcp-healthctl read without bound either).
Outcome<StoredBaseline> readBaseline(redis::SyncClient& c, const Context& ctx,
                                     const std::string& id) {
  std::vector<std::string> argv = {"EVAL", approval::baselineReadScript(), "1"};
  for (auto& a : approval::baselineReadArgs(ctx.keys.baseline(id), true)) {
    argv.push_back(std::move(a));
  }
  auto r = c.command(argv);
  redis::Reply reply;
  if (r) {
    reply = std::move(*r);
  } else {
    // SyncClient gives an error reply as an Error: the script's own (too large, not a hash)
    // describe the record; any other stays an error.
    reply.type = redis::Reply::Type::kError;
    reply.str = r.error().message;
  }
  const auth::KeyRing* keys = ctx.cfg && !ctx.cfg->keys.empty() ? &ctx.cfg->keys : nullptr;
  auto record = approval::recordFromRead(id, reply, keys);
  if (!record) {
    return failure("cannot read " + ctx.keys.baseline(id) + ": " + record.error().message);
  }
  StoredBaseline out;
  out.present = record->state != baseline::Record::State::kAbsent;
  if (record->state == baseline::Record::State::kValid) {
    out.valid = std::move(record->baseline);
  } else {
    out.reason = std::move(record->reason);
  }
  return out;
}

Outcome<SnapshotTools> currentTools(redis::SyncClient& c, const Context& ctx,
                                    const std::string& id) {
  auto r = query(c, {"GET", ctx.keys.tools(id)});
  if (!r) {
    return r.error();
  }
  if (r->type != redis::Reply::Type::kString) {
    return failure("no complete tool list of " + id +
                   " is known yet (is mcp-healthd checking it, and does it list tools?)");
  }
  return snapshotTools(id, r->str);
}

std::string describeBaseline(const std::string& id, const StoredBaseline& s) {
  if (s.valid) {
    return printable(id) + ": approved " + printable(s.valid->approvedAt) + " by " +
           printable(s.valid->approvedBy) + " (tools_hash " + s.valid->toolsHash + ", " +
           std::to_string(s.valid->tools.size()) + " tools)\n";
  }
  if (s.present) {
    return printable(id) + ": its baseline is not valid (" + printable(s.reason) +
           "): treated as none\n";
  }
  return printable(id) + ": no baseline\n";
}

// Everything listed as added: what approving a server without a (valid) baseline approves.
baseline::Drift allAdded(const std::vector<mcp::Tool>& tools) {
  baseline::Drift d;
  for (const auto& t : tools) {
    d.added.push_back(t.name);
  }
  std::sort(d.added.begin(), d.added.end());
  d.added.erase(std::unique(d.added.begin(), d.added.end()), d.added.end());
  return d;
}

std::string whoApproves(const Options& o) {
  if (o.has("--by")) {
    return o.get("--by");
  }
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? user : "unknown";
}

// Approves the tool set of `id` it shows (its hash), asking first unless --yes; then asks the
// daemon to read it (op baseline) and waits for the health message that says so.
Outcome<Exit> approveOne(const Context& ctx, const Options& o, redis::SyncClient& c,
                         const std::string& id, std::chrono::milliseconds wait) {
  auto current = currentTools(c, ctx, id);
  if (!current) {
    return current.error();
  }
  auto stored = readBaseline(c, ctx, id);
  if (!stored) {
    return stored.error();
  }
  const auth::KeyRing* keys = ctx.cfg && !ctx.cfg->keys.empty() ? &ctx.cfg->keys : nullptr;
  if (keys != nullptr) {
    // Only a tool set the daemon saw: whoever can write to Redis can write a snapshot too.
    auto ok =
        current->mac.empty()
            ? Result<void>(makeError("it has none"))
            : keys->verifyMac(baseline::kSnapshotMacContext,
                              baseline::snapshotMacMessage(id, current->toolsHash), current->mac);
    if (!ok) {
      return failure("the tool snapshot of " + printable(id) +
                     " carries no valid MAC of mcp-healthd's keys (" + ok.error().message +
                     "): it was not written by mcp-healthd with the keys of --config; not "
                     "approved (wait for its next tool change, or restart mcp-healthd)");
    }
  }
  std::fputs(describeBaseline(id, *stored).c_str(), stderr);
  if (stored->valid && stored->valid->toolsHash == current->toolsHash) {
    // Already in Redis: the daemon may not have read it yet.
    std::fprintf(stderr, "%s: already approved; asking mcp-healthd to read it\n",
                 printable(id).c_str());
    auto answers = sendAndWait(ctx, "baseline", id, 1, wait);
    if (!answers) {
      return answers.error();
    }
    return reportAnswers(*answers, 1, o.json, Success::kApproved);
  }
  const baseline::Drift drift =
      stored->valid ? baseline::diff(*stored->valid, current->tools) : allAdded(current->tools);
  std::fputs(driftText(id, drift).c_str(), stderr);
  std::fputs(definitionsText(drift, current->tools).c_str(), stderr);
  const auto findings = baseline::lintTools(current->tools);
  if (!findings.empty()) {
    std::fprintf(stderr, "%s: the lint finds this in the tools to approve:\n%s",
                 printable(id).c_str(), findingsText(findings).c_str());
  }
  const std::string question = "Approve these " + std::to_string(current->tools.size()) +
                               " tools of " + printable(id) + " (tools_hash " + current->toolsHash +
                               ")?";
  if (!o.yes && !confirm(question)) {
    return failure("not approved: " + id);
  }
  baseline::Baseline b = baseline::fromTools(
      current->tools, json::rfc3339Millis(std::time(nullptr) * 1000LL), whoApproves(o));
  if (keys != nullptr) {
    if (auto s = baseline::sign(id, b, *keys); !s) {
      return failure("cannot sign the baseline of " + id + ": " + s.error().message);
    }
  }
  std::vector<std::string> hset = {"HSET", ctx.keys.baseline(id)};
  for (auto& [field, value] : baseline::toFields(b)) {
    hset.push_back(std::move(field));
    hset.push_back(std::move(value));
  }
  auto written = c.transaction({{"DEL", ctx.keys.baseline(id)}, std::move(hset)});
  if (!written) {
    return failure("Redis: cannot write " + ctx.keys.baseline(id) + ": " + written.error().message);
  }
  if (written->type != redis::Reply::Type::kArray) {
    return failure("Redis refused to write " + ctx.keys.baseline(id) + ": " + written->str);
  }
  for (const auto& e : written->elements) {
    if (e.type == redis::Reply::Type::kError) {
      return failure("Redis refused to write " + ctx.keys.baseline(id) + ": " + e.str);
    }
  }
  std::fprintf(stderr, "%s: approved; asking mcp-healthd to read it\n", printable(id).c_str());
  auto answers = sendAndWait(ctx, "baseline", id, 1, wait);
  if (!answers) {
    return answers.error();
  }
  return reportAnswers(*answers, 1, o.json, Success::kApproved);
}

// The servers --all approves: those whose published status says drifted or unapproved.
Outcome<std::vector<std::string>> notApproved(redis::SyncClient& c, const Context& ctx) {
  auto r = query(c, {"HGETALL", ctx.keys.status()});
  if (!r) {
    return r.error();
  }
  std::vector<std::string> ids;
  simdjson::dom::parser parser;
  for (size_t i = 0; r->type == redis::Reply::Type::kArray && i + 1 < r->elements.size(); i += 2) {
    simdjson::dom::element root;
    std::string_view approval;
    if (parser.parse(r->elements[i + 1].str).get(root) == simdjson::SUCCESS &&
        root["tools_approval"].get_string().get(approval) == simdjson::SUCCESS &&
        (approval == "drifted" || approval == "unapproved")) {
      ids.push_back(r->elements[i].str);
    }
  }
  return ids;
}

Outcome<Exit> approve(const Context& ctx, const Options& o) {
  Options rest = o;
  rest.positional.erase(rest.positional.begin());
  auto only = idOrAll(rest, "tools approve");
  if (!only) {
    return only.error();
  }
  if (!(ctx.cfg && !ctx.cfg->keys.empty()) && !o.unsignedBaseline) {
    return usageError(
        "tools approve signs the baseline with the daemon's keys: pass --config with its secrets "
        "section (or --unsigned for a daemon that has no keys; one that has keys would treat an "
        "unsigned baseline as none)");
  }
  if (const std::string by = whoApproves(o); by.empty() || by.size() > 128 || printable(by) != by) {
    return usageError("--by: 1 to 128 printable characters (who approves, as the record says)");
  }
  auto wait = waitOf(o);
  if (!wait) {
    return wait.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  if (!o.all) {
    return approveOne(ctx, o, *c, *only, *wait);
  }
  auto ids = notApproved(*c, ctx);
  if (!ids) {
    return ids.error();
  }
  if (ids->empty()) {
    std::fprintf(stderr, "every server with a baseline policy is approved\n");
    return Exit::kOk;
  }
  Exit worst = Exit::kOk;
  for (const auto& id : *ids) {
    auto done = approveOne(ctx, o, *c, id, *wait);
    if (!done) {
      std::fprintf(stderr, "%s\n", printable(done.error().message).c_str());
      worst = Exit::kFailed;
    } else if (*done != Exit::kOk) {
      worst = *done;
    }
  }
  return worst;
}

// What tools diff and tools lint look at: the server named after the sub-command, a connection,
// and its current tools.
struct Target {
  std::string id;
  redis::SyncClient c;
  SnapshotTools current;
};

Outcome<Target> target(const Context& ctx, const Options& o, const std::string& command) {
  Options rest = o;
  rest.positional.erase(rest.positional.begin());
  auto id = serverIdArgument(rest, command);
  if (!id) {
    return id.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  auto current = currentTools(*c, ctx, *id);
  if (!current) {
    return current.error();
  }
  return Target{std::move(*id), std::move(*c), std::move(*current)};
}

Outcome<Exit> diffCommand(const Context& ctx, const Options& o) {
  auto t = target(ctx, o, "tools diff");
  if (!t) {
    return t.error();
  }
  auto stored = readBaseline(t->c, ctx, t->id);
  if (!stored) {
    return stored.error();
  }
  const baseline::Drift drift =
      stored->valid ? baseline::diff(*stored->valid, t->current.tools) : allAdded(t->current.tools);
  if (o.json) {
    std::string out = "{\"server_id\":";
    json::appendString(out, t->id);
    out += ",\"tools_hash\":";
    json::appendString(out, t->current.toolsHash);
    out += ",\"baseline\":";
    if (stored->valid) {
      out += "{\"tools_hash\":";
      json::appendString(out, stored->valid->toolsHash);
      out += ",\"approved_at\":";
      json::appendString(out, stored->valid->approvedAt);
      out += ",\"approved_by\":";
      json::appendString(out, stored->valid->approvedBy);
      // Verified only with the keys of --config: without them anyone's record reads as valid.
      out += ",\"verified\":";
      out += ctx.cfg && !ctx.cfg->keys.empty() ? "true" : "false";
      out += "}";
    } else if (stored->present) {
      out += "{\"invalid\":";
      json::appendString(out, stored->reason);
      out += "}";
    } else {
      out += "null";
    }
    out += ",\"drift\":" + driftJson(drift) + "}\n";
    std::fputs(out.c_str(), stdout);
  } else {
    std::fputs((describeBaseline(t->id, *stored) + driftText(t->id, drift)).c_str(), stdout);
  }
  return Exit::kOk;
}

Outcome<Exit> lintCommand(const Context& ctx, const Options& o) {
  auto t = target(ctx, o, "tools lint");
  if (!t) {
    return t.error();
  }
  size_t total = 0;
  const auto findings = baseline::lintTools(t->current.tools, &total);
  if (o.json) {
    std::string out = "{\"server_id\":";
    json::appendString(out, t->id);
    out += ",\"findings\":" + findingsJson(findings) +
           ",\"findings_count\":" + std::to_string(total) + "}\n";
    std::fputs(out.c_str(), stdout);
  } else if (findings.empty()) {
    std::printf("%s: no findings in %zu tools\n", printable(t->id).c_str(),
                t->current.tools.size());
  } else {
    std::printf("%s: %zu findings\n%s", printable(t->id).c_str(), total,
                findingsText(findings).c_str());
  }
  // Like a linter: 1 when it found something (shadowed_name needs the daemon: not here).
  return findings.empty() ? Exit::kOk : Exit::kFailed;
}

}  // namespace

Outcome<Exit> toolsBaseline(const Context& ctx, const Options& o) {
  const std::string& sub = o.positional.at(0);
  if (sub == "approve") {
    return approve(ctx, o);
  }
  if (sub == "diff") {
    return diffCommand(ctx, o);
  }
  return lintCommand(ctx, o);
}

}  // namespace mcphd::ctl
