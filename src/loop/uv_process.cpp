#include "loop/uv_process.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/line_limiter.hpp"
#include "common/log.hpp"
#include "common/redact.hpp"
#include "common/utf8.hpp"
#include "loop/child_supervisor.hpp"

namespace mcphd::loop {

namespace {

constexpr int64_t kTermAfterMs = 2000;  // stdin closed → SIGTERM
constexpr int64_t kKillAfterMs = 2000;  // SIGTERM → SIGKILL
constexpr size_t kMaxQueuedStdin = 1024 * 1024;
constexpr int64_t kSupervisorLastResortMs = 500;  // kill-now → SIGKILL of the supervisor itself

struct WriteRequest {
  uv_write_t req{};
  std::string data;
};

}  // namespace

// One child and its handles. Owned by the spawner until every handle has closed after the exit;
// the Process given to the caller only points here.
class UvChild {
 public:
  UvChild(UvProcessSpawner& spawner, std::string name, std::vector<Secret> secrets)
      : spawner_(spawner),
        name_(std::move(name)),
        secrets_(std::move(secrets)),
        // Lines are kept longer than they are logged: a secret is redacted whole before the
        // line is cut to kStderrLine.
        stderrLog_(kStderrLine + kStderrSlack, 20, 2,
                   [this](std::string_view line, uint64_t dropped) { logStderr(line, dropped); }) {
    for (const auto& s : secrets_) {
      redactor_.add(s.reveal());
    }
  }

  Result<void> start(ProcessOptions& o, const std::optional<std::string>& supervisor) {
    uv_loop_t* loop = spawner_.loop_.raw();
    for (auto*& h : pipes_) {
      h = newHandle();
      uv_pipe_init(loop, &h->pipe, 0);
      h->handle.data = this;
    }
    process_ = newHandle();
    process_->handle.data = this;
    timer_ = newHandle();
    uv_timer_init(loop, &timer_->timer);
    timer_->handle.data = this;

    std::vector<std::string> argv;
    if (supervisor) {
      // argv[0] is what `ps` shows; the program is `supervisor` (options.file below).
      argv = {"mcp-healthd", kExecChildFlag, std::to_string(getpid()), o.file};
    } else {
      argv = {o.file};
    }
    argv.insert(argv.end(), o.args.begin(), o.args.end());
    std::vector<char*> args;
    for (auto& a : argv) {
      args.push_back(a.data());
    }
    args.push_back(nullptr);
    std::vector<char*> env;
    for (auto& e : o.env) {
      env.push_back(e.data());
    }
    env.push_back(nullptr);

    uv_stdio_container_t stdio[3];
    stdio[0].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_READABLE_PIPE);
    stdio[0].data.stream = &pipes_[0]->stream;
    for (int i = 1; i < 3; ++i) {
      stdio[i].flags = static_cast<uv_stdio_flags>(UV_CREATE_PIPE | UV_WRITABLE_PIPE);
      stdio[i].data.stream = &pipes_[i]->stream;
    }
    uv_process_options_t options{};
    options.file = supervisor ? supervisor->c_str() : o.file.c_str();
    options.args = args.data();
    options.env = env.data();
    options.cwd = o.cwd.empty() ? nullptr : o.cwd.c_str();
    options.stdio = stdio;
    options.stdio_count = 3;
    // Own session and process group: the terminal's Ctrl-C does not reach it, and the shutdown
    // ladder signals the whole group.
    options.flags = UV_PROCESS_DETACHED;
    options.exit_cb = [](uv_process_t* p, int64_t status, int signal) {
      if (p->data != nullptr) {
        static_cast<UvChild*>(p->data)->onExit(status, signal);
      }
    };
    int rc = uv_spawn(loop, &process_->process, &options);
    for (auto& e : o.env) {
      wipeString(e);
    }
    if (rc != 0) {
      // A failed uv_spawn still initialised the handle: it is closed like the others.
      exited_ = true;
      closeAll();
      std::string why = uv_strerror(rc);
      if (rc == UV_ENOENT && !o.cwd.empty()) {
        why += " (program " + o.file + ", working directory " + o.cwd + ")";
      }
      return makeError("cannot start " + o.file + ": " + why);
    }
    pid_ = process_->process.pid;
    supervised_ = supervisor.has_value();
    static_assert(kKillNowSignal == SIGUSR1);
    for (int i = 1; i < 3; ++i) {
      uv_read_start(
          &pipes_[i]->stream,
          [](uv_handle_t* h, size_t, uv_buf_t* buf) {
            auto* self = static_cast<UvChild*>(h->data);
            auto& b = self->spawner_.readBuffer_;
            *buf = uv_buf_init(b.data(), b.size());
          },
          [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
            auto* self = static_cast<UvChild*>(s->data);
            if (self != nullptr) {
              self->onRead(s, n, buf);
            }
          });
    }
    return {};
  }

  int pid() const { return pid_; }

  bool write(std::string data) {
    uv_stream_t* in = pipes_[0] != nullptr ? &pipes_[0]->stream : nullptr;
    if (in == nullptr || exited_ || uv_stream_get_write_queue_size(in) > kMaxQueuedStdin) {
      return false;
    }
    auto* w = new WriteRequest;
    w->data = std::move(data);
    uv_buf_t buf = uv_buf_init(w->data.data(), w->data.size());
    int rc = uv_write(&w->req, in, &buf, 1,
                      [](uv_write_t* req, int) { delete reinterpret_cast<WriteRequest*>(req); });
    if (rc != 0) {
      delete w;
      return false;
    }
    return true;
  }

  void attach(ProcessCallbacks callbacks) {
    callbacks_ = std::move(callbacks);
    attached_ = true;
  }

  // The caller let go: the shutdown ladder, unless the child is gone already.
  void detach() {
    callbacks_ = ProcessCallbacks{};
    attached_ = false;
    if (handlesClosed_) {
      return maybeFree();  // reaped while its Process was still held
    }
    if (exited_ || ladder_) {
      return;
    }
    ladder_ = true;
    closeStdin();
    arm(kTermAfterMs, [this] {
      signal(SIGTERM);
      arm(kKillAfterMs, [this] { kill(); });
    });
  }

  // The daemon stops: no waiting for the server to notice end-of-file.
  void stopNow(int64_t killAfterMs) {
    callbacks_ = ProcessCallbacks{};
    if (exited_) {
      return;
    }
    ladder_ = true;
    closeStdin();
    signal(SIGTERM);
    arm(killAfterMs, [this] { kill(); });
  }

 private:
  static uv_any_handle* newHandle() { return new uv_any_handle{}; }

  void arm(int64_t ms, std::function<void()> next) {
    next_ = std::move(next);
    timer_->timer.data = this;
    uv_timer_start(
        &timer_->timer,
        [](uv_timer_t* t) {
          auto* self = static_cast<UvChild*>(t->data);
          if (self != nullptr && self->next_) {
            auto next = std::move(self->next_);
            next();
          }
        },
        static_cast<uint64_t>(ms), 0);
  }

  // The last step of the ladder. A supervisor is asked to kill the server's group (it alone knows
  // it) and is itself killed only if it does not exit soon after.
  void kill() {
    if (!supervised_) {
      return signal(SIGKILL);
    }
    signal(SIGUSR1);
    arm(kSupervisorLastResortMs, [this] { signal(SIGKILL); });
  }

  void signal(int sig) {
    if (!exited_ && pid_ > 0) {
      ::kill(-pid_, sig);  // the child's process group (the supervisor, or the server's group)
    }
  }

  void closeStdin() {
    if (pipes_[0] != nullptr) {
      closeHandle(pipes_[0]);
      pipes_[0] = nullptr;
    }
  }

  void onRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    bool isStdout = pipes_[1] != nullptr && s == &pipes_[1]->stream;
    if (n < 0) {
      uv_read_stop(s);  // EOF or error: nothing more comes from this pipe
      return;
    }
    deliver(isStdout, std::string_view(buf->base, static_cast<size_t>(n)));
  }

  void deliver(bool isStdout, std::string_view data) {
    if (data.empty()) {
      return;
    }
    if (!isStdout) {
      stderrLog_.feed(data, static_cast<int64_t>(uv_now(spawner_.loop_.raw())));
    }
    // Copied: the callback may destroy the Process, which clears callbacks_.
    auto cb = isStdout ? callbacks_.onStdout : callbacks_.onStderr;
    if (cb) {
      cb(data);
    }
  }

  // What is still in a pipe when the exit is reported is read first, so that a server's last
  // words (an error on stderr) arrive before onExit. The pipes are non-blocking.
  void drain(int index) {
    if (pipes_[index] == nullptr) {
      return;
    }
    uv_os_fd_t fd = -1;
    if (uv_fileno(&pipes_[index]->handle, &fd) != 0) {
      return;
    }
    auto& b = spawner_.readBuffer_;
    for (int rounds = 0; rounds < 64; ++rounds) {  // bounded: a grandchild may keep writing
      ssize_t n = ::read(fd, b.data(), b.size());
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        return;
      }
      deliver(index == 1, std::string_view(b.data(), static_cast<size_t>(n)));
      if (pipes_[index] == nullptr) {
        return;
      }
    }
  }

  void onExit(int64_t status, int sig) {
    exited_ = true;
    uv_timer_stop(&timer_->timer);
    next_ = nullptr;
    drain(1);
    drain(2);
    stderrLog_.flush(static_cast<int64_t>(uv_now(spawner_.loop_.raw())));
    auto cb = std::move(callbacks_.onExit);
    callbacks_ = ProcessCallbacks{};
    closeAll();  // before the callback, which may destroy the Process (and so call detach)
    if (cb) {
      cb(ProcessExit{status, sig});
    }
  }

  void logStderr(std::string_view line, uint64_t dropped) {
    std::string text;
    if (dropped > 0) {
      text = "server " + name_ + ": " + std::to_string(dropped) + " stderr line(s) dropped";
      log::info(text);
    }
    if (line.empty()) {
      return;
    }
    text = std::string(line);
    redactor_.apply(text);
    truncateUtf8(text, kStderrLine);
    log::info("server " + name_ + ": stderr: " + text);
  }

  void closeHandle(uv_any_handle* h) {
    if (h == nullptr || uv_is_closing(&h->handle)) {
      return;
    }
    h->handle.data = this;
    ++closing_;
    uv_close(&h->handle, [](uv_handle_t* closed) {
      auto* self = static_cast<UvChild*>(closed->data);
      delete reinterpret_cast<uv_any_handle*>(closed);
      if (--self->closing_ == 0 && self->allClosing_) {
        self->handlesClosed_ = true;
        self->maybeFree();
      }
    });
  }

  // Freed once reaped (every handle closed) and no Process points here any more.
  void maybeFree() {
    if (!handlesClosed_ || attached_) {
      return;
    }
    if (orphaned_) {
      delete this;  // its spawner is gone
    } else {
      spawner_.reaped(this);  // frees this
    }
  }

  void closeAll() {
    allClosing_ = true;
    closeStdin();
    for (int i = 1; i < 3; ++i) {
      closeHandle(pipes_[i]);
      pipes_[i] = nullptr;
    }
    closeHandle(timer_);
    timer_ = nullptr;
    closeHandle(process_);
    process_ = nullptr;
  }

  friend class UvProcessSpawner;
  UvProcessSpawner& spawner_;
  std::string name_;
  std::vector<Secret> secrets_;
  Redactor redactor_;  // every form of secrets_
  static constexpr size_t kStderrLine = 512;
  static constexpr size_t kStderrSlack = 8 * 1024;
  LineLimiter stderrLog_;
  ProcessCallbacks callbacks_;
  std::array<uv_any_handle*, 3> pipes_{};  // stdin, stdout, stderr
  uv_any_handle* process_ = nullptr;
  uv_any_handle* timer_ = nullptr;
  std::function<void()> next_;
  int pid_ = 0;
  bool exited_ = false;
  bool ladder_ = false;
  bool supervised_ = false;
  bool allClosing_ = false;
  bool orphaned_ = false;
  bool attached_ = false;       // a Process points here
  bool handlesClosed_ = false;  // every handle has closed
  int closing_ = 0;
};

namespace {

class UvProcess final : public Process {
 public:
  explicit UvProcess(UvChild* child) : child_(child) {}
  ~UvProcess() override { child_->detach(); }
  int pid() const override { return child_->pid(); }
  bool write(std::string data) override { return child_->write(std::move(data)); }

 private:
  UvChild* child_;  // owned by the spawner, alive at least until detach()
};

}  // namespace

UvProcessSpawner::UvProcessSpawner(UvLoop& loop, std::optional<std::string> supervisor)
    : loop_(loop), supervisor_(std::move(supervisor)) {}

UvProcessSpawner::~UvProcessSpawner() {
  // Normally empty: shutdown() ran to the end. Otherwise what is left is killed; each child frees
  // itself once its handles have closed (UvLoop::close runs those callbacks).
  for (auto& [raw, child] : children_) {
    child->callbacks_ = ProcessCallbacks{};
    child->signal(child->supervised_ ? SIGUSR1 : SIGKILL);  // a supervisor takes its group along
    child->exited_ = true;
    child->orphaned_ = true;
    child->closeAll();
    (void)child.release();
  }
}

Result<std::unique_ptr<Process>> UvProcessSpawner::spawn(ProcessOptions options,
                                                         ProcessCallbacks callbacks) {
  if (stopping_) {
    return makeError("cannot start " + options.file + ": the daemon is stopping");
  }
  auto owned = std::make_unique<UvChild>(*this, options.name, std::move(options.secrets));
  UvChild* child = owned.get();
  children_.emplace(child, std::move(owned));
  if (auto r = child->start(options, supervisor_); !r) {
    return r.error();  // the child's handles are closing; reaped() forgets it
  }
  child->attach(std::move(callbacks));
  return std::unique_ptr<Process>(std::make_unique<UvProcess>(child));
}

void UvProcessSpawner::shutdown(int64_t killAfterMs, std::function<void()> done) {
  stopping_ = true;
  onAllReaped_ = std::move(done);
  for (auto& [raw, child] : children_) {
    child->stopNow(killAfterMs);
  }
  if (children_.empty()) {
    notify_ = loop_.createTimer();
    notify_->start(0, [this] {
      if (auto done = std::move(onAllReaped_)) {
        done();
      }
    });
  }
}

void UvProcessSpawner::reaped(UvChild* child) {
  children_.erase(child);
  if (stopping_ && children_.empty() && onAllReaped_) {
    auto done = std::move(onAllReaped_);
    done();
  }
}

std::optional<std::string> checkDirectory(const std::string& dir) {
  if (dir.empty()) {
    return std::nullopt;
  }
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    return "working directory " + dir + ": " + std::strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    return "working directory " + dir + " is not a directory";
  }
  return std::nullopt;
}

Result<std::string> findExecutable(const std::string& command, const std::string& path,
                                   const std::string& cwd) {
  auto usable = [](const std::string& file) -> int {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      return errno;
    }
    if (!S_ISREG(st.st_mode)) {
      return EACCES;
    }
    return ::access(file.c_str(), X_OK) == 0 ? 0 : errno;
  };
  if (command.find('/') != std::string::npos) {
    std::string file = command.front() == '/' || cwd.empty() ? command : cwd + "/" + command;
    if (int err = usable(file); err != 0) {
      return makeError("cannot start " + file + ": " + std::strerror(err));
    }
    return file;
  }
  int firstError = ENOENT;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    std::string dir =
        path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string file = (dir.empty() ? std::string(".") : dir) + "/" + command;
    int err = usable(file);
    if (err == 0) {
      return file;
    }
    if (err != ENOENT && err != ENOTDIR && firstError == ENOENT) {
      firstError = err;
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  if (firstError != ENOENT) {
    return makeError("cannot start " + command + ": " + std::strerror(firstError));
  }
  return makeError("cannot start " + command + ": not found in PATH (" + path + ")");
}

}  // namespace mcphd::loop
