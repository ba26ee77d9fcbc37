#include <sodium.h>

#include "auth/auth_provider.hpp"
#include "common/base64.hpp"
#include "common/secret.hpp"

namespace mcphd::auth {

std::unique_ptr<Pending> StaticAuthProvider::authorize(
    const registry::ServerSpec& spec, std::function<void(Result<std::vector<std::string>>)> done) {
  std::vector<std::string> headers;
  switch (spec.auth.type) {
    case registry::AuthType::kNone:
      break;
    case registry::AuthType::kBearer:
      headers.push_back("Authorization: Bearer " + std::string(spec.auth.token.reveal()));
      break;
    case registry::AuthType::kBasic: {
      std::string pair = spec.auth.username + ":" + std::string(spec.auth.password.reveal());
      std::string encoded = base64(pair);
      headers.push_back("Authorization: Basic " + encoded);
      wipeString(pair);
      wipeString(encoded);
      break;
    }
    case registry::AuthType::kHeaders:
      for (const auto& [name, value] : spec.auth.headers) {
        headers.push_back(name + ": " + std::string(value.reveal()));
      }
      break;
    case registry::AuthType::kOAuth2:
      done(makeError("OAuth2 servers need the OAuth2 provider, which this build does not wire in"));
      return nullptr;
  }
  done(std::move(headers));
  return nullptr;
}

}  // namespace mcphd::auth
