#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::redis {

// A TCP address: host (a name, an IPv4 address, or an IPv6 address without brackets) and port.
struct HostPort {
  std::string host;
  int port = 0;
  bool operator==(const HostPort&) const = default;
  std::string display() const;  // host:port, [v6]:port
};
// "host:port" or "[v6]:port".
Result<HostPort> parseHostPort(std::string_view text);
// An address given as two words, as Sentinel answers it (an IPv6 address without brackets).
Result<HostPort> hostPortOf(const std::string& host, const std::string& port);

// Where and how to reach Redis: redis://[[user]:password@]host[:port][/db] or
// unix:///path[?db=N]. With a user name (Redis 6 ACL users) AUTH sends both.
struct Endpoint {
  std::string host;  // empty for a unix socket
  int port = 6379;
  std::string unixPath;  // set for unix://
  int db = 0;
  std::string username;  // empty: AUTH with the password alone (the default user)
  Secret password;
  // Redis Sentinel: the sentinels to ask, and the name of the master they watch. When set, host
  // and port are the master's as the sentinels said it last (the URL's are not used).
  std::vector<HostPort> sentinels;
  std::string masterName;
  std::string display() const;  // for logs: never includes the password
};

Result<Endpoint> parseUrl(const std::string& url);

}  // namespace mcphd::redis
