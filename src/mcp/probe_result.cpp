#include "mcp/probe_result.hpp"

#include <algorithm>

#include "common/sha256.hpp"
#include "common/utf8.hpp"
#include "mcp/redaction.hpp"

namespace mcphd::mcp {

const char* errorKindName(ErrorKind k) {
  switch (k) {
    case ErrorKind::kDns:
      return "dns";
    case ErrorKind::kConnect:
      return "connect";
    case ErrorKind::kTls:
      return "tls";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kHttp:
      return "http";
    case ErrorKind::kAuth:
      return "auth";
    case ErrorKind::kProtocol:
      return "protocol";
    case ErrorKind::kConfig:
      return "config";
    case ErrorKind::kSpawn:
      return "spawn";
  }
  return "protocol";
}

std::vector<const Tool*> sortedByName(const std::vector<Tool>& tools) {
  std::vector<const Tool*> sorted;
  sorted.reserve(tools.size());
  for (const auto& t : tools) {
    sorted.push_back(&t);
  }
  // Then by hash: two tools of one name (a server may list a name twice) hash in one order
  // whatever order the server sent them in.
  std::sort(sorted.begin(), sorted.end(), [](const Tool* a, const Tool* b) {
    return a->name != b->name ? a->name < b->name : a->hash < b->hash;
  });
  return sorted;
}

std::string computeToolsHash(const std::vector<Tool>& tools) {
  const std::vector<const Tool*> sorted = sortedByName(tools);
  std::string material;
  material.reserve(tools.size() * 96);
  for (const Tool* t : sorted) {
    material += t->name;
    material += '\0';
    appendHex(material, t->hash);
    material += '\n';
  }
  return sha256Hex(material);
}

void recordFailure(ProbeResult& result, CheckError error, bool retriable,
                   const std::vector<std::string>& secrets) {
  redactSecrets(error.message, secrets);
  truncateUtf8(error.message, kMaxErrorMessage);  // after redaction: a cut never hides a secret
  result.error = std::move(error);
  result.retriable = retriable;
  result.toolsComplete = false;
  result.tools.clear();
  result.toolsHash.clear();
}

}  // namespace mcphd::mcp
