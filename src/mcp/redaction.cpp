#include "mcp/redaction.hpp"

#include <string_view>

#include "common/redact.hpp"

namespace mcphd::mcp {

void redactSecrets(std::string& message, const std::vector<std::string>& secrets) {
  Redactor r;
  for (const auto& line : secrets) {
    const size_t colon = line.find(": ");
    if (colon != std::string::npos) {
      r.addHeaderValue(std::string_view(line).substr(colon + 2));
    }
  }
  r.apply(message);
}

}  // namespace mcphd::mcp
