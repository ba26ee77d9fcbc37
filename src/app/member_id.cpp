#include "app/member_id.hpp"

#include <unistd.h>

#include <cstdio>

namespace mcphd::app {

std::string memberIdOf(const config::ClusterSettings& cluster) {
  if (!cluster.memberId.empty()) {
    return cluster.memberId;
  }
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof host, "localhost");
  }
  std::string id = std::string(host).substr(0, 100) + "-" + std::to_string(getpid());
  for (char& ch : id) {
    if (!config::validMemberId(std::string_view(&ch, 1))) {
      ch = '_';
    }
  }
  return id;
}

}  // namespace mcphd::app
