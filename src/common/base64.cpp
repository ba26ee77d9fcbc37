#include "common/base64.hpp"

#include <sodium.h>

namespace mcphd {

namespace {

std::string encode(std::string_view bytes, int variant) {
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(out.size() - 1);  // the terminating NUL that libsodium counts
  return out;
}

}  // namespace

std::string base64(std::string_view bytes) { return encode(bytes, sodium_base64_VARIANT_ORIGINAL); }

std::string base64UrlNoPad(std::string_view bytes) {
  return encode(bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

}  // namespace mcphd
