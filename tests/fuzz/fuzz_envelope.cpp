// libFuzzer target: the credentials envelope decoder and the credentials JSON parser.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/credentials.hpp"
#include "auth/key_ring.hpp"
#include "fuzz_keys.hpp"

using mcphd::fuzz::ring;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto opened = ring().open(text, "srv");
  if (opened) {
    (void)mcphd::auth::parseCredentials(opened->reveal());
  }
  auto c = mcphd::auth::parseCredentials(text);
  if (c) {
    // What parses must survive a round trip unchanged.
    std::string again = mcphd::auth::encodeCredentials(c.value());
    auto back = mcphd::auth::parseCredentials(again);
    if (!back || !(back->clientSecret == c->clientSecret) || back->clientId != c->clientId ||
        back->bound != c->bound || !(back->refreshToken == c->refreshToken) ||
        back->username != c->username) {
      __builtin_trap();
    }
  }
  // Sealing then opening gives the input back.
  auto sealed = ring().seal(text, "srv");
  if (!sealed || !ring().open(sealed.value(), "srv") ||
      ring().open(sealed.value(), "srv")->reveal() != text) {
    __builtin_trap();
  }
  return 0;
}
