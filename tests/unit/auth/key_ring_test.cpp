#include "auth/key_ring.hpp"

#include <sodium.h>

#include <catch2/catch.hpp>
#include <fstream>

using namespace mcphd;
using namespace mcphd::auth;

namespace {

KeyRing ring(const std::string& id = "k1") {
  REQUIRE(sodium_init() >= 0);
  KeyRing r;
  REQUIRE(r.addKey(id, generateKeyBase64()).ok());
  REQUIRE(r.setActive(id).ok());
  return r;
}

}  // namespace

TEST_CASE("an envelope round-trips and names its key") {
  KeyRing r = ring();
  auto blob = r.seal(R"({"client_secret":"s3cr3t"})", "srv-1");
  REQUIRE(blob.ok());
  CHECK(blob->rfind("v2.k1.", 0) == 0);
  CHECK(blob->find("s3cr3t") == std::string::npos);
  CHECK(blob->find_first_of("+/=") == std::string::npos);  // base64url, no padding
  auto plain = r.open(*blob, "srv-1");
  REQUIRE(plain.ok());
  CHECK(plain->reveal() == R"({"client_secret":"s3cr3t"})");
  // A v1 envelope (same framing) still opens, and says which it was.
  int version = 0;
  auto v1 = r.open("v1" + blob->substr(2), "srv-1", &version);
  REQUIRE(v1.ok());
  CHECK(version == 1);
  REQUIRE(r.open(*blob, "srv-1", &version).ok());
  CHECK(version == 2);
  // Two seals of the same text differ (random nonce).
  CHECK(*r.seal("x", "srv-1") != *r.seal("x", "srv-1"));
}

TEST_CASE("a blob copied to another server's record does not decrypt") {
  KeyRing r = ring();
  auto blob = r.seal("{}", "srv-1");
  auto other = r.open(*blob, "srv-2");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message.find("another server id") != std::string::npos);
}

TEST_CASE("a tampered blob or a wrong key does not decrypt") {
  KeyRing r = ring();
  std::string blob = *r.seal("{\"a\":\"b\"}", "s");
  for (size_t i = 6; i < blob.size(); i += 5) {
    std::string t = blob;
    t[i] = t[i] == 'A' ? 'B' : 'A';
    CHECK_FALSE(r.open(t, "s").ok());
  }
  KeyRing other = ring();  // same id, different key
  CHECK_FALSE(other.open(blob, "s").ok());
  KeyRing named = ring("k2");
  auto e = named.open(blob, "s");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().message ==
        "credentials are encrypted with key 'k1', which is not in secrets.keys");
}

TEST_CASE("malformed envelopes get specific errors") {
  KeyRing r = ring();
  CHECK(r.open("plain-text-secret", "s").error().message.find("not a v2 envelope") !=
        std::string::npos);
  CHECK(r.open("v1.k1", "s").error().message.find("no key id") != std::string::npos);
  CHECK(r.open("v3.k1.AAAA", "s").error().message.find("not a v2 envelope") != std::string::npos);
  CHECK(r.open("v1.k1.!!!", "s").error().message.find("base64url") != std::string::npos);
  CHECK(r.open("v1.k1.AAAA", "s").error().message.find("too short") != std::string::npos);
  // The error never echoes the blob.
  CHECK(r.open("v1.k1.c2VjcmV0", "s").error().message.find("c2VjcmV0") == std::string::npos);
}

TEST_CASE("key files: 32 bytes of base64, relative to the credentials directory") {
  REQUIRE(sodium_init() >= 0);
  const std::string dir = "/tmp";
  const std::string name = "mcphd-key-test.key";
  std::ofstream(dir + "/" + name) << generateKeyBase64() << "\n";
  KeyRing r;
  CHECK(r.addKeyFile("k1", name, dir).ok());
  CHECK_FALSE(r.addKey("k2", "c2hvcnQ=").ok());
  CHECK_FALSE(r.addKey("bad.id", generateKeyBase64()).ok());
  CHECK_FALSE(r.addKeyFile("k3", "/nonexistent/key", "").ok());
  CHECK_FALSE(r.setActive("k9").ok());
  std::remove((dir + "/" + name).c_str());
}
