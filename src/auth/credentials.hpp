#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::auth {

// The decrypted content of a credentials envelope (docs/PROTOCOL.md).
struct Credentials {
  std::string clientId;
  Secret clientSecret;
  Secret privateKeyPem;
  Secret bearerToken;
  Secret refreshToken;
  std::string username;
  Secret password;
  std::vector<std::pair<std::string, Secret>> headers;  // secret headers
};

// Parses the plaintext JSON object. A small strict parser of our own, because every buffer that
// held a secret must be wiped, which a general JSON library's internal buffers don't allow.
// Errors name the field, never a value.
Result<Credentials> parseCredentials(std::string_view json);

// The plaintext JSON for `c` (fields that are empty are left out). The caller wipes it.
std::string encodeCredentials(const Credentials& c);

}  // namespace mcphd::auth
