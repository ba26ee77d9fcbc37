// OpenSSL is used here only: libsodium has no ES256/RS256, which the token endpoints speak.
#include "auth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include <memory>
#include <vector>

#include "common/base64.hpp"
#include "common/json_writer.hpp"

namespace mcphd::auth {

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct SigFree {
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};

}  // namespace

Result<std::string> signClientAssertion(std::string_view pem, const std::string& clientId,
                                        const std::string& audience, int64_t now,
                                        const std::string& jti) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return makeError("private_key_pem: out of memory");
  }
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return makeError(
        "private_key_pem is not a PEM private key (PKCS#8 or traditional, unencrypted)");
  }
  const char* alg = nullptr;
  int type = EVP_PKEY_get_base_id(key.get());
  if (type == EVP_PKEY_EC) {
    if (EVP_PKEY_get_bits(key.get()) != 256) {
      return makeError("private_key_pem: EC keys must be P-256 (ES256)");
    }
    alg = "ES256";
  } else if (type == EVP_PKEY_RSA) {
    if (EVP_PKEY_get_bits(key.get()) < 2048) {
      return makeError("private_key_pem: RSA keys must have at least 2048 bits");
    }
    alg = "RS256";
  } else {
    return makeError("private_key_pem: only EC P-256 (ES256) and RSA (RS256) keys are supported");
  }
  std::string header = std::string("{\"alg\":\"") + alg + "\",\"typ\":\"JWT\"}";
  std::string claims = "{\"iss\":" + json::quote(clientId) + ",\"sub\":" + json::quote(clientId) +
                       ",\"aud\":" + json::quote(audience) + ",\"iat\":" + std::to_string(now) +
                       ",\"exp\":" + std::to_string(now + 300) + ",\"jti\":" + json::quote(jti) +
                       "}";
  std::string input = base64UrlNoPad(header) + "." + base64UrlNoPad(claims);
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) != 1) {
    return makeError("private_key_jwt: signing failed");
  }
  std::vector<unsigned char> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return makeError("private_key_jwt: signing failed");
  }
  sig.resize(len);
  std::string raw;
  if (type == EVP_PKEY_EC) {
    // JOSE wants R||S, 32 bytes each; OpenSSL gives DER.
    const unsigned char* p = sig.data();
    std::unique_ptr<ECDSA_SIG, SigFree> ecdsa(
        d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
    if (!ecdsa) {
      return makeError("private_key_jwt: signing failed");
    }
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(ecdsa.get(), &r, &s);
    raw.resize(64);
    if (BN_bn2binpad(r, reinterpret_cast<unsigned char*>(raw.data()), 32) != 32 ||
        BN_bn2binpad(s, reinterpret_cast<unsigned char*>(raw.data()) + 32, 32) != 32) {
      return makeError("private_key_jwt: signing failed");
    }
  } else {
    raw.assign(reinterpret_cast<const char*>(sig.data()), sig.size());
  }
  return input + "." + base64UrlNoPad(raw);
}

}  // namespace mcphd::auth
