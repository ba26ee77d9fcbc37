#include "cluster/rendezvous.hpp"

#include <sodium.h>

#include <array>

namespace mcphd::cluster {

namespace {
constexpr std::array<unsigned char, crypto_shorthash_KEYBYTES> kKey = {
    'm', 'c', 'p', '-', 'h', 'e', 'a', 'l', 't', 'h', 'd', '/', 'h', 'r', 'w', '1'};
}  // namespace

uint64_t rendezvousWeight(std::string_view memberId, std::string_view serverId) {
  std::string message;
  message.reserve(memberId.size() + 1 + serverId.size());
  message.append(memberId).push_back('\0');
  message.append(serverId);
  std::array<unsigned char, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), reinterpret_cast<const unsigned char*>(message.data()),
                   message.size(), kKey.data());
  uint64_t w = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    w |= static_cast<uint64_t>(out[i]) << (8 * i);
  }
  return w;
}

std::string ownerOf(std::string_view serverId, const std::vector<std::string>& members) {
  const std::string* best = nullptr;
  uint64_t bestWeight = 0;
  for (const auto& m : members) {
    const uint64_t w = rendezvousWeight(m, serverId);
    if (best == nullptr || w > bestWeight || (w == bestWeight && m < *best)) {
      best = &m;
      bestWeight = w;
    }
  }
  return best == nullptr ? std::string() : *best;
}

}  // namespace mcphd::cluster
