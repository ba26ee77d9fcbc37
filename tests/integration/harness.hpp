#pragma once

// Test harness: real processes (redis-server, node MCP servers, the daemon) on free loopback
// ports in a temporary folder, always stopped when the test ends.

#include <hiredis/hiredis.h>
#include <simdjson.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

// Not included: its mcphd::Clock would clash with itest::Clock where tests use both namespaces.
namespace mcphd::loop {
class UvLoop;
}

namespace mcphd::itest {

using Clock = std::chrono::steady_clock;

int freePort();
bool waitForPort(int port, std::chrono::milliseconds timeout);

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

class Process {
 public:
  // Starts argv[0] (looked up in PATH) with extra environment entries; stdout and stderr go to
  // `logPath`.
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
          const std::string& logPath);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  // Sends `sig` and waits up to `timeout` for the exit; returns the exit status (or 128+signal),
  // or nullopt if it did not exit in time.
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout);
  std::optional<int> wait(std::chrono::milliseconds timeout);
  bool running();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

std::string readFile(const std::string& path);

// The pids of the running processes whose environment holds `entry` ("NAME=value"): how a test
// finds the stdio servers (and their children) it gave a marker to.
std::vector<int> processesWithEnv(const std::string& entry);
// Polls processesWithEnv until it is empty; false if processes are still there at `timeout`.
bool waitNoProcessWithEnv(const std::string& entry, std::chrono::milliseconds timeout);

// The path of server-everything's entry point (node <path> stdio|sse|streamableHttp).
std::string everythingScript();

// Runs mcp-healthctl with `args` to completion (30 s at most), output to dir/out; its exit status.
int runCtl(const TempDir& dir, std::vector<std::string> args, const std::string& out);
void writeFile(const std::string& path, const std::string& content);
// Polls `done` every 20 ms until it holds; false if it still does not at `timeout`.
bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
// Runs `loop` until `done` holds (polled every 10 ms) or 10 s have passed; whether it holds.
bool runUntil(mcphd::loop::UvLoop& loop, const std::function<bool()>& done);
// Waits until `text` appears `count` times in the file at `path` (a log).
bool waitForLog(const std::string& path, const std::string& text, size_t count,
                std::chrono::milliseconds timeout);

// One server of a test's config: its id, its url (or a command for stdio, in `extra`) and any
// other settings as YAML lines ("timeout: 3s"), indented by the fixture.
struct ServerEntry {
  std::string id;
  std::string url;
  std::vector<std::string> extra;
};

// A daemon config from a few fields, written as YAML by TestDaemon.
struct DaemonConfig {
  std::string redisUrl;  // empty: no redis section (--once, --check-config)
  std::vector<std::string> defaults = {"interval: 1s", "timeout: 800ms"};  // YAML lines
  std::vector<ServerEntry> servers;
  std::vector<std::string> extra;  // top-level YAML lines (metrics:, egress:, ...)
  std::string yaml() const;
};

// The daemon under test: writes `config` to <dir>/<name>.yaml and starts mcp-healthd on it, its
// output in <dir>/<name>.log; stopped (SIGTERM, then SIGKILL) when the test ends unless it was.
class TestDaemon {
 public:
  TestDaemon(const TempDir& dir, const DaemonConfig& config, std::vector<std::string> args = {},
             std::map<std::string, std::string> env = {}, const std::string& name = "daemon");
  // When a REQUIRE failed (an exception is unwinding), the end of its log goes to stderr: the
  // temp dir is gone by the time anyone reads the CI output.
  ~TestDaemon();
  TestDaemon(const TestDaemon&) = delete;
  TestDaemon& operator=(const TestDaemon&) = delete;
  const std::string& configPath() const { return configPath_; }
  const std::string& logPath() const { return logPath_; }
  Process& process() { return *proc_; }
  pid_t pid() const { return proc_->pid(); }
  bool running() { return proc_->running(); }
  std::optional<int> stop(int sig, std::chrono::milliseconds timeout) {
    return proc_->stop(sig, timeout);
  }
  // Writes a new config over the old one (for a SIGHUP reload).
  void rewrite(const DaemonConfig& config) const;
  // The last `bytes` of its log, for failure messages.
  std::string logTail(size_t bytes = 6000) const;

 private:
  std::string configPath_;
  std::string logPath_;
  std::unique_ptr<Process> proc_;
};

// A daemon logging at debug level, held by pointer so that a test can stop it and start another
// under the same name (every start appends to the same log).
std::unique_ptr<TestDaemon> startDaemon(const TempDir& dir, const DaemonConfig& config,
                                        const std::string& name = "daemon");

// A real redis-server on a free port with no persistence.
class RedisServer {
 public:
  // `extra`: more redis-server arguments (e.g. "--replicaof", "127.0.0.1", "<port>"); a server
  // with them logs to redis-<port>.log.
  explicit RedisServer(const TempDir& dir, int port = 0, std::vector<std::string> extra = {});
  ~RedisServer();
  void stop();
  void start();
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  // Runs a command on a fresh connection; the reply as a string (nil -> nullopt).
  std::optional<std::string> query(const std::vector<std::string>& argv) const;
  // The same for a reply that is an array: its elements as strings (a nil or an array in it
  // -> ""); a reply of one string or integer is an array of one. nullopt: no reply, an error.
  std::optional<std::vector<std::string>> queryAll(const std::vector<std::string>& argv) const;

 private:
  const TempDir& dir_;
  int port_;
  std::vector<std::string> extra_;
  std::unique_ptr<Process> proc_;
};

// A command on a fresh connection to 127.0.0.1:`port` (a redis-server or a sentinel), as
// RedisServer::query and queryAll.
std::optional<std::string> queryPort(int port, const std::vector<std::string>& argv);
std::optional<std::vector<std::string>> queryAllPort(int port,
                                                     const std::vector<std::string>& argv);

// A real redis-sentinel (Debian's package) on a free port, monitoring the master `name` at
// 127.0.0.1:`masterPort` with a quorum of `quorum`, down after 1 s, from its own config file (a
// sentinel rewrites it).
class SentinelServer {
 public:
  SentinelServer(const TempDir& dir, const std::string& name, int masterPort, int quorum);
  ~SentinelServer();
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  std::unique_ptr<Process> proc_;
};

// @modelcontextprotocol/server-everything, in streamableHttp mode (url() is /mcp) or in the
// legacy sse mode (url() is /sse).
class EverythingServer {
 public:
  explicit EverythingServer(const TempDir& dir, int port = 0, std::string mode = "streamableHttp");
  ~EverythingServer();
  void stop();
  void start();
  int port() const { return port_; }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + (mode_ == "sse" ? "/sse" : "/mcp");
  }

 private:
  const TempDir& dir_;
  int port_;
  std::string mode_;
  std::unique_ptr<Process> proc_;
};

// tests/peers/list-changed-mcp.mjs: a Streamable HTTP server whose tools change on request.
class ListChangedServer {
 public:
  explicit ListChangedServer(const TempDir& dir, int port = 0);
  ~ListChangedServer();
  void start();
  void stop();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  // Registers tool `name` in every live session (each gets notifications/tools/list_changed).
  bool addTool(const std::string& name);
  // The sessions open on the server; -1 when it cannot be asked.
  int sessions() const;

 private:
  const TempDir& dir_;
  int port_;
  std::unique_ptr<Process> proc_;
};

// tests/peers/tools-drift-mcp.mjs: an SDK server whose tool list is one of a few named sets
// ("base", "changed", "added", "removed", and one per lint finding), switched by set().
class ToolsDriftServer {
 public:
  explicit ToolsDriftServer(const TempDir& dir, const std::string& tools = "base");
  ~ToolsDriftServer();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  // Always set `tools`, whatever set() chose.
  std::string url(const std::string& tools) const { return url() + "/" + tools; }
  bool set(const std::string& tools);

 private:
  int port_;
  std::unique_ptr<Process> proc_;
};

// tests/peers/sse-polling-mcp.mjs: tools/list answered on response streams the server ends early
// (2025-11-25 SSE polling): resumable at url(), without event ids at noIdUrl().
class SsePollingServer {
 public:
  explicit SsePollingServer(const TempDir& dir);
  ~SsePollingServer();
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  std::string noIdUrl() const { return "http://127.0.0.1:" + std::to_string(port_) + "/noid/mcp"; }
  // GETs that carried Last-Event-ID so far; -1 when it cannot be asked.
  int resumes() const { return stat("resumes"); }
  // Those that resumed a session's GET stream (a watch).
  int streamResumes() const { return stat("streamResumes"); }
  // notifications/tools/list_changed on every session's GET stream; `close`: that stream ended
  // after it. How many sessions had their GET stream open (-1 when it cannot be asked).
  int notify(bool close) const;

 private:
  int stat(const char* name) const;  // -1 when it cannot be asked
  int port_;
  std::unique_ptr<Process> proc_;
};

// tests/fault_server: many virtual MCP servers, one per path, each a behaviour (healthy, slow,
// silent, truncated, …; see the comment at the top of fault_server.cpp).
class FaultServer {
 public:
  explicit FaultServer(const TempDir& dir);
  ~FaultServer();
  int port() const { return port_; }
  // The URL of virtual server `name` in `mode` ("healthy?tools=5", "silent", …).
  std::string url(const std::string& name, const std::string& mode) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/s/" + name + "/" + mode;
  }

 private:
  int port_;
  std::unique_ptr<Process> proc_;
};

// A bare HTTP/1.0 request to 127.0.0.1:`port` (no body); the status (0 when unreachable) and body.
std::pair<int, std::string> httpRequest(int port, const std::string& method,
                                        const std::string& target);

// The resident set size of process `pid` in KiB (VmRSS), or -1.
long residentKiB(int pid);

// A TCP listener that accepts connections (in the kernel backlog) and never answers.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/mcp"; }
  // True when a client connected since the last call (takes the connection off the backlog).
  bool hadConnection();

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct Message {
  std::string channel;
  std::string payload;
};

// A SUBSCRIBE connection that reconnects when Redis restarts.
class Subscriber {
 public:
  Subscriber(int port, std::vector<std::string> channels);
  ~Subscriber();
  // The next message matching `pred` before `timeout`, or nullopt.
  std::optional<Message> waitFor(const std::function<bool(const Message&)>& pred,
                                 std::chrono::milliseconds timeout);

 private:
  bool connect();
  int port_;
  std::vector<std::string> channels_;
  redisContext* ctx_ = nullptr;
};

// Parsed JSON kept alive with its parser.
struct Json {
  explicit Json(const std::string& text);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
};

// A string / integer member of a JSON object; "" / -1 when absent or of another type.
inline std::string str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}
inline int64_t num(simdjson::dom::element e, const char* key) {
  int64_t v = -1;
  return e[key].get(v) == simdjson::SUCCESS ? v : -1;
}

}  // namespace mcphd::itest
