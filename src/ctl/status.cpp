// list, show, tools, check, watch: what the daemon published, and asking it for a check.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>

#include "config/config.hpp"
#include "ctl/commands.hpp"
#include "ctl/exchange.hpp"
#include "ctl/views.hpp"

namespace mcphd::ctl {
namespace {

Outcome<void> noArguments(const Options& o, const char* command) {
  if (!o.positional.empty()) {
    return usageError(std::string(command) + " takes no arguments");
  }
  return {};
}

// A GET or HGET whose value may be absent.
Outcome<std::optional<std::string>> optionalString(redis::SyncClient& c,
                                                   const std::vector<std::string>& argv) {
  auto r = query(c, argv);
  if (!r) {
    return r.error();
  }
  if (r->type != redis::Reply::Type::kString) {
    return std::optional<std::string>();
  }
  return std::optional<std::string>(std::move(r->str));
}

volatile sig_atomic_t g_stop = 0;

}  // namespace

Outcome<Exit> list(const Context& ctx, const Options& o) {
  if (auto r = noArguments(o, "list"); !r) {
    return r.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  auto status = query(*c, {"HGETALL", ctx.keys.status()});
  if (!status) {
    return status.error();
  }
  auto members = query(*c, {"SMEMBERS", ctx.keys.servers()});
  if (!members) {
    return members.error();
  }
  ServerRows rows;
  for (const auto& m : members->elements) {
    rows[m.str].registered = true;
  }
  for (size_t i = 0; i + 1 < status->elements.size(); i += 2) {
    rows[status->elements[i].str].snapshot = status->elements[i + 1].str;
  }
  const std::string out = o.json ? listJson(rows) + "\n" : listTable(rows, std::time(nullptr));
  std::fputs(out.c_str(), stdout);
  return Exit::kOk;
}

Outcome<Exit> members(const Context& ctx, const Options& o) {
  if (auto r = noArguments(o, "members"); !r) {
    return r.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  using T = redis::Reply::Type;
  // Redis's clock, as the members' heartbeats use it.
  auto time = query(*c, {"TIME"});
  if (!time) {
    return time.error();
  }
  if (time->type != T::kArray || time->elements.size() != 2) {
    return failure("Redis: TIME gave an unexpected reply");
  }
  const int64_t nowMs = std::strtoll(time->elements[0].str.c_str(), nullptr, 10) * 1000 +
                        std::strtoll(time->elements[1].str.c_str(), nullptr, 10) / 1000;
  auto live = query(*c, {"ZRANGEBYSCORE", ctx.keys.members(), "(" + std::to_string(nowMs), "+inf",
                         "WITHSCORES", "LIMIT", "0", "1000"});
  if (!live) {
    return live.error();
  }
  if (live->type == T::kError) {
    return failure("Redis: " + ctx.keys.members() + ": " + live->str);
  }
  std::vector<MemberRow> rows;
  for (size_t i = 0; i + 1 < live->elements.size(); i += 2) {
    MemberRow m;
    m.id = live->elements[i].str;
    const double expires = std::strtod(live->elements[i + 1].str.c_str(), nullptr);
    if (!config::validMemberId(m.id) || !std::isfinite(expires) || expires > 1e15) {
      continue;  // not a daemon's announcement: the daemons ignore it too
    }
    m.expiresAtMs = static_cast<int64_t>(expires);
    auto h = query(
        *c, {"HMGET", ctx.keys.member(m.id), "heartbeat_at", "started_at", "owned", "version"});
    if (!h) {
      return h.error();
    }
    if (h->type == T::kArray && h->elements.size() == 4) {
      m.heartbeatAt = h->elements[0].str;
      m.startedAt = h->elements[1].str;
      m.owned = h->elements[2].str;
      m.version = h->elements[3].str;
    }
    rows.push_back(std::move(m));
  }
  std::sort(rows.begin(), rows.end(),
            [](const MemberRow& x, const MemberRow& y) { return x.id < y.id; });
  const std::string out = o.json ? membersJson(rows, nowMs) + "\n" : membersTable(rows, nowMs);
  std::fputs(out.c_str(), stdout);
  return Exit::kOk;
}

Outcome<Exit> show(const Context& ctx, const Options& o) {
  auto id = serverIdArgument(o, "show");
  if (!id) {
    return id.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  ServerView v;
  v.id = *id;
  v.recordKey = ctx.keys.server(*id);
  auto record = query(*c, {"HGETALL", v.recordKey});
  if (!record) {
    return record.error();
  }
  for (size_t i = 0; i + 1 < record->elements.size(); i += 2) {
    v.record.emplace_back(record->elements[i].str, record->elements[i + 1].str);
  }
  auto snapshot = optionalString(*c, {"HGET", ctx.keys.status(), *id});
  if (!snapshot) {
    return snapshot.error();
  }
  auto tools = optionalString(*c, {"GET", ctx.keys.tools(*id)});
  if (!tools) {
    return tools.error();
  }
  v.snapshot = std::move(snapshot.value());
  v.tools = std::move(tools.value());
  const std::string out = o.json ? showJson(v) + "\n" : showText(v);
  std::fputs(out.c_str(), stdout);
  return Exit::kOk;
}

Outcome<Exit> tools(const Context& ctx, const Options& o) {
  if (!o.positional.empty() &&
      (o.positional[0] == "approve" || o.positional[0] == "diff" || o.positional[0] == "lint")) {
    return toolsBaseline(ctx, o);
  }
  auto id = serverIdArgument(o, "tools");
  if (!id) {
    return id.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  auto stored = optionalString(*c, {"GET", ctx.keys.tools(*id)});
  if (!stored) {
    return stored.error();
  }
  if (!stored.value()) {
    return failure("no tools known for " + *id + " yet");
  }
  if (o.json) {
    std::printf("%s\n", asJson(**stored).c_str());
    return Exit::kOk;
  }
  auto table = toolsTable(**stored);
  if (!table) {
    return table.error();
  }
  std::fputs(table->c_str(), stdout);
  return Exit::kOk;
}

Outcome<Exit> check(const Context& ctx, const Options& o) {
  auto only = idOrAll(o, "check");
  if (!only) {
    return only.error();
  }
  auto wait = waitOf(o);
  if (!wait) {
    return wait.error();
  }
  // --all: every health message answering it, until its command_done says all servers have one.
  const size_t expected = o.all ? SIZE_MAX : 1;
  auto answers = sendAndWait(ctx, "check", o.all ? "*" : *only, expected, *wait);
  if (!answers) {
    return answers.error();
  }
  return reportAnswers(*answers, answers->done ? answers->messages.size() : expected, o.json,
                       Success::kHealthy);
}

Outcome<Exit> watch(const Context& ctx, const Options& o) {
  if (auto r = noArguments(o, "watch"); !r) {
    return r.error();
  }
  auto sub = ctx.connect();
  if (!sub) {
    return sub.error();
  }
  if (auto r = query(*sub, {"SUBSCRIBE", ctx.keys.healthChannel(), ctx.keys.toolsChannel()}); !r) {
    return r.error();
  }
  signal(SIGINT, [](int) { g_stop = 1; });
  signal(SIGTERM, [](int) { g_stop = 1; });
  while (g_stop == 0) {
    auto m = sub->nextMessage(std::chrono::steady_clock::now() + std::chrono::milliseconds(250));
    if (!m) {
      return failure("Redis: " + m.error().message);
    }
    if (m.value()) {
      const std::string& payload = m.value()->second;
      std::printf("%s\n", o.json ? asJson(payload).c_str() : messageLine(payload).c_str());
      std::fflush(stdout);
    }
  }
  return Exit::kOk;
}

}  // namespace mcphd::ctl
