#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/secret.hpp"
#include "loop/process.hpp"
#include "loop/timer.hpp"
#include "mcp/transport.hpp"

namespace mcphd::mcp {

struct StdioOptions {
  std::string serverId;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, Secret>> env;  // configured: override the inherited ones
  std::vector<std::string> inheritedEnv;            // "NAME=value" from the daemon (a few names)
  std::string cwd;
  size_t maxBody = 8 * 1024 * 1024;  // the longest line (one message) accepted from the server
};

// The environment variables a stdio server inherits from the daemon (as the MCP SDK does): the
// daemon's own secrets (a Redis password in the environment) never reach a server.
inline constexpr const char* kInheritedEnvNames[] = {"HOME",  "LOGNAME", "PATH",
                                                     "SHELL", "TERM",    "USER"};

// The child's environment: the inherited names, then the configured variables (which win).
std::vector<std::string> buildEnvironment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, Secret>>& env);

// The stdio transport: the server is a child process; newline-delimited JSON-RPC on its stdin and
// stdout; its stderr's last bytes explain an early exit. Closing (or destroying the transport)
// lets the process go through the spawner's shutdown ladder.
class StdioTransport final : public Transport {
 public:
  StdioTransport(loop::ProcessSpawner& spawner, const Clock& clock, loop::TimerFactory& timers,
                 StdioOptions options);
  ~StdioTransport() override;

  std::string_view offeredProtocolVersion() const override;
  bool acceptsLegacyProtocol() const override { return true; }
  void open(TransportListener& listener) override;
  void send(Outgoing message) override;
  void negotiated(std::string_view) override { initialized_ = true; }
  void listen() override { listening_ = true; }
  void close(std::function<void()> done) override;
  int64_t connectUs() const override { return connectUs_; }

 private:
  void onStdout(std::string_view chunk);
  void onLine(std::string_view line);
  void onExit(loop::ProcessExit exit);
  // Reports a failure: onError before listen(), onLost after; at most once.
  void failed(ErrorKind kind, std::string message);
  // Runs `event` from the loop (what happens inside a call of the session waits for it).
  void later(std::function<void()> event);
  std::string stderrTail() const;
  std::vector<std::string> secretLines() const;

  loop::ProcessSpawner& spawner_;
  const Clock& clock_;
  StdioOptions options_;
  std::unique_ptr<loop::Timer> timer_;
  std::vector<std::function<void()>> pending_;  // events for `timer_` to run
  std::unique_ptr<loop::Process> process_;
  TransportListener* listener_ = nullptr;
  std::string line_;        // an incomplete stdout line
  std::string stderrTail_;  // the last bytes of stderr, for the error message of an early exit
  std::string_view lastRequest_ = "initialize";  // what the server has yet to answer
  int64_t connectUs_ = 0;
  bool initialized_ = false;
  bool listening_ = false;
  bool failed_ = false;
  bool closed_ = false;
};

}  // namespace mcphd::mcp
