#include "http/listen_address.hpp"

#include <cstdlib>

namespace mcphd::http {

Result<std::pair<std::string, int>> parseListenAddress(const std::string& address, bool anyPort) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return makeError("'" + address + "' is not host:port (e.g. 127.0.0.1:9464)");
  }
  std::string host = address.substr(0, colon);
  std::string portText = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) {
    host = "0.0.0.0";
  }
  char* end = nullptr;
  long port = std::strtol(portText.c_str(), &end, 10);
  if (portText.empty() || *end != '\0' || port < (anyPort ? 0 : 1) || port > 65535) {
    return makeError("'" + address + "': the port must be 1-65535");
  }
  return std::make_pair(host, static_cast<int>(port));
}

}  // namespace mcphd::http
