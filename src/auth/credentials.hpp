#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::auth {

// The record fields that decide where and how a secret is sent, as sealed under "bound" in a v2
// envelope (docs/PROTOCOL.md): the daemon sends the secrets only while the record's clear fields
// still say the same.
inline constexpr const char* kBoundFieldNames[] = {
    "url",         "transport", "auth_type",
    "oauth2_flow", "token_url", "resource",
    "audience",    "scopes",    "token_endpoint_auth_method",
    "headers"};

struct BoundFields {
  // Every bound field but `headers`, as the record holds it; an absent field is not in the map.
  std::map<std::string, std::string> values;
  // `headers`, parsed (name, value) in the sealed order; present only when the record had them.
  std::optional<std::vector<std::pair<std::string, std::string>>> headers;
  bool operator==(const BoundFields&) const = default;
};

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
  std::optional<BoundFields> bound;                     // v2: the fields the secrets are bound to
};

// Parses the plaintext JSON object. A small strict parser of our own, because every buffer that
// held a secret must be wiped, which a general JSON library's internal buffers don't allow.
// Errors name the field, never a value. Every string must be valid UTF-8 (the encoder would
// otherwise rewrite it, and a client id would change when a record is re-sealed).
Result<Credentials> parseCredentials(std::string_view json);

// The plaintext JSON for `c` (fields that are empty are left out; `bound` last, its fields in
// kBoundFieldNames order). The caller wipes it.
std::string encodeCredentials(const Credentials& c);

}  // namespace mcphd::auth
