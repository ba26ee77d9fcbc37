#include "harness.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "loop/uv_loop.hpp"

extern char** environ;

namespace mcphd::itest {

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    throw std::runtime_error("cannot bind a free port");
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool waitForPort(int port, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    close(fd);
    if (ok) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

SilentServer::SilentServer() {
  fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 64) != 0) {
    throw std::runtime_error("cannot listen");
  }
  socklen_t len = sizeof a;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
}

SilentServer::~SilentServer() { close(fd_); }

bool SilentServer::hadConnection() {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) {
    return false;
  }
  int c = accept(fd_, nullptr, nullptr);
  if (c >= 0) {
    close(c);
    return true;
  }
  return false;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mcphd-itest-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  if (std::getenv("MCPHD_KEEP_TMP") == nullptr) {
    std::filesystem::remove_all(path_, ec);
  }
}

Process::Process(std::vector<std::string> argv, std::map<std::string, std::string> env,
                 const std::string& logPath) {
  std::vector<std::string> envStrings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    std::string name = entry.substr(0, entry.find('='));
    if (env.count(name) == 0) {
      envStrings.push_back(entry);
    }
  }
  for (const auto& [k, v] : env) {
    envStrings.push_back(k + "=" + v);
  }
  std::vector<char*> argvp, envp;
  for (auto& a : argv) {
    argvp.push_back(a.data());
  }
  argvp.push_back(nullptr);
  for (auto& e : envStrings) {
    envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  int rc = posix_spawnp(&pid_, argv[0].c_str(), &fa, nullptr, argvp.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
}

Process::~Process() {
  if (running()) {
    stop(SIGTERM, std::chrono::milliseconds(3000));
  }
  if (running()) {
    stop(SIGKILL, std::chrono::milliseconds(3000));
  }
}

bool Process::running() {
  if (status_) {
    return false;
  }
  return !wait(std::chrono::milliseconds(0)).has_value();
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  if (status_) {
    return status_;
  }
  auto deadline = Clock::now() + timeout;
  do {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (timeout.count() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } while (Clock::now() < deadline);
  return std::nullopt;
}

std::optional<int> Process::stop(int sig, std::chrono::milliseconds timeout) {
  if (!status_) {
    kill(pid_, sig);
  }
  return wait(timeout);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int runCtl(const TempDir& dir, std::vector<std::string> args, const std::string& out) {
  args.insert(args.begin(), MCPHD_HEALTHCTL_PATH);
  Process p(args, {}, dir.file(out));
  auto rc = p.wait(std::chrono::seconds(30));
  if (!rc) {
    throw std::runtime_error("mcp-healthctl did not finish in 30 s; see " + dir.file(out));
  }
  return *rc;
}

void writeFile(const std::string& path, const std::string& content) {
  std::ofstream(path) << content;
}

RedisServer::RedisServer(const TempDir& dir, int port, std::vector<std::string> extra)
    : dir_(dir), port_(port == 0 ? freePort() : port), extra_(std::move(extra)) {
  start();
}

RedisServer::~RedisServer() { stop(); }

void RedisServer::start() {
  std::vector<std::string> argv{
      "redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
      "--save",       "",       "--appendonly",        "no",     "--dir",
      dir_.path()};
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  const std::string log =
      dir_.file(extra_.empty() ? "redis.log" : "redis-" + std::to_string(port_) + ".log");
  proc_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, log);
  if (!waitForPort(port_, std::chrono::seconds(10))) {
    throw std::runtime_error("redis-server did not start; see " + log);
  }
}

bool waitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto end = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > end) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

bool runUntil(mcphd::loop::UvLoop& loop, const std::function<bool()>& done) {
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  auto tick = loop.createTimer();
  std::function<void()> poll = [&] {
    if (done() || Clock::now() > deadline) {
      loop.stop();
      return;
    }
    tick->start(10, poll);
  };
  tick->start(0, poll);
  loop.run();
  tick->stop();
  return done();
}

SentinelServer::SentinelServer(const TempDir& dir, const std::string& name, int masterPort,
                               int quorum)
    : port_(freePort()) {
  const std::string conf = dir.file("sentinel-" + std::to_string(port_) + ".conf");
  std::ofstream(conf) << "port " << port_ << "\nbind 127.0.0.1\ndir " << dir.path()
                      << "\nsentinel monitor " << name << " 127.0.0.1 " << masterPort << " "
                      << quorum << "\nsentinel down-after-milliseconds " << name
                      << " 1000\nsentinel failover-timeout " << name << " 10000\n";
  const std::string log = dir.file("sentinel-" + std::to_string(port_) + ".log");
  proc_ = std::make_unique<Process>(std::vector<std::string>{"redis-sentinel", conf},
                                    std::map<std::string, std::string>{}, log);
  if (!waitForPort(port_, std::chrono::seconds(10))) {
    throw std::runtime_error("redis-sentinel did not start; see " + log);
  }
}

SentinelServer::~SentinelServer() {
  if (proc_) {
    proc_->stop(SIGKILL, std::chrono::seconds(5));
  }
}

void RedisServer::stop() {
  if (proc_) {
    proc_->stop(SIGKILL, std::chrono::seconds(5));
    proc_.reset();
  }
}

namespace {

// Runs `argv` on a fresh connection to 127.0.0.1:`port` and gives `read` the reply (null: none).
void withReply(int port, const std::vector<std::string>& argv,
               const std::function<void(const redisReply*)>& read) {
  timeval tv{5, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr || c->err != 0) {
    if (c != nullptr) {
      redisFree(c);
    }
    read(nullptr);
    return;
  }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  read(r);
  if (r != nullptr) {
    freeReplyObject(r);
  }
  redisFree(c);
}

std::optional<std::string> scalar(const redisReply* r) {
  if (r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)) {
    return std::string(r->str, r->len);
  }
  if (r != nullptr && r->type == REDIS_REPLY_INTEGER) {
    return std::to_string(r->integer);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> RedisServer::query(const std::vector<std::string>& argv) const {
  return queryPort(port_, argv);
}

std::optional<std::vector<std::string>> RedisServer::queryAll(
    const std::vector<std::string>& argv) const {
  return queryAllPort(port_, argv);
}

std::optional<std::string> queryPort(int port, const std::vector<std::string>& argv) {
  std::optional<std::string> out;
  withReply(port, argv, [&](const redisReply* r) { out = scalar(r); });
  return out;
}

std::optional<std::vector<std::string>> queryAllPort(int port,
                                                     const std::vector<std::string>& argv) {
  std::optional<std::vector<std::string>> out;
  withReply(port, argv, [&](const redisReply* r) {
    if (r != nullptr && r->type == REDIS_REPLY_ARRAY) {
      out.emplace();
      for (size_t i = 0; i < r->elements; ++i) {
        out->push_back(scalar(r->element[i]).value_or(""));
      }
    } else if (auto one = scalar(r)) {
      out = std::vector<std::string>{*one};
    }
  });
  return out;
}

EverythingServer::EverythingServer(const TempDir& dir, int port, std::string mode)
    : dir_(dir), port_(port == 0 ? freePort() : port), mode_(std::move(mode)) {
  start();
}

EverythingServer::~EverythingServer() { stop(); }

std::string everythingScript() {
  return std::string(MCPHD_PEERS_DIR) +
         "/node_modules/@modelcontextprotocol/server-everything/dist/index.js";
}

std::vector<int> processesWithEnv(const std::string& entry) {
  std::vector<int> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) {
    return pids;
  }
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    std::string env = readFile(std::string("/proc/") + e->d_name + "/environ");
    size_t start = 0;
    while (start < env.size()) {
      size_t nul = env.find('\0', start);
      if (env.compare(start, (nul == std::string::npos ? env.size() : nul) - start, entry) == 0) {
        // A zombie is gone in all but name; its environ reads empty, so it never gets here.
        pids.push_back(static_cast<int>(pid));
        break;
      }
      if (nul == std::string::npos) {
        break;
      }
      start = nul + 1;
    }
  }
  closedir(proc);
  return pids;
}

bool waitNoProcessWithEnv(const std::string& entry, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (!processesWithEnv(entry).empty()) {
    if (Clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

ListChangedServer::ListChangedServer(const TempDir& dir, int port)
    : dir_(dir), port_(port == 0 ? freePort() : port) {
  start();
}

ListChangedServer::~ListChangedServer() { stop(); }

void ListChangedServer::start() {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{"node", std::string(MCPHD_PEERS_DIR) + "/list-changed-mcp.mjs"},
      std::map<std::string, std::string>{{"PORT", std::to_string(port_)}},
      dir_.file("list-changed.log"));
  if (!waitForPort(port_, std::chrono::seconds(30))) {
    throw std::runtime_error("list-changed-mcp.mjs did not start; see " +
                             dir_.file("list-changed.log"));
  }
}

void ListChangedServer::stop() {
  if (proc_) {
    proc_->stop(SIGKILL, std::chrono::seconds(5));
    proc_.reset();
  }
}

ToolsDriftServer::ToolsDriftServer(const TempDir& dir, const std::string& tools)
    : port_(freePort()) {
  const std::string log = dir.file("tools-drift-" + std::to_string(port_) + ".log");
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{"node", std::string(MCPHD_PEERS_DIR) + "/tools-drift-mcp.mjs"},
      std::map<std::string, std::string>{{"PORT", std::to_string(port_)}, {"TOOLS", tools}}, log);
  if (!waitForPort(port_, std::chrono::seconds(30))) {
    throw std::runtime_error("tools-drift-mcp.mjs did not start; see " + log);
  }
}

ToolsDriftServer::~ToolsDriftServer() { proc_->stop(SIGKILL, std::chrono::seconds(5)); }

bool ToolsDriftServer::set(const std::string& tools) {
  return httpRequest(port_, "POST", "/admin/set?tools=" + tools).first == 200;
}

SsePollingServer::SsePollingServer(const TempDir& dir) : port_(freePort()) {
  const std::string log = dir.file("sse-polling-" + std::to_string(port_) + ".log");
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{"node", std::string(MCPHD_PEERS_DIR) + "/sse-polling-mcp.mjs"},
      std::map<std::string, std::string>{{"PORT", std::to_string(port_)}}, log);
  if (!waitForPort(port_, std::chrono::seconds(30))) {
    throw std::runtime_error("sse-polling-mcp.mjs did not start; see " + log);
  }
}

SsePollingServer::~SsePollingServer() { proc_->stop(SIGKILL, std::chrono::seconds(5)); }

int SsePollingServer::notify(bool close) const {
  auto [status, body] =
      httpRequest(port_, "POST", close ? "/admin/notify?close=1" : "/admin/notify");
  Json j(body);
  int64_t n = -1;
  if (status != 200 || !j.ok || j.root["delivered"].get(n) != simdjson::SUCCESS) {
    return -1;
  }
  return static_cast<int>(n);
}

int SsePollingServer::stat(const char* name) const {
  auto [status, body] = httpRequest(port_, "GET", "/admin/stats");
  Json j(body);
  int64_t n = -1;
  if (status != 200 || !j.ok || j.root[name].get(n) != simdjson::SUCCESS) {
    return -1;
  }
  return static_cast<int>(n);
}

bool ListChangedServer::addTool(const std::string& name) {
  return httpRequest(port_, "POST", "/admin/add-tool?name=" + name).first == 200;
}

int ListChangedServer::sessions() const {
  auto [status, body] = httpRequest(port_, "GET", "/admin/sessions");
  Json j(body);
  int64_t n = -1;
  if (status != 200 || !j.ok || j.root["sessions"].get(n) != simdjson::SUCCESS) {
    return -1;
  }
  return static_cast<int>(n);
}

bool waitForLog(const std::string& path, const std::string& text, size_t count,
                std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  do {
    std::string log = readFile(path);
    size_t n = 0;
    for (size_t p = log.find(text); p != std::string::npos; p = log.find(text, p + 1)) {
      ++n;
    }
    if (n >= count) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  } while (Clock::now() < deadline);
  return false;
}

std::pair<int, std::string> httpRequest(int port, const std::string& method,
                                        const std::string& target) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {0, ""};
  }
  std::string req =
      method + " " + target + " HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
  bool ok = write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size());
  std::string reply;
  char buf[4096];
  ssize_t n;
  while (ok && (n = read(fd, buf, sizeof buf)) > 0) {
    reply.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12) {
    return {0, reply};
  }
  int status = std::atoi(reply.c_str() + 9);
  size_t body = reply.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : reply.substr(body + 4)};
}

FaultServer::FaultServer(const TempDir& dir) : port_(freePort()) {
  proc_ = std::make_unique<Process>(
      std::vector<std::string>{MCPHD_FAULT_SERVER_PATH, "--port", std::to_string(port_)},
      std::map<std::string, std::string>{}, dir.file("fault-server.log"));
  if (!waitForPort(port_, std::chrono::seconds(10))) {
    throw std::runtime_error("mcp-fault-server did not start; see " + dir.file("fault-server.log"));
  }
}

FaultServer::~FaultServer() { proc_->stop(SIGKILL, std::chrono::seconds(5)); }

long residentKiB(int pid) {
  std::string status = readFile("/proc/" + std::to_string(pid) + "/status");
  size_t p = status.find("VmRSS:");
  return p == std::string::npos ? -1 : std::strtol(status.c_str() + p + 6, nullptr, 10);
}

void EverythingServer::start() {
  std::string script = everythingScript();
  proc_ =
      std::make_unique<Process>(std::vector<std::string>{"node", script, mode_},
                                std::map<std::string, std::string>{{"PORT", std::to_string(port_)}},
                                dir_.file("everything-" + mode_ + ".log"));
  if (!waitForPort(port_, std::chrono::seconds(30))) {
    throw std::runtime_error("server-everything did not start; see " +
                             dir_.file("everything-" + mode_ + ".log"));
  }
}

void EverythingServer::stop() {
  if (proc_) {
    proc_->stop(SIGKILL, std::chrono::seconds(5));
    proc_.reset();
  }
}

Subscriber::Subscriber(int port, std::vector<std::string> channels)
    : port_(port), channels_(std::move(channels)) {
  if (!connect()) {
    throw std::runtime_error("cannot subscribe");
  }
}

Subscriber::~Subscriber() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
  }
}

bool Subscriber::connect() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
    ctx_ = nullptr;
  }
  timeval tv{1, 0};
  ctx_ = redisConnectWithTimeout("127.0.0.1", port_, tv);
  if (ctx_ == nullptr || ctx_->err != 0) {
    return false;
  }
  std::vector<const char*> argv = {"SUBSCRIBE"};
  for (const auto& c : channels_) {
    argv.push_back(c.c_str());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), nullptr));
  if (r == nullptr) {
    return false;
  }
  freeReplyObject(r);
  for (size_t i = 1; i < channels_.size(); ++i) {
    void* more = nullptr;
    if (redisGetReply(ctx_, &more) != REDIS_OK) {
      return false;
    }
    freeReplyObject(more);
  }
  return true;
}

std::optional<Message> Subscriber::waitFor(const std::function<bool(const Message&)>& pred,
                                           std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (ctx_ == nullptr || ctx_->err != 0) {
      if (!connect()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      continue;
    }
    // Take a complete reply from what was read already; otherwise wait for bytes with poll so a
    // quiet channel never breaks the connection (a hiredis read timeout would, losing messages).
    void* reply = nullptr;
    if (redisReaderGetReply(ctx_->reader, &reply) != REDIS_OK) {
      connect();
      continue;
    }
    if (reply == nullptr) {
      pollfd p{ctx_->fd, POLLIN, 0};
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (poll(&p, 1, static_cast<int>(std::max<long>(1, std::min<long>(left, 200)))) > 0) {
        if (redisBufferRead(ctx_) != REDIS_OK) {
          connect();  // Redis went away: resubscribe when it is back
        }
      }
      continue;
    }
    auto* r = static_cast<redisReply*>(reply);
    std::optional<Message> m;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 3 &&
        std::string(r->element[0]->str) == "message") {
      m = Message{std::string(r->element[1]->str, r->element[1]->len),
                  std::string(r->element[2]->str, r->element[2]->len)};
    }
    freeReplyObject(r);
    if (m && pred(*m)) {
      return m;
    }
  }
  return std::nullopt;
}

Json::Json(const std::string& text) { ok = parser.parse(text).get(root) == simdjson::SUCCESS; }

std::string DaemonConfig::yaml() const {
  std::string y;
  if (!redisUrl.empty()) {
    y += "redis:\n  url: " + redisUrl + "\n";
  }
  for (const auto& line : extra) {
    y += line + "\n";
  }
  if (!defaults.empty()) {
    y += "defaults:\n";
    for (const auto& line : defaults) {
      y += "  " + line + "\n";
    }
  }
  y += servers.empty() ? "servers: []\n" : "servers:\n";
  for (const auto& s : servers) {
    y += "  - id: " + s.id + "\n";
    if (!s.url.empty()) {
      y += "    url: \"" + s.url + "\"\n";
    }
    for (const auto& line : s.extra) {
      y += "    " + line + "\n";
    }
  }
  return y;
}

TestDaemon::TestDaemon(const TempDir& dir, const DaemonConfig& config,
                       std::vector<std::string> args, std::map<std::string, std::string> env,
                       const std::string& name)
    : configPath_(dir.file(name + ".yaml")), logPath_(dir.file(name + ".log")) {
  writeFile(configPath_, config.yaml());
  args.insert(args.begin(), {MCPHD_DAEMON_PATH, "--config", configPath_});
  proc_ = std::make_unique<Process>(std::move(args), std::move(env), logPath_);
}

TestDaemon::~TestDaemon() {
  if (std::uncaught_exceptions() > 0) {
    std::cerr << "--- the end of " << logPath_ << ":\n" << logTail(3000) << "\n---\n";
  }
}

void TestDaemon::rewrite(const DaemonConfig& config) const {
  writeFile(configPath_, config.yaml());
}

std::unique_ptr<TestDaemon> startDaemon(const TempDir& dir, const DaemonConfig& config,
                                        const std::string& name) {
  return std::make_unique<TestDaemon>(dir, config, std::vector<std::string>{"--log-level", "debug"},
                                      std::map<std::string, std::string>{}, name);
}

std::string TestDaemon::logTail(size_t bytes) const {
  std::string log = readFile(logPath_);
  return log.substr(log.size() > bytes ? log.size() - bytes : 0);
}

}  // namespace mcphd::itest
