#pragma once

#include <map>
#include <string>

#include "auth/key_ring.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::registry {

using RecordFields = std::map<std::string, std::string>;

// Builds the spec of a server stored in Redis (hash <prefix>server:<id>, docs/PROTOCOL.md) on top
// of the config's defaults. Never fails: an unusable record gives a spec whose invalidReason says
// what is wrong (and which carries no secret), so the server is published unhealthy with error
// kind "config" instead of being checked with half its settings — or with ciphertext as a secret.
ServerSpec parseRecord(const std::string& id, const RecordFields& fields, const ServerSpec& defaults,
                       const auth::KeyRing& keys);

bool isServerId(const std::string& id);

}  // namespace mcphd::registry
