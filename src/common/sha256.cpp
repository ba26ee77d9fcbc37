#include "common/sha256.hpp"

#include <openssl/evp.h>

#include <cstdlib>

namespace mcphd {

namespace {

// OpenSSL rather than libsodium: it uses the CPU's SHA extensions where present, and every check
// hashes every tool (libsodium's portable SHA-256 was ~8 % of a check's CPU). The algorithm is
// fetched once: OpenSSL 3's one-shot SHA256() fetches it on every call, which cost as much again.
struct Digest {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Digest() {
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
  }
};

}  // namespace

std::string sha256Hex(std::string_view data) {
  thread_local Digest d;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (d.md == nullptr || d.ctx == nullptr || EVP_DigestInit_ex(d.ctx, d.md, nullptr) != 1 ||
      EVP_DigestUpdate(d.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(d.ctx, digest, &length) != 1 || length != 32) {
    std::abort();  // cannot happen with a working libcrypto; a wrong hash would be worse
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(64, '\0');
  for (size_t i = 0; i < 32; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return hex;
}

}  // namespace mcphd
