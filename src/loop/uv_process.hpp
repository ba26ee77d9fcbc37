#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "loop/process.hpp"
#include "loop/uv_loop.hpp"

namespace mcphd::loop {

class UvChild;

// Spawns children with uv_spawn, each in its own session and process group, and owns them until
// they are reaped: a detached child (its Process destroyed) goes through the shutdown ladder.
// Stderr is logged (lines cut to 512 bytes, a burst of 20 then 2 lines a second per child).
class UvProcessSpawner final : public ProcessSpawner {
 public:
  // `supervisor`: when set, the program that runs as the child supervisor
  // (see child_supervisor.hpp), e.g. "/proc/self/exe"; unset, programs are spawned directly.
  UvProcessSpawner(UvLoop& loop, std::optional<std::string> supervisor);
  ~UvProcessSpawner() override;
  UvProcessSpawner(const UvProcessSpawner&) = delete;
  UvProcessSpawner& operator=(const UvProcessSpawner&) = delete;

  Result<std::unique_ptr<Process>> spawn(ProcessOptions options,
                                         ProcessCallbacks callbacks) override;

  // The daemon is stopping: every child gets stdin closed and SIGTERM now, SIGKILL after
  // `killAfterMs`. `done` runs (from the loop) once every child is reaped, at once if none is.
  void shutdown(int64_t killAfterMs, std::function<void()> done);
  size_t running() const { return children_.size(); }

 private:
  friend class UvChild;
  void reaped(UvChild* child);

  UvLoop& loop_;
  std::optional<std::string> supervisor_;
  std::map<UvChild*, std::unique_ptr<UvChild>> children_;
  std::function<void()> onAllReaped_;
  std::unique_ptr<Timer> notify_;
  std::array<char, 64 * 1024> readBuffer_{};  // reads are handled one at a time
  bool stopping_ = false;
};

}  // namespace mcphd::loop
