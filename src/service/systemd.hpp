#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace mcphd::service {

// The sd_notify(3) protocol, without libsystemd: datagrams of "KEY=value" lines to the unix
// socket named by $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace). Outside
// systemd (no NOTIFY_SOCKET) every call does nothing.
class Notifier {
 public:
  // Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID, then unsets them so that child
  // processes (stdio servers) cannot talk to systemd on the daemon's behalf.
  static Notifier fromEnvironment();
  ~Notifier();
  Notifier(Notifier&& other) noexcept;
  Notifier& operator=(Notifier&&) = delete;
  Notifier(const Notifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // Sends `state` ("READY=1", "STATUS=…", several lines at once). False when it could not.
  bool notify(std::string_view state) const;
  // The watchdog period systemd expects pings within, when WatchdogSec= is set for this process.
  std::optional<int64_t> watchdogUsec() const { return watchdogUsec_; }

 private:
  Notifier() = default;
  int fd_ = -1;
  std::string address_;
  std::optional<int64_t> watchdogUsec_;
};

// "RELOADING=1\nMONOTONIC_USEC=<now>": systemd ignores a reload message without the timestamp.
std::string reloadingMessage();

}  // namespace mcphd::service
