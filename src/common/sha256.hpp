#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace mcphd {

using Sha256 = std::array<uint8_t, 32>;

// SHA-256 of `data`.
Sha256 sha256(std::string_view data);
// Appends the lower-case hex form of `digest` (64 characters) to `out`.
void appendHex(std::string& out, const Sha256& digest);
// Lower-case hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);

}  // namespace mcphd
