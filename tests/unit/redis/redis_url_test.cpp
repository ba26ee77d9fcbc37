#include "redis/redis_url.hpp"

#include <catch2/catch.hpp>

using namespace mcphd::redis;

TEST_CASE("redis URLs: host, port, db, an ACL user and a password, never shown") {
  auto a = parseUrl("redis://ops:p%40ss@10.0.0.5:6380/2");
  REQUIRE(a.ok());
  CHECK(a->host == "10.0.0.5");
  CHECK(a->port == 6380);
  CHECK(a->db == 2);
  CHECK(a->username == "ops");
  CHECK(a->password.reveal() == "p@ss");
  CHECK(a->display().find("p@ss") == std::string::npos);
  auto b = parseUrl("redis://:secret@localhost");
  REQUIRE(b.ok());
  CHECK(b->username.empty());
  CHECK(b->password.reveal() == "secret");
  auto c = parseUrl("redis://ops@localhost");
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().message.find("redis.username and redis.password_file") != std::string::npos);
  CHECK_FALSE(parseUrl("rediss://h").ok());
}
