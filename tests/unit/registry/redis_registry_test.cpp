#include "registry/redis_registry.hpp"

#include <sodium.h>

#include <catch2/catch.hpp>
#include <optional>

#include "loop/sim_loop.hpp"
#include "redis/fake_redis.hpp"

using namespace mcphd;
using namespace mcphd::registry;
using mcphd::testing::FakeRedis;

namespace {

struct Listener : ServerListener {
  std::map<std::string, ServerSpec> servers;
  std::vector<std::string> events;
  void upsertServer(const ServerSpec& s, Trigger firstCheck) override {
    servers[s.id] = s;
    events.push_back("upsert " + s.id + " " + triggerName(firstCheck));
  }
  void removeServer(const std::string& id) override {
    servers.erase(id);
    events.push_back("remove " + id);
  }
};

struct Fixture {
  loop::SimLoop loop;
  FakeRedis redis;
  auth::KeyRing keys;
  Listener listener;
  RedisRegistry registry{redis,        loop,  keyspace::Keyspace("mcp:"),
                         ServerSpec{}, keys,  {"from-config"},
                         listener,     60'000};
  // A key to seal records with (for tests of credentials).
  void withKey() {
    REQUIRE(sodium_init() >= 0);
    REQUIRE(keys.addKey("k1", auth::generateKeyBase64()).ok());
    REQUIRE(keys.setActive("k1").ok());
  }
  void add(const std::string& id, std::map<std::string, std::string> fields) {
    redis.sets["mcp:servers"].insert(id);
    redis.hashes["mcp:server:" + id] = std::move(fields);
  }
};

}  // namespace

TEST_CASE("the registry loads every record once Redis is ready, refusing config ids") {
  Fixture f;
  f.add("a", {{"url", "http://a/mcp"}});
  f.add("from-config", {{"url", "http://x/mcp"}});
  f.add("bad id!", {{"url", "http://x/mcp"}});
  f.add("off", {{"url", "http://off/mcp"}, {"enabled", "false"}});
  f.add("empty", {});
  f.registry.start();
  f.loop.advance(1'000);
  CHECK(f.listener.servers.empty());  // not connected yet
  f.redis.setUp(true);
  f.loop.advance(200);
  REQUIRE(f.listener.servers.size() == 2);
  CHECK(f.listener.servers["a"].url == "http://a/mcp");
  CHECK(f.listener.servers["empty"].invalidReason ==
        "record empty: hash mcp:server:empty is missing or empty");
  CHECK(f.listener.servers.count("from-config") == 0);
}

TEST_CASE("a resync picks up records written without a command and drops deleted ones") {
  Fixture f;
  f.redis.setUp(true);
  f.add("a", {{"url", "http://a/mcp"}});
  f.registry.start();
  f.loop.runDue();
  CHECK(f.listener.events == std::vector<std::string>{"upsert a startup"});
  f.add("b", {{"url", "http://b/mcp"}});
  f.redis.hashes["mcp:server:a"]["interval"] = "1m";
  f.loop.advance(59'999);
  CHECK(f.listener.events.size() == 1);
  f.loop.advance(1);
  CHECK(f.listener.events ==
        std::vector<std::string>{"upsert a startup", "upsert a resync", "upsert b resync"});
  CHECK(f.listener.servers["a"].intervalMs == 60'000);
  f.redis.sets["mcp:servers"].erase("a");
  f.loop.advance(60'000);
  CHECK(f.listener.events.back() == "remove a");
  // Nothing changed: nothing announced.
  size_t n = f.listener.events.size();
  f.loop.advance(60'000);
  CHECK(f.listener.events.size() == n);
}

TEST_CASE("reloading one record announces it at once, a config id is refused") {
  Fixture f;
  f.redis.setUp(true);
  f.add("a", {{"url", "http://a/mcp"}});
  std::optional<Result<bool>> got;
  f.registry.reload("a", [&](Result<bool> r) { got = std::move(r); });
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK(got->value());
  CHECK(f.listener.servers.count("a") == 1);
  f.redis.sets["mcp:servers"].erase("a");
  f.registry.reload("a", [&](Result<bool> r) { got = std::move(r); });
  CHECK_FALSE(got->value());
  CHECK(f.listener.servers.count("a") == 0);
  f.registry.reload("from-config", [&](Result<bool> r) { got = std::move(r); });
  CHECK_FALSE(got->ok());
}

TEST_CASE("a record of the wrong Redis type affects only that server") {
  Fixture f;
  f.redis.setUp(true);
  f.add("a", {{"url", "http://a/mcp"}});
  f.add("b", {{"url", "http://b/mcp"}});
  f.redis.sets["mcp:servers"].insert("str");
  f.redis.strings["mcp:server:str"] = "not a hash";
  f.registry.start();
  f.loop.runDue();
  REQUIRE(f.registry.loaded());
  REQUIRE(f.listener.servers.size() == 3);
  CHECK(f.listener.servers["a"].invalidReason.empty());
  CHECK(f.listener.servers["b"].invalidReason.empty());
  CHECK(f.listener.servers["str"].invalidReason ==
        "record str: cannot read hash mcp:server:str: WRONGTYPE Operation against a key holding "
        "the wrong kind of value");
  // Every later resync still loads the others and forgets ids that left the set.
  f.redis.sets["mcp:servers"].erase("a");
  f.add("c", {{"url", "http://c/mcp"}});
  f.loop.advance(60'000);
  CHECK(f.listener.servers.count("a") == 0);
  CHECK(f.listener.servers.count("c") == 1);
  // An upsert of the bad record reports it too, rather than failing the command.
  std::optional<Result<bool>> got;
  f.registry.reload("str", [&](Result<bool> r) { got = std::move(r); });
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK(got->value());
}

TEST_CASE("a rotated refresh token is written back only over the blob that was read") {
  Fixture f;
  f.withKey();
  RecordFields record = {{"url", "http://a/mcp"},
                         {"auth_type", "oauth2"},
                         {"oauth2_flow", "authorization_code"},
                         {"token_url", "http://as/token"}};
  auth::Credentials c;
  c.clientId = "cid";
  c.refreshToken = Secret("r0");
  record["credentials"] = *sealRecord("a", record, c, f.keys);
  f.add("a", record);
  f.registry.start();
  // Redis is down when the token rotates: the write waits and is retried.
  c.refreshToken = Secret("r1");
  f.redis.setUp(true);
  f.loop.runDue();
  REQUIRE(f.listener.servers["a"].auth.oauth2.refreshToken.reveal() == "r0");
  const std::string b0 = f.listener.servers["a"].auth.oauth2.sealedBlob;
  CHECK(b0 == record["credentials"]);
  f.redis.up = false;
  f.registry.storeCredentials("a", b0, c);
  f.loop.advance(999);
  f.redis.up = true;
  f.loop.advance(1);
  const std::string stored = f.redis.hashes["mcp:server:a"]["credentials"];
  REQUIRE(stored != record["credentials"]);
  // The new blob is v2, bound to the same record: it parses with the rotated token.
  ServerSpec s = parseRecord("a", f.redis.hashes["mcp:server:a"], ServerSpec{}, f.keys);
  INFO(s.invalidReason);
  CHECK(s.auth.oauth2.refreshToken.reveal() == "r1");
  // Once written, the registry read the record again: the server's spec holds r1 and its blob.
  CHECK(f.listener.servers["a"].auth.oauth2.refreshToken.reveal() == "r1");
  const std::string b1 = f.listener.servers["a"].auth.oauth2.sealedBlob;
  CHECK(b1 == stored);
  // A newer blob written meanwhile (a fresh login) is never overwritten.
  auth::Credentials login = c;
  login.refreshToken = Secret("fresh");
  f.redis.hashes["mcp:server:a"]["credentials"] = *sealRecord("a", record, login, f.keys);
  c.refreshToken = Secret("r2");
  f.registry.storeCredentials("a", b1, c);
  ServerSpec now = parseRecord("a", f.redis.hashes["mcp:server:a"], ServerSpec{}, f.keys);
  CHECK(now.auth.oauth2.refreshToken.reveal() == "fresh");
  // ... and the registry read it again, so the listener holds the fresh one.
  CHECK(f.listener.servers["a"].auth.oauth2.refreshToken.reveal() == "fresh");
}

TEST_CASE("a rotation that started before an edit does not revert the edit") {
  Fixture f;
  f.withKey();
  RecordFields record = {{"url", "http://a/mcp"},
                         {"auth_type", "oauth2"},
                         {"oauth2_flow", "authorization_code"},
                         {"token_url", "http://as/token"}};
  auth::Credentials c;
  c.clientId = "cid";
  c.clientSecret = Secret("old-secret");
  c.refreshToken = Secret("r0");
  record["credentials"] = *sealRecord("a", record, c, f.keys);
  f.add("a", record);
  f.redis.setUp(true);
  f.registry.start();
  f.loop.runDue();
  const std::string b0 = f.listener.servers["a"].auth.oauth2.sealedBlob;
  // The operator edits the secret and the daemon reads the new record...
  auth::Credentials edited = c;
  edited.clientSecret = Secret("new-secret");
  const std::string bNew = *sealRecord("a", record, edited, f.keys);
  f.redis.hashes["mcp:server:a"]["credentials"] = bNew;
  std::optional<Result<bool>> got;
  f.registry.reload("a", [&](Result<bool> r) { got = std::move(r); });
  REQUIRE(f.listener.servers["a"].auth.oauth2.clientSecret.reveal() == "new-secret");
  // ... then a refresh that started with the old record comes back rotated: not written.
  c.refreshToken = Secret("r1");
  f.registry.storeCredentials("a", b0, c);
  f.loop.advance(60'000);
  CHECK(f.redis.hashes["mcp:server:a"]["credentials"] == bNew);
}
