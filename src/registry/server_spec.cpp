#include "registry/server_spec.hpp"

namespace mcphd::registry {

const char* transportName(Transport t) {
  switch (t) {
    case Transport::kStreamableHttp:
      return "streamable_http";
    case Transport::kSse:
      return "sse";
    case Transport::kAuto:
      return "auto";
    case Transport::kStdio:
      return "stdio";
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
    case AuthType::kOAuth2:
      return "oauth2";
  }
  return "?";
}

const char* tokenAuthMethodName(TokenAuthMethod m) {
  switch (m) {
    case TokenAuthMethod::kAuto:
      return "auto";
    case TokenAuthMethod::kClientSecretBasic:
      return "client_secret_basic";
    case TokenAuthMethod::kClientSecretPost:
      return "client_secret_post";
    case TokenAuthMethod::kPrivateKeyJwt:
      return "private_key_jwt";
  }
  return "?";
}

}  // namespace mcphd::registry
