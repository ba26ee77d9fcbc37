#pragma once

#include <string>
#include <vector>

namespace mcphd::mcp {

// Replaces in `message` every value of `secrets` ("Name: value" lines: the headers sent, a stdio
// server's configured environment; the credential part of "Bearer x"/"Basic x" too), in every
// form a server could echo it (see common/redact.hpp), so a server cannot publish a token.
void redactSecrets(std::string& message, const std::vector<std::string>& secrets);

}  // namespace mcphd::mcp
