#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "ctl/context.hpp"
#include "registry/record.hpp"

// How mcp-healthctl talks to the daemon and reads the registry: a command on the command stream
// and the messages that answer it; a record as stored.
namespace mcphd::ctl {

struct Answers {
  std::string commandId;              // the stream entry id of the command
  std::vector<std::string> messages;  // health/removed/command_error messages answering it
  bool done = false;                  // a command_done ended them (check --all)
};

// Subscribes to the health channel, adds command `op` of `serverId` (or "*") to the command stream
// and collects the messages that answer it until `expected` arrived, a command_error or
// command_done ends them, or `wait` passes.
Outcome<Answers> sendAndWait(const Context& ctx, std::string_view op, std::string_view serverId,
                             size_t expected, std::chrono::milliseconds wait);

// What a command waits for: a health message saying healthy, the server's removal, or a health
// message saying its tool set is approved (tools approve).
enum class Success { kHealthy, kRemoved, kApproved };

// Prints the answers (one line each, or their JSON) and says how the command ends: kOk when at
// least `expected` arrived and each is a `success`; a failure when they did not come in time.
Outcome<Exit> reportAnswers(const Answers& answers, size_t expected, bool json, Success success);

// The record of server `id` (empty when there is none).
Outcome<registry::RecordFields> readRecord(redis::SyncClient& c, const Context& ctx,
                                           const std::string& id);

// Field `name` of a record, `none` when absent or empty.
std::string valueOr(const registry::RecordFields& fields, const char* name, const char* none);
// The bound fields of a record (where its secrets may go) as "  name: value" lines, escaped, for
// the operator to check before sealing.
std::string describeBound(const registry::RecordFields& fields);
// Asks `question` on the terminal (stderr, stdin); true for "y" or "yes".
bool confirm(const std::string& question);

}  // namespace mcphd::ctl
