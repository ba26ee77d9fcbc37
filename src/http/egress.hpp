#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/result.hpp"

namespace mcphd::http {

// An IPv4 or IPv6 network such as 169.254.0.0/16 or fe80::/10.
struct Cidr {
  int family = AF_INET;  // AF_INET or AF_INET6
  std::array<uint8_t, 16> bytes{};
  int prefix = 0;
  std::string text;  // as written, for messages

  static Result<Cidr> parse(const std::string& s);
  bool contains(const sockaddr* addr) const;
};

// Where checks may connect: applied to the resolved address just before each connection, so DNS
// tricks (rebinding) cannot get round it. An address in `deny` is refused; when `allow` is not
// empty, an address outside it is refused too.
struct EgressPolicy {
  std::vector<Cidr> deny;
  std::vector<Cidr> allow;
  std::string name = "egress";  // the config key, for messages ("egress.registry")

  // The default: cloud metadata services (link-local, fd00:ec2::254, Alibaba's 100.100.100.200,
  // Oracle's 192.0.0.192) and the "this host" networks 0.0.0.0/8 and ::.
  static EgressPolicy defaults();
  // Why `addr` is refused, or nullopt when it may be used.
  std::optional<std::string> refuse(const sockaddr* addr) const;
};

std::string addressText(const sockaddr* addr);

}  // namespace mcphd::http
