#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "common/secret.hpp"

namespace mcphd::auth {

// The credentials envelope (docs/PROTOCOL.md): v2.<key_id>.<base64url(nonce || ciphertext)>,
// XChaCha20-Poly1305-IETF with the server id as associated data, so a blob copied into another
// server's record does not decrypt. v1 has the same framing; v2 says the plaintext holds the
// record fields the secrets are bound to (checked by registry::parseRecord, not here).
//
// Keys live in sodium_malloc'd memory (guard pages, locked, wiped when freed) and are never logged.
class KeyRing {
 public:
  static constexpr size_t kKeyBytes = 32;

  KeyRing();
  ~KeyRing();
  KeyRing(KeyRing&&) noexcept;
  KeyRing& operator=(KeyRing&&) noexcept;

  // Adds a key from its base64 text (standard or URL-safe, padding optional, surrounding
  // whitespace ignored). `id` is [A-Za-z0-9_-]{1,64}.
  Result<void> addKey(const std::string& id, std::string_view base64Text);
  // Reads the key file; a relative path resolves in `credentialsDir` when that is non-empty.
  Result<void> addKeyFile(const std::string& id, const std::string& path,
                          const std::string& credentialsDir);
  Result<void> setActive(const std::string& id);

  bool empty() const { return keys_.empty(); }
  const std::string& activeId() const { return active_; }

  // Encrypts with the active key, as a v2 envelope.
  Result<std::string> seal(std::string_view plaintext, std::string_view serverId) const;
  // Decrypts a v1 or v2 envelope with the key it names; `version` (when given) gets 1 or 2.
  // Errors say what is wrong (unknown key id, damaged blob, wrong server) without revealing
  // anything of the content.
  Result<Secret> open(std::string_view envelope, std::string_view serverId,
                      int* version = nullptr) const;
  bool has(const std::string& id) const { return keys_.count(id) != 0; }

  // A MAC of `message` (libsodium crypto_auth, HMAC-SHA-512-256) under a key derived from the
  // active key for `context` (crypto_kdf, exactly 8 characters, e.g. "baseline"), as
  // "<key_id>.<base64url tag>". Keys derived for different contexts are unrelated, and none of
  // them is the sealing key.
  Result<std::string> mac(std::string_view context, std::string_view message) const;
  // Checks a mac() of `message` made with any key of the ring. The error says what is wrong
  // (malformed, unknown key id, no match) and nothing of the keys.
  Result<void> verifyMac(std::string_view context, std::string_view message,
                         std::string_view tag) const;

 private:
  struct SodiumKey;
  std::map<std::string, std::unique_ptr<SodiumKey>> keys_;
  std::string active_;
};

// A new random key as base64 (what `mcp-healthctl keygen` prints).
std::string generateKeyBase64();

bool isKeyId(std::string_view id);

}  // namespace mcphd::auth
