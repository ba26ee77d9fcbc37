#include "mcp/stdio_probe.hpp"

#include "common/redact.hpp"
#include "mcp/probe.hpp"
#include "mcp/probe_common.hpp"
#include "mcp/sse_probe.hpp"

namespace mcphd::mcp {

namespace {

constexpr size_t kStderrTail = 400;
constexpr size_t kStderrSlack = 4096;

std::string valueOf(const std::vector<std::string>& env, std::string_view name) {
  for (const auto& e : env) {
    if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') {
      return e.substr(name.size() + 1);
    }
  }
  return "";
}

}  // namespace

std::vector<std::string> buildEnvironment(const std::vector<std::string>& inherited,
                                          const std::vector<std::pair<std::string, Secret>>& env) {
  std::vector<std::string> out;
  for (const auto& e : inherited) {
    std::string_view name = std::string_view(e).substr(0, e.find('='));
    bool overridden = false;
    for (const auto& [n, v] : env) {
      overridden = overridden || n == name;
    }
    if (!overridden) {
      out.push_back(e);
    }
  }
  for (const auto& [name, value] : env) {
    out.push_back(name + "=" + std::string(value.reveal()));
  }
  return out;
}

StdioProbe::StdioProbe(loop::ProcessSpawner& spawner, const Clock& clock,
                       loop::TimerFactory& timers, StdioOptions options,
                       std::function<void(ProbeResult)> done)
    : spawner_(spawner),
      clock_(clock),
      options_(std::move(options)),
      done_(std::move(done)),
      timer_(timers.createTimer()) {
  pages_.setLimits(options_.toolLimits);
}

StdioProbe::~StdioProbe() {
  process_.reset();  // the spawner's shutdown ladder takes over
  timer_.reset();
}

void StdioProbe::start() {
  startUs_ = clock_.nowUs();
  stepStartUs_ = startUs_;
  std::vector<std::string> env = buildEnvironment(options_.inheritedEnv, options_.env);
  std::string path = valueOf(env, "PATH");
  if (path.empty()) {
    path = "/usr/local/bin:/usr/bin:/bin";
  }
  auto badDir = loop::checkDirectory(options_.cwd);
  auto file =
      badDir ? Result<std::string>(makeError("cannot start " + options_.command + ": " + *badDir))
             : loop::findExecutable(options_.command, path, options_.cwd);
  if (!file) {
    for (auto& e : env) {
      wipeString(e);
    }
    std::string message = file.error().message;
    timer_->start(0, [this, message] { fail(ErrorKind::kSpawn, message); });
    return;
  }
  loop::ProcessOptions po;
  po.file = file.value();
  po.args = options_.args;
  po.env = std::move(env);
  po.cwd = options_.cwd;
  po.name = options_.serverId;
  for (const auto& [name, value] : options_.env) {
    po.secrets.push_back(value);
  }
  loop::ProcessCallbacks cb;
  cb.onStdout = [this](std::string_view chunk) { onStdout(chunk); };
  cb.onStderr = [this](std::string_view chunk) {
    // Kept well beyond what is shown, so a secret is redacted whole before the tail is cut.
    stderrTail_.append(chunk);
    if (stderrTail_.size() > 2 * (kStderrTail + kStderrSlack)) {
      stderrTail_.erase(0, stderrTail_.size() - (kStderrTail + kStderrSlack));
    }
  };
  cb.onExit = [this](loop::ProcessExit e) { onExit(e); };
  auto spawned = spawner_.spawn(std::move(po), std::move(cb));
  if (!spawned) {
    std::string message = spawned.error().message;
    timer_->start(0, [this, message] { fail(ErrorKind::kSpawn, message); });
    return;
  }
  process_ = std::move(spawned.value());
  result_.connectUs = clock_.nowUs() - startUs_;
  timer_->start(options_.timeoutMs, [this] {
    fail(ErrorKind::kTimeout,
         "check timed out after " + std::to_string(options_.timeoutMs) + " ms waiting for " +
             (step_ == Step::kInitialize ? "the initialize result" : "tools/list"),
         true);
  });
  expectId_ = std::to_string(nextId_);
  send(encodeRequest(nextId_++, "initialize", initializeParams(kOfferedProtocolVersion)));
}

void StdioProbe::send(const std::string& message) {
  if (!process_->write(message + "\n")) {
    fail(ErrorKind::kProtocol, "the server does not take its stdin (closed, or 1 MiB unread)");
  }
}

void StdioProbe::onStdout(std::string_view chunk) {
  while (!chunk.empty() && (watching_ ? !closed_ : !finished_)) {
    size_t nl = chunk.find('\n');
    std::string_view part = chunk.substr(0, nl);
    if (line_.size() + part.size() > options_.maxBody) {
      return fail(ErrorKind::kProtocol, "a message on stdout is larger than max_body (" +
                                            std::to_string(options_.maxBody) + " bytes)");
    }
    if (nl == std::string_view::npos) {
      line_.append(part);
      return;
    }
    if (line_.empty()) {
      onLine(part);
    } else {
      line_.append(part);
      std::string line = std::move(line_);
      line_.clear();
      onLine(line);
    }
    chunk.remove_prefix(nl + 1);
  }
}

void StdioProbe::onLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (line.find_first_not_of(" \t") == std::string_view::npos) {
    return;
  }
  auto m = decodeMessage(line);
  if (!m) {
    return fail(ErrorKind::kProtocol, "stdout line '" + snippet(line) +
                                          "': " + m.error().message +
                                          " (a stdio server must write only JSON-RPC messages "
                                          "to stdout)");
  }
  onMessage(m.value());
}

void StdioProbe::onMessage(const Message& m) {
  if (m.kind == MessageKind::kRequest) {
    return send(replyToServerRequest(m));
  }
  if (m.kind == MessageKind::kNotification) {
    if (watching_ && !closed_ && options_.keepOpen->onNotification) {
      options_.keepOpen->onNotification(m.method);
    }
    return;
  }
  if (m.id != expectId_) {
    return;
  }
  const char* what = step_ == Step::kInitialize ? "initialize" : "tools/list";
  if (m.kind == MessageKind::kErrorResponse) {
    return fail(ErrorKind::kProtocol, rpcErrorText(what, m));
  }
  int64_t tookUs = clock_.nowUs() - stepStartUs_;
  if (step_ == Step::kInitialize) {
    result_.initializeUs = tookUs;
    if (auto bad = applyInitializeResult(m.result, /*acceptLegacy=*/true, result_)) {
      return fail(ErrorKind::kProtocol, std::move(*bad));
    }
    send(encodeNotification("notifications/initialized"));
    if (finished_) {
      return;
    }
    if (options_.keepOpen) {
      watching_ = true;  // reported now; the process stays for its notifications
      return complete();
    }
    return sendToolsList("{}");
  }
  result_.toolsListUs += tookUs;
  auto next = addToolsPage(pages_, m.result, result_);
  if (!next) {
    return fail(ErrorKind::kProtocol, next.error().message);
  }
  if (!next.value()) {
    return complete();
  }
  sendToolsList(*next.value());
}

void StdioProbe::sendToolsList(const std::string& params) {
  step_ = Step::kToolsList;
  stepStartUs_ = clock_.nowUs();
  expectId_ = std::to_string(nextId_);
  send(encodeRequest(nextId_++, "tools/list", params));
}

void StdioProbe::onExit(loop::ProcessExit e) {
  std::string how = e.signal != 0 ? "was killed by signal " + std::to_string(e.signal)
                                  : "exited with status " + std::to_string(e.status);
  if (watching_) {
    return closed("the server process " + how);
  }
  if (finished_) {
    return;
  }
  std::string message = "the server process " + how + " before answering " +
                        (step_ == Step::kInitialize ? "initialize" : "tools/list");
  std::string tail = stderrTail();
  if (!tail.empty()) {
    message += "; its stderr ended with: " + tail;
  }
  // Never answered initialize: the server could not start (missing module, bad arguments).
  fail(result_.initialized ? ErrorKind::kProtocol : ErrorKind::kSpawn, std::move(message));
}

std::string StdioProbe::stderrTail() const {
  std::string redacted = stderrTail_;
  auto secrets = secretValues();
  redactSentHeaders(redacted, secrets);
  for (auto& s : secrets) {
    wipeString(s);
  }
  std::string_view t = redacted;
  if (t.size() > kStderrTail) {
    t.remove_prefix(t.size() - kStderrTail);
  }
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) {
    t.remove_suffix(1);
  }
  if (size_t nl = t.rfind('\n'); nl != std::string_view::npos && t.size() - nl > 40) {
    t.remove_prefix(nl + 1);  // the last line, when it says enough on its own
  }
  std::string out = snippet(t, kStderrTail);
  wipeString(redacted);
  return out;
}

std::vector<std::string> StdioProbe::secretValues() const {
  std::vector<std::string> v;
  for (const auto& [name, value] : options_.env) {
    v.push_back(name + ": " + std::string(value.reveal()));  // the shape redactSentHeaders reads
  }
  return v;
}

void StdioProbe::closed(const std::string& why) {
  if (closed_) {
    return;
  }
  closed_ = true;
  if (options_.keepOpen->onClosed) {
    options_.keepOpen->onClosed(why);
  }
}

void StdioProbe::fail(ErrorKind kind, std::string message, bool retriable) {
  if (watching_) {
    auto secrets = secretValues();
    redactSentHeaders(message, secrets);  // logged by the watch: no secret in it either
    for (auto& s : secrets) {
      wipeString(s);
    }
    return closed(message);  // e.g. garbage on stdout of the kept process
  }
  if (finished_) {
    return;
  }
  auto secrets = secretValues();
  recordFailure(result_, CheckError{kind, std::move(message), 0}, retriable, secrets);
  for (auto& s : secrets) {
    wipeString(s);
  }
  complete();
}

void StdioProbe::complete() {
  if (finished_) {
    return;
  }
  finished_ = true;
  result_.totalUs = clock_.nowUs() - startUs_;
  // Deferred: this may run inside the process's callbacks, and `done` may destroy the probe.
  timer_->start(0, [this] {
    if (!watching_) {
      process_.reset();  // the shutdown ladder: stdin closed, SIGTERM after 2 s, SIGKILL 2 s on
    }
    auto done = std::move(done_);
    done(std::move(result_));
  });
}

}  // namespace mcphd::mcp
