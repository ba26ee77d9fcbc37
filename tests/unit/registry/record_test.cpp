#include "registry/record.hpp"

#include <sodium.h>

#include <catch2/catch.hpp>

#include "auth/credentials.hpp"

using namespace mcphd;
using namespace mcphd::registry;

namespace {

auth::KeyRing keys() {
  REQUIRE(sodium_init() >= 0);
  auth::KeyRing k;
  REQUIRE(k.addKey("k1", auth::generateKeyBase64()).ok());
  REQUIRE(k.setActive("k1").ok());
  return k;
}

// The v2 blob of credentials `json` for server `id`, bound to `fields` (the record as stored).
std::string seal(const auth::KeyRing& k, const std::string& id, const std::string& json,
                 const RecordFields& fields = {{"url", "http://x/mcp"}}) {
  auto c = auth::parseCredentials(json);
  REQUIRE(c.ok());
  auto b = sealRecord(id, fields, c.value(), k);
  REQUIRE(b.ok());
  return *b;
}

// `fields` with credentials `json` sealed to them.
RecordFields sealed(const auth::KeyRing& k, const std::string& id, RecordFields fields,
                    const std::string& json) {
  fields["credentials"] = seal(k, id, json, fields);
  return fields;
}

}  // namespace

TEST_CASE("an oauth2 record decrypts into a client-credentials spec") {
  auto k = keys();
  RecordFields f = {{"url", "https://inv.example/mcp"},
                    {"name", "Inventory"},
                    {"auth_type", "oauth2"},
                    {"oauth2_flow", "client_credentials"},
                    {"token_url", "https://as.example/token"},
                    {"scopes", "mcp:read mcp:tools"},
                    {"audience", "inv"},
                    {"token_endpoint_auth_method", "client_secret_post"},
                    {"headers", R"({"X-Team":"inv"})"},
                    {"interval", "15s"},
                    {"timeout", "5s"},
                    {"enabled", "true"},
                    {"updated_at", "2026-11-26T10:00:00Z"}};
  f = sealed(k, "inv", f, R"({"client_id":"cid","client_secret":"sek"})");
  CHECK(f["credentials"].rfind("v2.k1.", 0) == 0);
  ServerSpec s = parseRecord("inv", f, ServerSpec{}, k);
  INFO(s.invalidReason);
  REQUIRE(s.invalidReason.empty());
  CHECK(s.source == Source::kRedis);
  CHECK(s.name == "Inventory");
  CHECK(s.intervalMs == 15'000);
  CHECK(s.timeoutMs == 5'000);
  CHECK(s.headers.at(0).second == "inv");
  CHECK(s.auth.type == AuthType::kOAuth2);
  CHECK(s.auth.oauth2.clientId == "cid");
  CHECK(s.auth.oauth2.clientSecret.reveal() == "sek");
  CHECK(s.auth.oauth2.method == TokenAuthMethod::kClientSecretPost);
  CHECK(s.auth.oauth2.scopes == "mcp:read mcp:tools");
}

TEST_CASE("an unusable record becomes a spec with a reason and no secret") {
  auto k = keys();
  const std::string good =
      seal(k, "a", R"({"bearer_token":"tok"})", {{"url", "http://x/mcp"}, {"auth_type", "bearer"}});
  auto reason = [&](RecordFields f) {
    ServerSpec s = parseRecord("a", f, ServerSpec{}, k);
    CHECK(s.auth.type == AuthType::kNone);
    CHECK(s.auth.token.empty());
    return s.invalidReason;
  };
  CHECK(reason({{"auth_type", "bearer"}, {"credentials", good}}) == "record a: url: is required");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "bearer"}}) ==
        "record a: credentials: auth_type bearer needs a credentials envelope");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "bearer"}, {"credentials", "tok"}})
            .find("not a v2 envelope") != std::string::npos);
  // A blob written for another server does not decrypt here.
  CHECK(reason({{"url", "http://x/mcp"},
                {"auth_type", "bearer"},
                {"credentials", seal(k, "b", R"({"bearer_token":"t"})")}})
            .find("another server id") != std::string::npos);
  CHECK(reason(sealed(k, "a", {{"url", "http://x/mcp"}, {"auth_type", "basic"}},
                      R"({"bearer_token":"tok"})")) ==
        "record a: credentials: auth_type basic needs a username without ':'");
  CHECK(reason({{"url", "http://x/mcp"}, {"auth_type", "magic"}}).find("auth_type: 'magic'") !=
        std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"interval", "5s"}, {"timeout", "5s"}}) ==
        "record a: timeout: must be shorter than interval (timeout 5000 ms, interval 5000 ms)");
  CHECK(reason({{"url", "http://x/mcp"}, {"interval", "soon"}})
            .find("interval: 'soon' is not a duration") != std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"headers", "[1]"}}).find("headers:") !=
        std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"enabled", "maybe"}}) ==
        "record a: enabled: must be true or false");
  CHECK(reason(sealed(k, "a", {{"url", "http://x/mcp"}, {"auth_type", "oauth2"}},
                      R"({"client_id":"c"})")) ==
        "record a: credentials: oauth2 client_credentials needs client_secret or private_key_pem");
  // Whoever writes to Redis cannot make the daemon start a program.
  CHECK(reason({{"transport", "stdio"}, {"command", "sh"}})
            .find("stdio servers can only be declared in the daemon's config file") !=
        std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"command", "sh"}}).find("cannot start processes") !=
        std::string::npos);
  CHECK(reason({{"url", "http://x/mcp"}, {"watch_tools", "yes"}}) ==
        "record a: watch_tools: must be true or false");
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}, {"watch_tools", "true"}}, ServerSpec{}, k)
            .watchTools);
  // Tool baseline settings: stricter than the config's defaults, never looser.
  ServerSpec config;
  config.tools.policy = baseline::Policy::kTofu;
  config.tools.onDrift = baseline::Action::kFlag;
  const auto strict = parseRecord("a",
                                  {{"url", "http://x/mcp"},
                                   {"tool_baseline", "manual"},
                                   {"on_drift", "quarantine"},
                                   {"on_finding", "quarantine"}},
                                  config, k);
  CHECK(strict.invalidReason.empty());
  CHECK(strict.tools == baseline::Settings{baseline::Policy::kManual,
                                           baseline::Action::kQuarantine,
                                           baseline::Action::kQuarantine});
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}}, config, k).tools == config.tools);
  CHECK(reason({{"url", "http://x/mcp"}, {"tool_baseline", "off"}}) ==
        "record a: tool_baseline: 'off' is looser than the config's defaults (tofu); a registry "
        "record may only make it stricter");
  CHECK(reason({{"url", "http://x/mcp"}, {"tool_baseline", "none"}}) ==
        "record a: tool_baseline: must be off, tofu or manual");
  config.tools.onDrift = baseline::Action::kQuarantine;
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}, {"on_drift", "flag"}}, config, k)
            .invalidReason ==
        "record a: on_drift: 'flag' is looser than the config's defaults (quarantine); a registry "
        "record may only make it stricter");
  config.tools.policy = baseline::Policy::kOff;  // the config allows off: so may a record
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}, {"tool_baseline", "off"}}, config, k)
            .invalidReason.empty());
  auth::KeyRing none;
  CHECK(parseRecord("a", {{"url", "http://x/mcp"}, {"auth_type", "bearer"}, {"credentials", good}},
                    ServerSpec{}, none)
            .invalidReason ==
        "record a: credentials: the daemon has no secrets.keys to decrypt them with");
}

TEST_CASE("a record whose clear fields differ from the sealed copy is refused, naming them") {
  auto k = keys();
  const RecordFields original = {{"url", "https://inv.example/mcp"},
                                 {"auth_type", "oauth2"},
                                 {"token_url", "https://as.example/token"},
                                 {"scopes", "a b"},
                                 {"audience", "inv"},
                                 {"resource", "https://inv.example/mcp"},
                                 {"token_endpoint_auth_method", "client_secret_post"},
                                 {"headers", R"({"X-Team":"inv"})"}};
  const RecordFields good =
      sealed(k, "inv", original, R"({"client_id":"c","client_secret":"sek"})");
  REQUIRE(parseRecord("inv", good, ServerSpec{}, k).invalidReason.empty());
  auto refused = [&](const std::string& name, const std::string& value) {
    RecordFields f = good;
    f[name] = value;
    ServerSpec s = parseRecord("inv", f, ServerSpec{}, k);
    CHECK(s.auth.oauth2.clientSecret.empty());  // nothing of the secret is kept
    CHECK(s.auth.oauth2.clientId.empty());
    return s.invalidReason;
  };
  CHECK(refused("url", "http://elsewhere/mcp") ==
        "record inv: url differs from the sealed url; re-seal with mcp-healthctl edit inv");
  CHECK(refused("token_url", "http://evil/token") ==
        "record inv: token_url differs from the sealed token_url; re-seal with mcp-healthctl "
        "edit inv");
  CHECK(refused("transport", "sse").find("transport differs") != std::string::npos);
  CHECK(refused("auth_type", "bearer") ==
        "record inv: auth_type differs from the sealed auth_type; re-seal with mcp-healthctl edit "
        "inv");
  CHECK(refused("oauth2_flow", "authorization_code").find("oauth2_flow differs") !=
        std::string::npos);
  CHECK(refused("resource", "https://other/").find("resource differs") != std::string::npos);
  CHECK(refused("audience", "x").find("audience differs") != std::string::npos);
  CHECK(refused("scopes", "a b c").find("scopes differs") != std::string::npos);
  CHECK(refused("token_endpoint_auth_method", "client_secret_basic")
            .find("token_endpoint_auth_method differs") != std::string::npos);
  CHECK(refused("headers", R"({"X-Team":"other"})").find("headers differs") != std::string::npos);
  // Removing a field is a change too.
  RecordFields noToken = good;
  noToken.erase("token_url");
  CHECK(parseRecord("inv", noToken, ServerSpec{}, k).invalidReason.find("token_url differs") !=
        std::string::npos);
  RecordFields two = good;
  two["url"] = "http://elsewhere/mcp";
  two["token_url"] = "http://elsewhere/token";
  CHECK(parseRecord("inv", two, ServerSpec{}, k).invalidReason ==
        "record inv: url and token_url differ from their sealed copies; re-seal with "
        "mcp-healthctl edit inv");
  // A blob moved to another record of the same id with other fields is the same case.
}

TEST_CASE(
    "an absent field and its default, and equivalent URLs, headers and scopes, compare equal") {
  auto k = keys();
  const RecordFields sealedAs = {{"url", "https://Inv.Example:443/mcp#frag"},
                                 {"auth_type", "bearer"},
                                 {"headers", R"({"X-Team":"inv","X-B":"2"})"}};
  RecordFields f = sealed(k, "inv", sealedAs, R"({"bearer_token":"tok"})");
  f["url"] = "https://inv.example/mcp";
  f["transport"] = "auto";                         // the default, absent when sealed
  f["resource"] = "https://inv.example/mcp";       // the default: the server URL
  f["headers"] = R"({"x-b":"2","X-TEAM":"inv"})";  // same headers, other order and case
  f["interval"] = "1m";                            // not bound
  ServerSpec s = parseRecord("inv", f, ServerSpec{}, k);
  INFO(s.invalidReason);
  CHECK(s.invalidReason.empty());
  CHECK(s.auth.token.reveal() == "tok");

  const RecordFields o = {{"url", "http://h/mcp"}, {"auth_type", "oauth2"}, {"scopes", "b  a"}};
  RecordFields g = sealed(k, "o", o, R"({"client_id":"c","client_secret":"s"})");
  g["scopes"] = "a b";
  g["oauth2_flow"] = "client_credentials";
  g["url"] = "http://H:80/mcp";
  CHECK(parseRecord("o", g, ServerSpec{}, k).invalidReason.empty());
  g["url"] = "http://h:8080/mcp";
  CHECK_FALSE(parseRecord("o", g, ServerSpec{}, k).invalidReason.empty());
}

TEST_CASE("v1 envelopes are refused unless secrets.accept_v1, and v2 needs its bound copy") {
  auto k = keys();
  // A v1 envelope: the same framing, not bound to anything.
  std::string v2 = *k.seal(R"({"bearer_token":"tok"})", "a");
  std::string v1 = "v1" + v2.substr(2);
  RecordFields f = {{"url", "http://x/mcp"}, {"auth_type", "bearer"}, {"credentials", v1}};
  ServerSpec refused = parseRecord("a", f, ServerSpec{}, k);
  CHECK(refused.invalidReason ==
        "record a: credentials: a v1 envelope is not bound to the record's destination and is "
        "refused; convert it with mcp-healthctl reseal a (or set secrets.accept_v1: true)");
  CHECK(refused.auth.token.empty());
  RecordNotes notes;
  ServerSpec accepted = parseRecord("a", f, ServerSpec{}, k, RecordOptions{true}, &notes);
  CHECK(accepted.invalidReason.empty());
  CHECK(accepted.auth.token.reveal() == "tok");
  CHECK(notes.v1);
  // v2 framing without a bound copy (a writer that forgot it) is refused.
  f["credentials"] = v2;
  CHECK(parseRecord("a", f, ServerSpec{}, k).invalidReason.find("holds no 'bound' copy") !=
        std::string::npos);
  // openRecordCredentials reads both, for edit and reseal.
  int version = 0;
  f["credentials"] = v1;
  auto c = openRecordCredentials("a", f, k, &version);
  REQUIRE(c.ok());
  CHECK(version == 1);
  CHECK(c->bearerToken.reveal() == "tok");
}

TEST_CASE("record strings must be valid UTF-8, and the error names the field") {
  auto k = keys();
  ServerSpec s =
      parseRecord("a", {{"url", "http://x/mcp"}, {"name", "bad \xff name"}}, ServerSpec{}, k);
  CHECK(s.invalidReason == "record a: name: is not valid UTF-8");
  s = parseRecord("a", {{"url", "http://x/\xc3"}}, ServerSpec{}, k);
  CHECK(s.invalidReason == "record a: url: is not valid UTF-8");
  CHECK(s.url.empty());
}

// The test vector of docs/PROTOCOL.md ("Credentials envelope"): writers in other languages check
// their output against it.
TEST_CASE("the documented v2 test vector decrypts and verifies") {
  REQUIRE(sodium_init() >= 0);
  const std::string keyB64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
  const std::string plaintext =
      R"({"client_id":"inventory-checker","client_secret":"s3cret",)"
      R"("bound":{"url":"https://inventory.example/mcp","auth_type":"oauth2",)"
      R"("token_url":"https://auth.example/oauth/token","scopes":"mcp:tools"}})";
  const std::string blob =
      "v2.k1.QEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXrxtmHLmFF2LQneOclb4M_OTfw7B8Kyq3CVmYJmJhUbI622ECPP"
      "fqZKDBkS94v67ToUkO2wz30eiU0CqWfMciMHgRg1BhwSnqvyHYi6gJ79XZ6G9FXlgKAz_RfrqgHVJIVhnS5tWGG5"
      "TxgwPvM3-W_-aDdvwT6OyBecs_IADrWeuwOiJgjquk3IKa0Fgd064j1AhHnkBYNDMoUsDUTbdvnladccgWbZQROp"
      "ig4Uf1T53umq-SrtvW44qyPft1-kbqiIDJfZDIG1ZZ37zjE0bSR6C3tw";
  auth::KeyRing k;
  REQUIRE(k.addKey("k1", keyB64).ok());
  // Encrypting the plaintext with the documented nonce (bytes 0x40..0x57) gives the blob.
  unsigned char key[32];
  for (int i = 0; i < 32; ++i) {
    key[i] = static_cast<unsigned char>(i);
  }
  unsigned char nonce[24];
  for (int i = 0; i < 24; ++i) {
    nonce[i] = static_cast<unsigned char>(0x40 + i);
  }
  std::string ct(plaintext.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      reinterpret_cast<unsigned char*>(ct.data()), &clen,
      reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
      reinterpret_cast<const unsigned char*>("inventory"), 9, nullptr, nonce, key);
  std::string raw(reinterpret_cast<const char*>(nonce), 24);
  raw += ct.substr(0, clen);
  char b64[512];
  sodium_bin2base64(b64, sizeof b64, reinterpret_cast<const unsigned char*>(raw.data()), raw.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  CHECK("v2.k1." + std::string(b64) == blob);
  auto plain = k.open(blob, "inventory");
  REQUIRE(plain.ok());
  CHECK(plain->reveal() == plaintext);
  // Our encoder writes exactly this layout (bound last, its fields in the documented order).
  auto parsed = auth::parseCredentials(plaintext);
  REQUIRE(parsed.ok());
  CHECK(auth::encodeCredentials(parsed.value()) == plaintext);
  // The record it belongs to verifies; with another url it does not.
  RecordFields f = {{"url", "https://inventory.example/mcp"},
                    {"auth_type", "oauth2"},
                    {"token_url", "https://auth.example/oauth/token"},
                    {"scopes", "mcp:tools"},
                    {"credentials", blob}};
  ServerSpec s = parseRecord("inventory", f, ServerSpec{}, k);
  INFO(s.invalidReason);
  CHECK(s.invalidReason.empty());
  CHECK(s.auth.oauth2.clientSecret.reveal() == "s3cret");
  f["url"] = "https://elsewhere.example/mcp";
  CHECK(parseRecord("inventory", f, ServerSpec{}, k).invalidReason ==
        "record inventory: url differs from the sealed url; re-seal with mcp-healthctl edit "
        "inventory");
}

TEST_CASE(
    "a record's name is refused when it is longer than 256 bytes or holds control characters") {
  auto k = keys();
  auto reason = [&](const std::string& name) {
    return parseRecord("a", {{"url", "http://x/mcp"}, {"name", name}}, ServerSpec{}, k)
        .invalidReason;
  };
  CHECK(reason("Inventory (EU)").empty());
  CHECK(reason(std::string(256, 'n')).empty());
  const std::string want =
      "record a: name: must be UTF-8 text of at most 256 bytes without control characters";
  CHECK(reason(std::string(257, 'n')) == want);
  CHECK(reason("line\nbreak") == want);
  CHECK(reason("\xff\xfe") == "record a: name: is not valid UTF-8");
}
