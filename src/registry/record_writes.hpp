#pragma once

#include <string>
#include <vector>

#include "keyspace/keyspace.hpp"
#include "registry/record.hpp"

namespace mcphd::registry {

// Every write to the registry in Redis, as the commands that make it: the daemon sends them on
// its asynchronous connection, mcp-healthctl on its blocking one. The only place a record is
// written, so the two cannot disagree on how.
using Command = std::vector<std::string>;

// Replaces the record by `fields` and registers the id: run as one transaction (MULTI/EXEC).
std::vector<Command> putRecord(const keyspace::Keyspace& keys, const std::string& id,
                               const RecordFields& fields);

// The same, only while the record's credentials are still `expected` ("" for none): a blob
// written meanwhile (a rotated refresh token, a login, another edit) is never overwritten.
// The reply is 1 when written, 0 when not.
Command putRecordIfUnchanged(const keyspace::Keyspace& keys, const std::string& id,
                             const RecordFields& fields, const std::string& expected);

// Replaces the record's credentials by `blob` only while they are `expected` (see
// kCredentialsCasScript). The reply is 1 when written, 0 when not.
Command replaceCredentials(const keyspace::Keyspace& keys, const std::string& id,
                           const std::string& expected, const std::string& blob);

// Deletes the record and its id (a `remove` command): both go, or the next resync would bring
// the server back.
std::vector<Command> removeRecord(const keyspace::Keyspace& keys, const std::string& id);

}  // namespace mcphd::registry
