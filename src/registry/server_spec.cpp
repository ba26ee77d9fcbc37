#include "registry/server_spec.hpp"

namespace mcphd::registry {

const char* transportName(Transport t) {
  switch (t) {
    case Transport::kStreamableHttp:
      return "streamable_http";
  }
  return "?";
}

const char* authTypeName(AuthType t) {
  switch (t) {
    case AuthType::kNone:
      return "none";
    case AuthType::kBearer:
      return "bearer";
    case AuthType::kBasic:
      return "basic";
    case AuthType::kHeaders:
      return "headers";
  }
  return "?";
}

}  // namespace mcphd::registry
