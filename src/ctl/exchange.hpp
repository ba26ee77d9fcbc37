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

// Subscribes to the health channel, adds `fields` (op, server_id, ...) to the command stream and
// collects the messages that answer it until `expected` arrived, a command_error or
// command_done ends them, or `wait` passes.
Outcome<Answers> sendAndWait(const Context& ctx, const std::vector<std::string>& fields,
                             size_t expected, std::chrono::milliseconds wait);

// Prints the answers (one line each, or their JSON) and says how the command ends: kOk when at
// least `expected` arrived and all are healthy; a failure when none came in time.
Outcome<Exit> reportAnswers(const Answers& answers, size_t expected, bool json);

// The record of server `id` (empty when there is none).
Outcome<registry::RecordFields> readRecord(redis::SyncClient& c, const Context& ctx,
                                           const std::string& id);

}  // namespace mcphd::ctl
