#include "common/redact.hpp"

namespace mcphd {

void redact(std::string& text, std::string_view secret) {
  if (secret.size() < 4) {
    return;
  }
  for (size_t pos = text.find(secret); pos != std::string::npos; pos = text.find(secret, pos)) {
    text.replace(pos, secret.size(), "[redacted]");
    pos += 10;
  }
}

}  // namespace mcphd
