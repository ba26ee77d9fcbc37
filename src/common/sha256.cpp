#include "common/sha256.hpp"

// The low-level SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, but they run the
// same code (with the CPU's SHA extensions where present) without EVP's per-digest context
// allocation and provider dispatch: every check hashes every tool, so that overhead was a fifth of
// the daemon's own allocations per check. They stay available in OpenSSL 3.x.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstdlib>

namespace mcphd {

Sha256 sha256(std::string_view data) {
  static_assert(SHA256_DIGEST_LENGTH == std::tuple_size_v<Sha256>);
  Sha256 digest{};
  SHA256_CTX ctx;
  if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, data.data(), data.size()) != 1 ||
      SHA256_Final(digest.data(), &ctx) != 1) {
    std::abort();  // cannot happen with a working libcrypto; a wrong hash would be worse
  }
  return digest;
}

void appendHex(std::string& out, const Sha256& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t at = out.size();
  out.resize(at + 2 * digest.size());
  char* p = out.data() + at;
  for (uint8_t b : digest) {
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 0x0f];
  }
}

std::string sha256Hex(std::string_view data) {
  std::string hex;
  hex.reserve(64);
  appendHex(hex, sha256(data));
  return hex;
}

}  // namespace mcphd
