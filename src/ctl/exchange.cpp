#include "ctl/exchange.hpp"

#include <simdjson.h>

#include <cstdio>
#include <iostream>

#include "auth/credentials.hpp"
#include "ctl/views.hpp"

namespace mcphd::ctl {
namespace {

using Clock = std::chrono::steady_clock;

struct Message {
  std::string type;
  std::string status;
  std::string approval;  // tools_approval
  bool answers = false;
};

// The fields of a published message that matter to whoever waits for `commandId`.
Message inspect(const std::string& payload, const std::string& commandId) {
  Message m;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(payload).get(root) != simdjson::SUCCESS) {
    return m;
  }
  std::string_view s;
  if (root["type"].get_string().get(s) == simdjson::SUCCESS) {
    m.type = s;
  }
  if (root["status"].get_string().get(s) == simdjson::SUCCESS) {
    m.status = s;
  }
  if (root["tools_approval"].get_string().get(s) == simdjson::SUCCESS) {
    m.approval = s;
  }
  simdjson::dom::array ids;
  if (root["command_ids"].get_array().get(ids) == simdjson::SUCCESS) {
    for (auto id : ids) {
      m.answers = m.answers || (id.get_string().get(s) == simdjson::SUCCESS && s == commandId);
    }
  }
  m.answers =
      m.answers || (root["command_id"].get_string().get(s) == simdjson::SUCCESS && s == commandId);
  return m;
}

}  // namespace

Outcome<Answers> sendAndWait(const Context& ctx, std::string_view op, std::string_view serverId,
                             size_t expected, std::chrono::milliseconds wait) {
  // Subscribed before the command is sent: its answer cannot be missed.
  auto sub = ctx.connect();
  if (!sub) {
    return sub.error();
  }
  if (auto r = query(*sub, {"SUBSCRIBE", ctx.keys.healthChannel()}); !r) {
    return r.error();
  }
  auto c = ctx.connect();
  if (!c) {
    return c.error();
  }
  auto id = query(*c, ctx.keys.addCommand(op, serverId));
  if (!id) {
    return id.error();
  }
  Answers out;
  out.commandId = id->str;
  const auto deadline = Clock::now() + wait;
  while (out.messages.size() < expected) {
    auto next = sub->nextMessage(deadline);
    if (!next) {
      return failure("Redis: " + next.error().message);
    }
    if (!next.value()) {
      break;  // the wait is over
    }
    std::string& payload = next.value()->second;
    const Message m = inspect(payload, out.commandId);
    if (!m.answers) {
      continue;
    }
    if (m.type == "command_done") {
      out.done = true;  // every server has answered (check --all): the end, not an answer
      break;
    }
    out.messages.push_back(std::move(payload));
    if (m.type == "command_error") {
      break;
    }
  }
  return out;
}

Outcome<Exit> reportAnswers(const Answers& answers, size_t expected, bool json, Success success) {
  bool healthy = true;
  for (const auto& m : answers.messages) {
    std::printf("%s\n", json ? asJson(m).c_str() : messageLine(m).c_str());
    const Message inspected = inspect(m, answers.commandId);
    // A server removed while a check waited answers the check with its removal: not healthy.
    healthy = healthy && (success == Success::kRemoved    ? inspected.type == "removed"
                          : success == Success::kApproved ? inspected.approval == "approved"
                                                          : inspected.status == "healthy");
  }
  if (answers.messages.size() < expected) {
    return failure("no answer in time (is mcp-healthd running against this Redis?)");
  }
  return healthy ? Exit::kOk : Exit::kFailed;
}

Outcome<registry::RecordFields> readRecord(redis::SyncClient& c, const Context& ctx,
                                           const std::string& id) {
  auto r = query(c, {"HGETALL", ctx.keys.server(id)});
  if (!r) {
    return r.error();
  }
  if (r->type != redis::Reply::Type::kArray) {
    return failure(ctx.keys.server(id) + " is not a hash: " + r->str);
  }
  registry::RecordFields f;
  for (size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    f[r->elements[i].str] = r->elements[i + 1].str;
  }
  return f;
}

bool confirm(const std::string& question) {
  std::fprintf(stderr, "%s [y/N] ", question.c_str());
  std::fflush(stderr);
  std::string line;
  return std::getline(std::cin, line) && (line == "y" || line == "Y" || line == "yes");
}

std::string valueOr(const registry::RecordFields& fields, const char* name, const char* none) {
  auto it = fields.find(name);
  return it == fields.end() || it->second.empty() ? none : it->second;
}

std::string describeBound(const registry::RecordFields& fields) {
  std::string out;
  for (const char* name : auth::kBoundFieldNames) {
    if (std::string v = valueOr(fields, name, ""); !v.empty()) {
      out += std::string("  ") + name + ": " + printable(v) + "\n";
    }
  }
  return out.empty() ? "  (no destination fields)\n" : out;
}

}  // namespace mcphd::ctl
