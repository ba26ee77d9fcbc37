#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace mcphd {

// Reads at most `limit` + 1 bytes of the file at `path` (so a caller can tell "too large"
// without a device such as /dev/zero filling memory). nullopt when it cannot be opened; errno
// says why.
std::optional<std::string> readBounded(const std::string& path, size_t limit);

}  // namespace mcphd
