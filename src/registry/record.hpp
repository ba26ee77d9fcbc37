#pragma once

#include <map>
#include <string>

#include "auth/credentials.hpp"
#include "auth/key_ring.hpp"
#include "registry/server_spec.hpp"
#include "registry/validate.hpp"

namespace mcphd::registry {

using RecordFields = std::map<std::string, std::string>;

// Builds the spec of a server stored in Redis (hash <prefix>server:<id>, docs/PROTOCOL.md) on top
// of the config's defaults. Never fails: an unusable record gives a spec whose invalidReason says
// what is wrong (and which carries no secret), so the server is published unhealthy with error
// kind "config" instead of being checked with half its settings — or with ciphertext as a secret.
//
// Credentials are sealed to the record's destination: a v2 envelope holds a copy of every field
// that decides where and how a secret is sent (auth::kBoundFieldNames), and a record whose clear
// fields say otherwise — after defaults and URL normalization — is refused, naming the fields.
// v1 envelopes (not bound) are refused unless `acceptV1`.
struct RecordOptions {
  bool acceptV1 = false;  // secrets.accept_v1
};
// What the caller may want to log about a record that parsed.
struct RecordNotes {
  bool v1 = false;  // its credentials are a v1 envelope (accepted by secrets.accept_v1)
};
ServerSpec parseRecord(const std::string& id, const RecordFields& fields,
                       const ServerSpec& defaults, const auth::KeyRing& keys,
                       const RecordOptions& options = {}, RecordNotes* notes = nullptr);

// A record's `headers` field: a JSON object of header names to values, in the given order.
std::string headersJson(const std::vector<std::pair<std::string, std::string>>& headers);

// Lua for EVAL with KEYS[1] = a record's hash, ARGV[1] = the credentials blob it must still hold,
// ARGV[2] = the new one: replaces the blob only then (1), else leaves it (0). Every write of a
// record's credentials by the daemon or mcp-healthctl goes through it, so a newer blob is never
// overwritten.
inline constexpr const char* kCredentialsCasScript =
    "if redis.call('HGET', KEYS[1], 'credentials') == ARGV[1] then "
    "redis.call('HSET', KEYS[1], 'credentials', ARGV[2]) return 1 else return 0 end";

// The bound fields of a record: each of auth::kBoundFieldNames the record holds (non-empty),
// `headers` parsed. An error when `headers` is not a JSON object of strings.
Result<auth::BoundFields> boundFieldsOf(const RecordFields& fields);

// Seals `creds` for server `id` with the active key as a v2 envelope bound to `fields` (the
// record as it will be stored). `creds.bound` is replaced.
Result<std::string> sealRecord(const std::string& id, const RecordFields& fields,
                               auth::Credentials creds, const auth::KeyRing& keys);

// Decrypts the record's `credentials` (v1 or v2, with any key of `keys`) without comparing the
// bound fields: for mcp-healthctl edit and reseal, which bind them anew. `version` gets 1 or 2.
Result<auth::Credentials> openRecordCredentials(const std::string& id, const RecordFields& fields,
                                                const auth::KeyRing& keys, int* version = nullptr);

}  // namespace mcphd::registry
