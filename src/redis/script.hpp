#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "redis/commands.hpp"

namespace mcphd::redis {

// A Lua script run by its SHA1 with EVALSHA: one round trip that carries the arguments only.
// load() (SCRIPT LOAD) learns the SHA1 and puts the script in the server's cache; call it on
// every connection before the first run(). A server that lost its cache since (SCRIPT FLUSH, a
// failover to a replica that never saw it) answers NOSCRIPT, and that call is sent again as EVAL,
// which caches it again. Until a SHA1 is known, run() sends EVAL.
class Script {
 public:
  explicit Script(std::string_view body) : body_(body) {}

  const std::string& body() const { return body_; }
  const std::string& sha() const { return sha_; }

  // `done` gets an error when the server refused it (a Lua syntax error is a bug: say so).
  bool load(Commands& redis, std::function<void(Result<void>)> done);
  // `args` are KEYS (the first `numKeys`) then ARGV. `resend`, when given, is asked before the
  // EVAL a NOSCRIPT answer calls for: false, and `done` gets the NOSCRIPT reply instead (a
  // call that must not take effect any more, e.g. a heartbeat after the member left).
  bool run(Commands& redis, size_t numKeys, std::vector<std::string> args,
           std::function<void(Result<Reply>)> done, std::function<bool()> resend = nullptr);

 private:
  std::string body_;
  std::string sha_;
};

// True for the error reply of a script the server does not have.
bool isNoScript(const Reply& reply);

}  // namespace mcphd::redis
