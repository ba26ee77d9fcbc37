#include "loop/child_supervisor.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace mcphd::loop {

namespace {

constexpr int kGraceSeconds = 2;

// Exits the way the server did: its status, or re-raising its signal with default disposition.
[[noreturn]] void exitLike(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    signal(sig, SIG_DFL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    sigprocmask(SIG_UNBLOCK, &set, nullptr);
    raise(sig);
    _exit(128 + sig);
  }
  _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// The pids whose parent is this process (zombies included), from /proc/<pid>/stat.
std::vector<pid_t> ownChildren() {
  std::vector<pid_t> out;
  const pid_t self = getpid();
  DIR* proc = opendir("/proc");
  if (proc == nullptr) {
    return out;
  }
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
      continue;
    }
    buf[n] = '\0';
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ')' ends it.
    const char* close = std::strrchr(buf, ')');
    long ppid = 0;
    char state = 0;
    if (close != nullptr && std::sscanf(close + 1, " %c %ld", &state, &ppid) == 2 &&
        ppid == self) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  closedir(proc);
  return out;
}

// Ends every descendant of the supervisor. As a child subreaper it inherits whatever the server
// left behind in other process groups or sessions (setsid, double fork): each round kills its
// current children and reaps them; their orphans become its children for the next round.
void endDescendants() {
  for (int round = 0; round < 64; ++round) {
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    std::vector<pid_t> children = ownChildren();
    if (children.empty()) {
      return;
    }
    for (pid_t c : children) {
      kill(c, SIGKILL);
    }
    for (pid_t c : children) {
      waitpid(c, nullptr, 0);
    }
  }
}

// Ends everything the server started, then exits like the server did.
[[noreturn]] void finish(pid_t child, int status) {
  kill(-child, SIGKILL);  // whatever the server left in its group
  endDescendants();
  exitLike(status);
}

// Kills the server's process group at once, reaps the server and exits like it.
[[noreturn]] void killNow(pid_t child) {
  kill(-child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  finish(child, status);
}

// Stops the server's process group: SIGTERM, then SIGKILL after the grace period (or at once when
// the daemon says so).
[[noreturn]] void terminate(pid_t child, const sigset_t& waitSet) {
  kill(-child, SIGTERM);
  struct timespec deadline {};
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += kGraceSeconds;
  int status = 0;
  for (;;) {
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) {
      finish(child, status);
    }
    struct timespec now {};
    clock_gettime(CLOCK_MONOTONIC, &now);
    long leftNs =
        (deadline.tv_sec - now.tv_sec) * 1'000'000'000L + (deadline.tv_nsec - now.tv_nsec);
    if (leftNs <= 0) {
      break;
    }
    struct timespec wait {
      leftNs / 1'000'000'000L, leftNs % 1'000'000'000L
    };
    if (sigtimedwait(&waitSet, nullptr, &wait) == kKillNowSignal) {
      killNow(child);
    }
  }
  killNow(child);
}

}  // namespace

int runChildSupervisor(int argc, char** argv) {
  // argv: <self> --exec-child <daemon pid> <program> [args...]
  if (argc < 4) {
    std::fprintf(stderr, "mcp-healthd: --exec-child is internal: <daemon pid> <program> [args]\n");
    return 2;
  }
  const pid_t daemon = static_cast<pid_t>(std::strtol(argv[2], nullptr, 10));
  // The daemon's descriptors (Redis and HTTP connections, libuv's internals) that were not
  // close-on-exec would otherwise reach the server: it gets stdin, stdout and stderr only.
  if (close_range(3, ~0U, 0) != 0) {
    const long max = std::min(sysconf(_SC_OPEN_MAX), 65536L);
    for (int fd = 3; fd < max; ++fd) {
      close(fd);
    }
  }
  sigset_t handled;
  sigemptyset(&handled);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGCHLD, kKillNowSignal}) {
    sigaddset(&handled, s);
  }
  sigprocmask(SIG_BLOCK, &handled, nullptr);  // taken with sigtimedwait/sigwaitinfo only
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  // Orphans of the server (a setsid'd or double-forked descendant) become ours, not init's, so
  // none outlives the check.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  if (getppid() != daemon) {
    return 1;  // the daemon died before we could ask to follow it
  }
  int execPipe[2];
  if (pipe2(execPipe, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "mcp-healthd: cannot start %s: pipe: %s\n", argv[3], std::strerror(errno));
    return 127;
  }
  pid_t child = fork();
  if (child < 0) {
    std::fprintf(stderr, "mcp-healthd: cannot start %s: fork: %s\n", argv[3], std::strerror(errno));
    return 127;
  }
  if (child == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // if the supervisor itself is killed
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[3], argv + 3);
    int err = errno;
    (void)!write(execPipe[1], &err, sizeof err);
    _exit(127);
  }
  setpgid(child, child);  // also here, so no signal can reach the group before it exists
  close(execPipe[1]);
  int err = 0;
  ssize_t n;
  do {
    n = read(execPipe[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  close(execPipe[0]);
  if (n == static_cast<ssize_t>(sizeof err)) {
    waitpid(child, nullptr, 0);
    std::fprintf(stderr, "mcp-healthd: cannot execute %s: %s\n", argv[3], std::strerror(err));
    return 127;
  }
  // The server holds the daemon's pipes; the supervisor keeps no copy of stdin and stdout, so
  // end-of-file on them is the server's alone. Stderr stays for the messages above.
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    close(devnull);
  }
  for (;;) {
    siginfo_t info{};
    int sig = sigwaitinfo(&handled, &info);
    if (sig < 0) {
      continue;  // EINTR
    }
    if (sig == kKillNowSignal) {
      killNow(child);
    }
    if (sig == SIGCHLD) {
      int status = 0;
      if (waitpid(child, &status, WNOHANG) == child) {
        finish(child, status);
      }
      // An orphan we inherited exited: reap it now rather than at the end.
      siginfo_t other{};
      while (waitid(P_ALL, 0, &other, WEXITED | WNOHANG | WNOWAIT) == 0 && other.si_pid != 0 &&
             other.si_pid != child) {
        waitpid(other.si_pid, nullptr, 0);
        other = siginfo_t{};
      }
      continue;
    }
    terminate(child, handled);
  }
}

}  // namespace mcphd::loop
