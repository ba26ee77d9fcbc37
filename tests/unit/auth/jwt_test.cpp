#include "auth/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <simdjson.h>
#include <sodium.h>

#include <catch2/catch.hpp>

using namespace mcphd::auth;

namespace {

std::string pemOf(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  REQUIRE(PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr) == 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string s(data, static_cast<size_t>(n));
  BIO_free(b);
  return s;
}

std::string unb64(const std::string& s) {
  std::string out(s.size(), '\0');
  size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), s.data(),
                            s.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0);
  out.resize(len);
  return out;
}

// Verifies a compact JWS with the key's public half; returns the claims.
std::string verify(const std::string& jws, EVP_PKEY* key, bool ec) {
  size_t d1 = jws.find('.');
  size_t d2 = jws.rfind('.');
  REQUIRE(d1 != d2);
  std::string input = jws.substr(0, d2);
  std::string sig = unb64(jws.substr(d2 + 1));
  std::string der = sig;
  if (ec) {
    REQUIRE(sig.size() == 64);
    ECDSA_SIG* e = ECDSA_SIG_new();
    ECDSA_SIG_set0(e, BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()), 32, nullptr),
                   BN_bin2bn(reinterpret_cast<const unsigned char*>(sig.data()) + 32, 32, nullptr));
    unsigned char* p = nullptr;
    int n = i2d_ECDSA_SIG(e, &p);
    der.assign(reinterpret_cast<char*>(p), static_cast<size_t>(n));
    OPENSSL_free(p);
    ECDSA_SIG_free(e);
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  REQUIRE(EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1);
  int ok = EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(der.data()), der.size(),
                            reinterpret_cast<const unsigned char*>(input.data()), input.size());
  EVP_MD_CTX_free(ctx);
  CHECK(ok == 1);
  return unb64(jws.substr(d1 + 1, d2 - d1 - 1));
}

}  // namespace

TEST_CASE(
    "private_key_jwt assertions: ES256 with a raw R||S signature, RS256, and the right claims") {
  for (bool ec : {true, false}) {
    EVP_PKEY* key = ec ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
    REQUIRE(key != nullptr);
    auto jws =
        signClientAssertion(pemOf(key), "client-1", "https://as.example", 1'790'000'000, "jti-1");
    REQUIRE(jws.ok());
    std::string header = unb64(jws->substr(0, jws->find('.')));
    CHECK(header == std::string("{\"alg\":\"") + (ec ? "ES256" : "RS256") + "\",\"typ\":\"JWT\"}");
    std::string claims = verify(*jws, key, ec);
    CHECK(
        claims ==
        R"({"iss":"client-1","sub":"client-1","aud":"https://as.example","iat":1790000000,"exp":1790000300,"jti":"jti-1"})");
    EVP_PKEY_free(key);
  }
}

TEST_CASE("unusable private keys get an error without key material") {
  auto r = signClientAssertion("-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----\n",
                               "c", "a", 0, "j");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("notakey") == std::string::npos);
  EVP_PKEY* small = EVP_RSA_gen(1024);
  CHECK_FALSE(signClientAssertion(pemOf(small), "c", "a", 0, "j").ok());
  EVP_PKEY_free(small);
}
