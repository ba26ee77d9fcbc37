#include "service/systemd.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace mcphd::service {

Notifier Notifier::fromEnvironment() {
  Notifier n;
  const char* socketName = std::getenv("NOTIFY_SOCKET");
  if (socketName != nullptr && (socketName[0] == '/' || socketName[0] == '@') &&
      std::strlen(socketName) < sizeof(sockaddr_un::sun_path)) {
    n.address_ = socketName;
    n.fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  const char* usec = std::getenv("WATCHDOG_USEC");
  const char* pid = std::getenv("WATCHDOG_PID");
  if (usec != nullptr) {
    char* end = nullptr;
    long long v = std::strtoll(usec, &end, 10);
    bool ours = pid == nullptr || std::strtol(pid, nullptr, 10) == getpid();
    if (end != usec && *end == '\0' && v > 0 && ours) {
      n.watchdogUsec_ = v;
    }
  }
  unsetenv("NOTIFY_SOCKET");
  unsetenv("WATCHDOG_USEC");
  unsetenv("WATCHDOG_PID");
  return n;
}

Notifier::Notifier(Notifier&& other) noexcept
    : fd_(other.fd_), address_(std::move(other.address_)), watchdogUsec_(other.watchdogUsec_) {
  other.fd_ = -1;
}

Notifier::~Notifier() {
  if (fd_ >= 0) {
    close(fd_);
  }
}

bool Notifier::notify(std::string_view state) const {
  if (fd_ < 0) {
    return false;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, address_.data(), address_.size());
  socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size());
  if (addr.sun_path[0] == '@') {
    addr.sun_path[0] = '\0';  // abstract namespace
  } else {
    len += 1;  // the terminating NUL of a path
  }
  ssize_t sent = sendto(fd_, state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                        reinterpret_cast<const sockaddr*>(&addr), len);
  return sent == static_cast<ssize_t>(state.size());
}

std::string reloadingMessage() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  long long usec = static_cast<long long>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec);
}

}  // namespace mcphd::service
