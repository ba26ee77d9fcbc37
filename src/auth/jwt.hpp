#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace mcphd::auth {

// A private_key_jwt client assertion (RFC 7523 §2.2): iss = sub = client_id, aud = the
// authorization server's issuer, iat, exp = iat + 300, jti. ES256 for P-256 keys (JOSE raw R||S
// signature), RS256 for RSA keys; the key is PEM (PKCS#8 or traditional). Errors never contain
// key material.
Result<std::string> signClientAssertion(std::string_view privateKeyPem, const std::string& clientId,
                                        const std::string& audience, int64_t nowSeconds,
                                        const std::string& jti);

}  // namespace mcphd::auth
