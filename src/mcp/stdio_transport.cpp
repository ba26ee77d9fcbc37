#include "mcp/stdio_transport.hpp"

#include "mcp/protocol.hpp"
#include "mcp/redaction.hpp"
#include "mcp/tool_pages.hpp"

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

StdioTransport::StdioTransport(loop::ProcessSpawner& spawner, const Clock& clock,
                               loop::TimerFactory& timers, StdioOptions options)
    : spawner_(spawner),
      clock_(clock),
      options_(std::move(options)),
      timer_(timers.createTimer()) {}

StdioTransport::~StdioTransport() {
  process_.reset();  // the spawner's shutdown ladder takes over
  timer_.reset();
}

std::string_view StdioTransport::offeredProtocolVersion() const { return kOfferedProtocolVersion; }

void StdioTransport::later(std::function<void()> event) {
  pending_.push_back(std::move(event));
  if (!timer_->active()) {
    timer_->start(0, [this] {
      auto events = std::move(pending_);
      pending_.clear();
      for (auto& e : events) {
        if (closed_) {
          return;
        }
        e();
      }
    });
  }
}

void StdioTransport::open(TransportListener& listener) {
  listener_ = &listener;
  const int64_t startUs = clock_.nowUs();
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
    return later([this, message] { failed(ErrorKind::kSpawn, message); });
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
    return later([this, message] { failed(ErrorKind::kSpawn, message); });
  }
  process_ = std::move(spawned.value());
  connectUs_ = clock_.nowUs() - startUs;
  listener_->onOpen();
}

void StdioTransport::send(Outgoing message) {
  if (closed_ || failed_ || !process_) {
    return;
  }
  if (message.kind == Outgoing::Kind::kRequest) {
    lastRequest_ = message.what;
  }
  message.json += '\n';
  if (!process_->write(std::move(message.json))) {
    return later([this] {
      failed(ErrorKind::kProtocol, "the server does not take its stdin (closed, or 1 MiB unread)");
    });
  }
  if (message.kind == Outgoing::Kind::kNotification) {
    const std::string_view what = message.what;
    later([this, what] { listener_->onSent(what); });
  }
}

void StdioTransport::onStdout(std::string_view chunk) {
  while (!chunk.empty() && !failed_ && !closed_) {
    const size_t nl = chunk.find('\n');
    const std::string_view part = chunk.substr(0, nl);
    if (line_.size() + part.size() > options_.maxBody) {
      return failed(ErrorKind::kProtocol, "a message on stdout is larger than max_body (" +
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

void StdioTransport::onLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  if (line.find_first_not_of(" \t") == std::string_view::npos) {
    return;
  }
  auto m = decodeMessage(line);
  if (!m) {
    return failed(ErrorKind::kProtocol,
                  "stdout line '" + snippet(line) + "': " + m.error().message +
                      " (a stdio server must write only JSON-RPC messages to stdout)");
  }
  listener_->onMessage(m.value());
}

void StdioTransport::onExit(loop::ProcessExit e) {
  const std::string how = e.signal != 0 ? "was killed by signal " + std::to_string(e.signal)
                                        : "exited with status " + std::to_string(e.status);
  if (listening_) {
    return failed(ErrorKind::kProtocol, "the server process " + how);
  }
  std::string message = "the server process " + how +
                        (initialized_ && lastRequest_ == "initialize"
                             ? std::string(" after answering initialize")
                             : " before answering " + std::string(lastRequest_));
  std::string tail = stderrTail();
  if (!tail.empty()) {
    message += "; its stderr ended with: " + tail;
  }
  // Never answered initialize: the server could not start (missing module, bad arguments).
  failed(initialized_ ? ErrorKind::kProtocol : ErrorKind::kSpawn, std::move(message));
}

void StdioTransport::failed(ErrorKind kind, std::string message) {
  if (failed_ || closed_) {
    return;
  }
  failed_ = true;
  if (listening_) {
    return listener_->onLost(message, false);
  }
  TransportError e;
  e.error = {kind, std::move(message), 0};
  listener_->onError(std::move(e));
}

std::string StdioTransport::stderrTail() const {
  std::string redacted = stderrTail_;
  auto secrets = secretLines();
  redactSecrets(redacted, secrets);
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

std::vector<std::string> StdioTransport::secretLines() const {
  std::vector<std::string> v;
  for (const auto& [name, value] : options_.env) {
    v.push_back(name + ": " + std::string(value.reveal()));  // the shape redactSecrets reads
  }
  return v;
}

void StdioTransport::close(std::function<void()> done) {
  closed_ = true;
  pending_.clear();
  process_.reset();  // the shutdown ladder: stdin closed, SIGTERM after 2 s, SIGKILL 2 s on
  if (done) {
    done();
  }
}

}  // namespace mcphd::mcp
