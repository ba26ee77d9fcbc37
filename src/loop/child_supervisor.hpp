#pragma once

namespace mcphd::loop {

// The argument that runs the daemon binary as a child supervisor instead of the daemon:
//   mcp-healthd --exec-child <daemon pid> <program> [args...]
inline constexpr const char* kExecChildFlag = "--exec-child";
// Sent by the daemon instead of SIGKILL: the supervisor SIGKILLs the server's group, then exits
// (a SIGKILLed supervisor could not take the server's own children with it).
inline constexpr int kKillNowSignal = 10;  // SIGUSR1 (<signal.h> kept out of this header)

// Runs the supervisor; never returns to the caller's normal flow (its result is the exit status).
//
// Why it exists: uv_spawn has no hook between fork and exec, and PR_SET_PDEATHSIG must be set
// there for a child to die with the daemon; a process group must be signalled for the server's
// own children (npx → node) to go too. The supervisor asks for SIGTERM when the daemon dies, puts
// the server in its own process group, and on SIGTERM (from the daemon's shutdown ladder or from
// the daemon's death) sends SIGTERM to that group, then SIGKILL 2 s later, or at once on
// kKillNowSignal. It keeps no pipe of
// its own: the server reads and writes the daemon's pipes directly. It exits as the server did
// (the same status, or the same signal).
int runChildSupervisor(int argc, char** argv);

}  // namespace mcphd::loop
