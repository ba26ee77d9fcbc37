#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.hpp"
#include "common/secret.hpp"
#include "loop/process.hpp"
#include "loop/timer.hpp"
#include "mcp/jsonrpc.hpp"
#include "mcp/probe_result.hpp"
#include "mcp/tool_pages.hpp"

namespace mcphd::mcp {

struct StdioOptions {
  std::string serverId;
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, Secret>> env;  // configured: override the inherited ones
  std::vector<std::string> inheritedEnv;            // "NAME=value" from the daemon (a few names)
  std::string cwd;
  int64_t timeoutMs = 10'000;
  size_t maxBody = 8 * 1024 * 1024;  // the longest line (one message) accepted from the server
  ToolLimits toolLimits;
  // Set: stop after the handshake and keep the process (see KeepOpen).
  std::shared_ptr<KeepOpen> keepOpen;
};

// The environment variables a stdio server inherits from the daemon (as the MCP SDK does): the
// daemon's own secrets (a Redis password in the environment) never reach a server.
inline constexpr const char* kInheritedEnvNames[] = {"HOME",  "LOGNAME", "PATH",
                                                     "SHELL", "TERM",    "USER"};

// One check of a stdio server: spawn it, then over newline-delimited JSON-RPC on its stdin and
// stdout: initialize, notifications/initialized, tools/list (every page). The process is then let
// go (shutdown ladder) unless the caller takes it for watching. Destroying the probe lets the
// process go too.
class StdioProbe {
 public:
  StdioProbe(loop::ProcessSpawner& spawner, const Clock& clock, loop::TimerFactory& timers,
             StdioOptions options, std::function<void(ProbeResult)> done);
  ~StdioProbe();
  StdioProbe(const StdioProbe&) = delete;
  StdioProbe& operator=(const StdioProbe&) = delete;

  // Starts; `done` runs once, from the loop (never inline), and may destroy the probe.
  void start();

 private:
  enum class Step { kInitialize, kToolsList };

  void onStdout(std::string_view chunk);
  void onExit(loop::ProcessExit exit);
  void onLine(std::string_view line);
  void onMessage(const Message& m);
  void send(const std::string& message);
  void sendToolsList(const std::string& params);
  void fail(ErrorKind kind, std::string message, bool retriable = false);
  void complete();
  void closed(const std::string& why);
  std::string stderrTail() const;
  std::vector<std::string> secretValues() const;

  loop::ProcessSpawner& spawner_;
  const Clock& clock_;
  StdioOptions options_;
  std::function<void(ProbeResult)> done_;
  std::unique_ptr<loop::Timer> timer_;
  std::unique_ptr<loop::Process> process_;
  ProbeResult result_;
  ToolPages pages_;
  Step step_ = Step::kInitialize;
  std::string expectId_;
  int64_t nextId_ = 1;
  int64_t startUs_ = 0;
  int64_t stepStartUs_ = 0;
  std::string line_;        // an incomplete stdout line
  std::string stderrTail_;  // the last bytes of stderr, for the error message of an early exit
  bool finished_ = false;
  bool watching_ = false;  // keepOpen: the handshake is reported, the process stays
  bool closed_ = false;
};

// The child's environment: the inherited names, then the configured variables (which win).
std::vector<std::string> buildEnvironment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, Secret>>& env);

}  // namespace mcphd::mcp
