#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::loop {

struct ProcessOptions {
  std::string file;               // the program: absolute path (see findExecutable)
  std::vector<std::string> args;  // argv[1..]
  std::vector<std::string> env;   // the whole environment, "NAME=value"; wiped after the spawn
  std::string cwd;                // empty: the daemon's working directory
  std::string name;               // for log lines (the server id)
  std::vector<Secret> secrets;    // values never to log (the configured env values)
};

// How a child ended: exit status, or the signal that killed it (then status is 0).
struct ProcessExit {
  int64_t status = 0;
  int signal = 0;
};

// Called from the loop; each may destroy the Process it belongs to.
struct ProcessCallbacks {
  std::function<void(std::string_view)> onStdout;  // a chunk of the child's stdout
  std::function<void(std::string_view)> onStderr;  // a chunk of stderr (also logged, bounded)
  std::function<void(ProcessExit)> onExit;         // after everything it wrote was delivered
};

// A running child with pipes on stdin, stdout and stderr. Destroying it detaches it: no callback
// runs any more, and the spawner shuts the child down (stdin closed; SIGTERM to its process group
// after 2 s; SIGKILL after 2 more) and reaps it.
class Process {
 public:
  virtual ~Process() = default;
  virtual int pid() const = 0;
  // Queues `data` for the child's stdin. False when stdin is closed or broken.
  virtual bool write(std::string data) = 0;
};

class ProcessSpawner {
 public:
  virtual ~ProcessSpawner() = default;
  // Starts the child. Fails (with a message for operators) when it cannot be started; never
  // calls back inline.
  virtual Result<std::unique_ptr<Process>> spawn(ProcessOptions options,
                                                 ProcessCallbacks callbacks) = 0;
};

// Resolves `command` as execvp would, but before spawning, so that a missing or non-executable
// program is a clear error: a name with a '/' is taken relative to `cwd` (or as is), a bare name
// is looked up in `path` (a PATH value).
Result<std::string> findExecutable(const std::string& command, const std::string& path,
                                   const std::string& cwd);

// Why `dir` cannot be a child's working directory ("working directory /x does not exist"), or
// nothing when it can (an empty `dir` means the daemon's own).
std::optional<std::string> checkDirectory(const std::string& dir);

}  // namespace mcphd::loop
