#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baseline/verdict.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::mcp {

// The published error kinds (docs/PROTOCOL.md).
enum class ErrorKind { kDns, kConnect, kTls, kTimeout, kHttp, kAuth, kProtocol, kConfig, kSpawn };
const char* errorKindName(ErrorKind k);

struct CheckError {
  ErrorKind kind = ErrorKind::kProtocol;
  std::string message;  // never holds a secret
  long httpStatus = 0;  // 0 when no HTTP status applies
};

// What one check of one server found.
struct ProbeResult {
  std::optional<CheckError> error;  // none: initialize and the whole tools/list succeeded
  bool initialized = false;         // initialize succeeded (with an error: degraded)
  bool retriable = false;           // the error is transient (network, timeout, 5xx, 429)
  bool authRequired = false;        // someone must authorize the client (authorization_code)
  std::optional<int64_t> retryAfterMs;
  std::string wwwAuthenticate;  // the challenge of a 401/403
  std::string protocolVersion;
  std::string serverName;
  std::string serverVersion;
  bool toolsListChanged = false;  // the server advertises tools.listChanged
  bool toolsComplete = false;     // every tools/list page was read
  std::vector<Tool> tools;        // in the server's order
  std::string toolsHash;          // over the sorted (name, tool hash) pairs; empty unless complete
  // What the tool-baseline stage (approval::ApprovingProber) says of the tool list; null where
  // no such stage runs (mcp-healthctl probe, --once). Shared: an unchanged list's verdict is the
  // same object check after check.
  std::shared_ptr<const baseline::Verdict> verdict;
  int64_t totalUs = 0;
  int64_t connectUs = 0;
  int64_t initializeUs = 0;
  int64_t toolsListUs = 0;
};

// Published bounds: an error message (after redaction), a server_info name or version.
constexpr size_t kMaxErrorMessage = 512;
constexpr size_t kMaxServerInfo = 256;

// Records a failed check in `result`: the error (its message redacted of `secrets`, "Name: value"
// lines, then cut to kMaxErrorMessage), whether it is retriable, and no tool list (a partial list
// is never published).
void recordFailure(ProbeResult& result, CheckError error, bool retriable,
                   const std::vector<std::string>& secrets);

// The tools in name order (pointers into `tools`).
std::vector<const Tool*> sortedByName(const std::vector<Tool>& tools);

// sha256 over the tools sorted by name: equal exactly when every tool's raw JSON is equal.
std::string computeToolsHash(const std::vector<Tool>& tools);

}  // namespace mcphd::mcp
