#pragma once

#include <string>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::redis {

// Where and how to reach Redis: redis://[[user]:password@]host[:port][/db] or
// unix:///path[?db=N]. With a user name (Redis 6 ACL users) AUTH sends both.
struct Endpoint {
  std::string host;  // empty for a unix socket
  int port = 6379;
  std::string unixPath;  // set for unix://
  int db = 0;
  std::string username;  // empty: AUTH with the password alone (the default user)
  Secret password;
  std::string display() const;  // for logs: never includes the password
};

Result<Endpoint> parseUrl(const std::string& url);

}  // namespace mcphd::redis
