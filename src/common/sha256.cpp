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

Sha256 sha256(std::string_view data) {
  thread_local Digest d;
  Sha256 digest{};
  unsigned int length = 0;
  if (d.md == nullptr || d.ctx == nullptr || EVP_DigestInit_ex(d.ctx, d.md, nullptr) != 1 ||
      EVP_DigestUpdate(d.ctx, data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(d.ctx, digest.data(), &length) != 1 || length != digest.size()) {
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
