#include "auth/key_ring.hpp"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "common/base64.hpp"
#include "common/file.hpp"

namespace mcphd::auth {

namespace {

constexpr size_t kNonce = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTag = crypto_aead_xchacha20poly1305_ietf_ABYTES;

// Decodes base64 in any of libsodium's variants; false when none fits.
bool decodeBase64(std::string_view text, unsigned char* out, size_t cap, size_t& len) {
  for (int variant : {sodium_base64_VARIANT_URLSAFE_NO_PADDING, sodium_base64_VARIANT_URLSAFE,
                      sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING}) {
    const char* end = nullptr;
    if (sodium_base642bin(out, cap, text.data(), text.size(), nullptr, &len, &end, variant) == 0 &&
        end == text.data() + text.size()) {
      return true;
    }
  }
  return false;
}

}  // namespace

struct KeyRing::SodiumKey {
  unsigned char* bytes;
  SodiumKey() : bytes(static_cast<unsigned char*>(sodium_malloc(kKeyBytes))) {
    if (bytes == nullptr) {
      throw std::bad_alloc();
    }
  }
  ~SodiumKey() { sodium_free(bytes); }  // zeroes before freeing
  SodiumKey(const SodiumKey&) = delete;
  SodiumKey& operator=(const SodiumKey&) = delete;
};

bool isKeyId(std::string_view id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

KeyRing::KeyRing() = default;
KeyRing::~KeyRing() = default;
KeyRing::KeyRing(KeyRing&&) noexcept = default;
KeyRing& KeyRing::operator=(KeyRing&&) noexcept = default;

Result<void> KeyRing::addKey(const std::string& id, std::string_view text) {
  if (!isKeyId(id)) {
    return makeError("key id '" + id + "' must match [A-Za-z0-9_-]{1,64}");
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  auto key = std::make_unique<SodiumKey>();
  unsigned char buf[kKeyBytes + 16];
  size_t len = 0;
  bool ok = decodeBase64(text, buf, sizeof buf, len) && len == kKeyBytes;
  if (ok) {
    std::memcpy(key->bytes, buf, kKeyBytes);
  }
  sodium_memzero(buf, sizeof buf);
  if (!ok) {
    return makeError("key '" + id +
                     "' is not 32 bytes in base64 (make one with: mcp-healthctl keygen)");
  }
  keys_[id] = std::move(key);
  return {};
}

Result<void> KeyRing::addKeyFile(const std::string& id, const std::string& path,
                                 const std::string& credentialsDir) {
  std::string full = path;
  if (!full.empty() && full.front() != '/' && !credentialsDir.empty()) {
    full = credentialsDir + "/" + full;
  }
  auto read = readBounded(full, 1024);
  if (!read) {
    return makeError("cannot read key file " + full + ": " + std::strerror(errno));
  }
  std::string text = std::move(*read);
  if (text.size() > 1024) {
    wipeString(text);
    return makeError("key file " + full + " is not a base64 key (too large)");
  }
  auto r = addKey(id, text);
  wipeString(text);
  if (!r) {
    return makeError(r.error().message + " in " + full);
  }
  return {};
}

Result<void> KeyRing::setActive(const std::string& id) {
  if (keys_.count(id) == 0) {
    return makeError("the active key '" + id + "' is not among the listed keys");
  }
  active_ = id;
  return {};
}

Result<std::string> KeyRing::seal(std::string_view plaintext, std::string_view serverId) const {
  auto it = keys_.find(active_);
  if (it == keys_.end()) {
    return makeError("no active key to encrypt with (set secrets.active)");
  }
  std::string blob(kNonce + plaintext.size() + kTag, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(blob.data());
  randombytes_buf(nonce, kNonce);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      nonce + kNonce, &clen, reinterpret_cast<const unsigned char*>(plaintext.data()),
      plaintext.size(), reinterpret_cast<const unsigned char*>(serverId.data()), serverId.size(),
      nullptr, nonce, it->second->bytes);
  blob.resize(kNonce + clen);
  return "v2." + active_ + "." + base64UrlNoPad(blob);
}

Result<Secret> KeyRing::open(std::string_view envelope, std::string_view serverId,
                             int* version) const {
  if (envelope.substr(0, 3) != "v1." && envelope.substr(0, 3) != "v2.") {
    return makeError("credentials are not a v2 envelope (v2.<key_id>.<base64url>)");
  }
  if (version != nullptr) {
    *version = envelope[1] - '0';
  }
  std::string_view rest = envelope.substr(3);
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) {
    return makeError("credentials envelope has no key id");
  }
  std::string keyId(rest.substr(0, dot));
  auto it = keys_.find(keyId);
  if (!isKeyId(keyId) || it == keys_.end()) {
    return makeError("credentials are encrypted with key '" +
                     (isKeyId(keyId) ? keyId : std::string("?")) +
                     "', which is not in secrets.keys");
  }
  std::string_view b64 = rest.substr(dot + 1);
  if (b64.size() > 1024 * 1024) {
    return makeError("credentials envelope is larger than 1 MiB");
  }
  std::string raw(b64.size(), '\0');
  size_t len = 0;
  if (!decodeBase64(b64, reinterpret_cast<unsigned char*>(raw.data()), raw.size(), len)) {
    return makeError("credentials envelope is not valid base64url");
  }
  if (len < kNonce + kTag) {
    return makeError("credentials envelope is too short");
  }
  std::string plain(len - kNonce - kTag, '\0');
  unsigned long long plen = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plen, nullptr, bytes + kNonce,
          len - kNonce, reinterpret_cast<const unsigned char*>(serverId.data()), serverId.size(),
          bytes, it->second->bytes) != 0) {
    wipeString(plain);
    return makeError("credentials do not decrypt with key '" + keyId +
                     "': the blob is damaged, or was written for another server id");
  }
  plain.resize(plen);
  Secret s(plain);
  wipeString(plain);
  return s;
}

std::string generateKeyBase64() {
  unsigned char key[KeyRing::kKeyBytes];
  randombytes_buf(key, sizeof key);
  std::string out = base64(std::string_view(reinterpret_cast<const char*>(key), sizeof key));
  sodium_memzero(key, sizeof key);
  return out;
}

namespace {

// The MAC key for `context`, derived from `master` (wiped when it goes).
struct DerivedKey {
  unsigned char bytes[crypto_auth_KEYBYTES];
  DerivedKey(std::string_view context, const unsigned char* master) {
    static_assert(crypto_kdf_KEYBYTES == KeyRing::kKeyBytes);
    static_assert(crypto_auth_KEYBYTES >= crypto_kdf_BYTES_MIN &&
                  crypto_auth_KEYBYTES <= crypto_kdf_BYTES_MAX);
    char ctx[crypto_kdf_CONTEXTBYTES] = {};
    std::memcpy(ctx, context.data(), std::min(context.size(), sizeof ctx));
    crypto_kdf_derive_from_key(bytes, sizeof bytes, 1, ctx, master);
  }
  ~DerivedKey() { sodium_memzero(bytes, sizeof bytes); }
  DerivedKey(const DerivedKey&) = delete;
  DerivedKey& operator=(const DerivedKey&) = delete;
};

}  // namespace

Result<std::string> KeyRing::mac(std::string_view context, std::string_view message) const {
  auto it = keys_.find(active_);
  if (it == keys_.end()) {
    return makeError("no active key to sign with (set secrets.active)");
  }
  const DerivedKey key(context, it->second->bytes);
  unsigned char tag[crypto_auth_BYTES];
  crypto_auth(tag, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
              key.bytes);
  return active_ + "." +
         base64UrlNoPad(std::string_view(reinterpret_cast<const char*>(tag), sizeof tag));
}

Result<void> KeyRing::verifyMac(std::string_view context, std::string_view message,
                                std::string_view tag) const {
  const size_t dot = tag.find('.');
  if (dot == std::string_view::npos) {
    return makeError("the signature is not <key_id>.<base64url>");
  }
  const std::string keyId(tag.substr(0, dot));
  auto it = keys_.find(keyId);
  if (!isKeyId(keyId) || it == keys_.end()) {
    return makeError("signed with key '" + (isKeyId(keyId) ? keyId : std::string("?")) +
                     "', which is not in secrets.keys");
  }
  unsigned char raw[crypto_auth_BYTES + 8];
  size_t len = 0;
  if (tag.size() - dot - 1 > 64 || !decodeBase64(tag.substr(dot + 1), raw, sizeof raw, len) ||
      len != crypto_auth_BYTES) {
    return makeError("the signature is not a base64url tag of " +
                     std::to_string(crypto_auth_BYTES) + " bytes");
  }
  const DerivedKey key(context, it->second->bytes);
  if (crypto_auth_verify(raw, reinterpret_cast<const unsigned char*>(message.data()),
                         message.size(), key.bytes) != 0) {
    return makeError("the signature does not match (key '" + keyId + "')");
  }
  return {};
}

}  // namespace mcphd::auth
