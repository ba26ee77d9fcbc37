// libFuzzer target: registry record parsing (every field, the v2 envelope and its bound check).
// Input: NUL-separated key, value, key, value, ... The pseudo-field "credentials_plain" is sealed
// (with the target's key, bound to the other fields) into "credentials", so the fuzzer reaches
// the bound comparison and the credentials checks without having to forge a ciphertext; a field
// "tamper" then overwrites one clear field after sealing.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "auth/credentials.hpp"
#include "auth/key_ring.hpp"
#include "fuzz_keys.hpp"
#include "registry/record.hpp"

using mcphd::fuzz::ring;

namespace {

// The bound check's own refusal ("url differs from the sealed url; ...", "url and headers differ
// from their sealed copies; ..."): it starts with a bound field's name. Another field's refusal
// may quote a value that holds "differ" (auth_type: 'differoauth2' ...), which is not one.
bool boundMismatch(const std::string& reason) {
  for (const char* name : {"url", "transport", "auth_type", "oauth2_flow", "token_url", "resource",
                           "audience", "scopes", "token_endpoint_auth_method", "headers"}) {
    const std::string n = name;
    if (reason.rfind(n + " differ", 0) == 0 || reason.rfind(n + ", ", 0) == 0 ||
        reason.rfind(n + " and ", 0) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  mcphd::registry::RecordFields fields;
  std::string plain;
  std::string tamper;
  size_t i = 0;
  while (i <= text.size()) {
    size_t k = text.find('\0', i);
    if (k == std::string_view::npos) {
      break;
    }
    size_t v = text.find('\0', k + 1);
    std::string key(text.substr(i, k - i));
    std::string value(
        text.substr(k + 1, v == std::string_view::npos ? std::string_view::npos : v - k - 1));
    if (key == "credentials_plain") {
      plain = value;
    } else if (key == "tamper") {
      tamper = value;
    } else {
      fields[key] = value;
    }
    if (v == std::string_view::npos) {
      break;
    }
    i = v + 1;
  }
  const std::string id = "srv";
  if (!plain.empty()) {
    auto creds = mcphd::auth::parseCredentials(plain);
    if (creds) {
      auto blob = mcphd::registry::sealRecord(id, fields, creds.value(), ring());
      if (blob) {
        fields["credentials"] = blob.value();
        // Sealed as written: must verify unless the fields are invalid on their own.
        mcphd::registry::ServerSpec s = mcphd::registry::parseRecord(id, fields, {}, ring());
        if (boundMismatch(s.invalidReason)) {
          __builtin_trap();  // a record sealed to its own fields never differs from them
        }
      }
    }
  }
  if (!tamper.empty()) {
    fields["url"] = tamper;
  }
  mcphd::registry::RecordNotes notes;
  (void)mcphd::registry::parseRecord(id, fields, {}, ring(), {true}, &notes);
  (void)mcphd::registry::parseRecord(id, fields, {}, ring());
  return 0;
}
