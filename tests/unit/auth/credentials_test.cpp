#include "auth/credentials.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::auth;

TEST_CASE("credentials parse every documented field, escapes included") {
  auto c = parseCredentials(
      R"({"client_id":"cid","client_secret":"s\"e\\c\u00e9\ud83d\ude00","private_key_pem":"-----BEGIN\nX",)"
      R"("bearer_token":"bt","refresh_token":"rt","username":"u","password":"p","headers":{"X-Key":"v"}})");
  REQUIRE(c.ok());
  CHECK(c->clientId == "cid");
  CHECK(c->clientSecret.reveal() == "s\"e\\c\xc3\xa9\xf0\x9f\x98\x80");
  CHECK(c->privateKeyPem.reveal() == "-----BEGIN\nX");
  CHECK(c->bearerToken.reveal() == "bt");
  CHECK(c->refreshToken.reveal() == "rt");
  CHECK(c->username == "u");
  CHECK(c->password.reveal() == "p");
  REQUIRE(c->headers.size() == 1);
  CHECK(c->headers[0].second.reveal() == "v");
}

TEST_CASE("encoding and parsing credentials round-trips") {
  Credentials c;
  c.clientId = "id";
  c.clientSecret = mcphd::Secret("a\"b\nc");
  c.headers.emplace_back("X-A", mcphd::Secret("1"));
  auto back = parseCredentials(encodeCredentials(c));
  REQUIRE(back.ok());
  CHECK(back->clientSecret.reveal() == "a\"b\nc");
  CHECK(back->headers.at(0).first == "X-A");
  CHECK(parseCredentials("{}").ok());
}

TEST_CASE("bad credentials JSON gets an error that names the field but never a value") {
  auto unknown = parseCredentials(R"({"client_secret":"topsecret","api_key":"x"})");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message.rfind("credentials: unknown field 'api_key'", 0) == 0);
  auto number = parseCredentials(R"({"client_secret":42})");
  CHECK(number.error().message == "credentials: 'client_secret' must be a string");
  CHECK_FALSE(parseCredentials(R"({"client_secret":"topsecret")").ok());
  CHECK_FALSE(parseCredentials(R"({"a":"b"} x)").ok());
  CHECK_FALSE(parseCredentials(R"({"client_id":"a","client_id":"b"})").ok());
  CHECK_FALSE(parseCredentials("{\"client_id\":\"a\x01\"}").ok());
  CHECK_FALSE(parseCredentials(R"({"client_id":"\ud800"})").ok());
  CHECK_FALSE(parseCredentials("").ok());
  for (const char* bad :
       {R"({"client_secret":"topsecret",})", R"(["topsecret"])", R"({"headers":{"a":1}})"}) {
    auto r = parseCredentials(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("topsecret") == std::string::npos);
  }
}

TEST_CASE("credentials strings must be valid UTF-8, the error names the field") {
  // Found by fuzzing: the encoder rewrote invalid UTF-8, so a client id changed on re-sealing.
  auto r = parseCredentials("{\"client_id\":\"nnenn\xff\xff\xff\xffnnnnn{\"}");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "credentials: 'client_id' is not valid UTF-8");
  CHECK(parseCredentials("{\"client_secret\":\"\xc0\xaf\"}").error().message ==
        "credentials: 'client_secret' is not valid UTF-8");  // overlong
  CHECK(parseCredentials("{\"headers\":{\"X\":\"\xed\xa0\x80\"}}").error().message ==
        "credentials: 'headers' holds a string that is not valid UTF-8");  // a surrogate
  CHECK(parseCredentials("{\"bound\":{\"url\":\"http://x/\xff\"}}").error().message ==
        "credentials: 'bound.url' is not valid UTF-8");
  CHECK(parseCredentials("{\"client_id\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}").ok());
}

TEST_CASE("the bound copy of the record parses strictly and round-trips in its documented order") {
  auto c = parseCredentials(
      R"({"bearer_token":"t","bound":{"headers":{"X-Team":"inv"},"url":"http://x/mcp","auth_type":"bearer"}})");
  REQUIRE(c.ok());
  REQUIRE(c->bound);
  CHECK(c->bound->values.at("url") == "http://x/mcp");
  REQUIRE(c->bound->headers);
  CHECK(c->bound->headers->at(0).second == "inv");
  CHECK(
      encodeCredentials(c.value()) ==
      R"({"bearer_token":"t","bound":{"url":"http://x/mcp","auth_type":"bearer","headers":{"X-Team":"inv"}}})");
  CHECK(parseCredentials(R"({"bound":{"command":"sh"}})")
            .error()
            .message.rfind("credentials: unknown field 'bound.command'", 0) == 0);
  CHECK(parseCredentials(R"({"bound":{"url":"a","url":"b"}})").error().message ==
        "credentials: field 'bound.url' appears twice");
  CHECK_FALSE(parseCredentials(R"({"bound":{"url":1}})").ok());
  CHECK_FALSE(parseCredentials(R"({"bound":"url"})").ok());
}
