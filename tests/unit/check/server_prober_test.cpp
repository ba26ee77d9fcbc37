#include "check/server_prober.hpp"

#include <catch2/catch.hpp>
#include <optional>

#include "auth/auth_provider.hpp"
#include "loop/sim_loop.hpp"
#include "mcp/fake_http.hpp"

using namespace mcphd;
using namespace mcphd::check;
using mcphd::testing::FakeHttp;

namespace {

const std::string kInit =
    R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"s","version":"1"}}})";

// Counts what the check asked of the credentials; a 401 is worth one more attempt.
struct CountingAuth final : auth::AuthProvider {
  int authorized = 0;
  int rejected401 = 0;
  int discovered = 0;
  std::string challenge;
  std::unique_ptr<auth::Pending> authorize(
      const registry::ServerSpec&,
      std::function<void(Result<std::vector<std::string>>)> done) override {
    ++authorized;
    done(std::vector<std::string>{"Authorization: Bearer tok-" + std::to_string(authorized)});
    return nullptr;
  }
  void rejected(const registry::ServerSpec&) override { ++rejected401; }
  bool needsAuthorization(const registry::ServerSpec&) const override { return false; }
  bool retriesOn401(const registry::ServerSpec&) const override { return true; }
  std::unique_ptr<auth::Pending> discover(const registry::ServerSpec&, const std::string& c,
                                          std::function<void(Result<void>)> done) override {
    ++discovered;
    challenge = c;
    done(Result<void>());
    return nullptr;
  }
};

// An authorization-code server's credentials: a refresh that is refused for good (invalid_grant)
// leaves the server needing a login.
struct LoginAuth final : auth::AuthProvider {
  bool refuse = false;
  bool dead = false;
  std::string refusal =
      "token endpoint http://as/token rejected the refresh token (HTTP 400): "
      "invalid_grant: grant request is invalid";
  std::unique_ptr<auth::Pending> authorize(
      const registry::ServerSpec&,
      std::function<void(Result<std::vector<std::string>>)> done) override {
    if (refuse) {
      dead = true;
      done(makeError(refusal));
      return nullptr;
    }
    done(std::vector<std::string>{"Authorization: Bearer tok-secret-1"});
    return nullptr;
  }
  void rejected(const registry::ServerSpec&) override { ++rejections; }
  int rejections = 0;
  bool needsAuthorization(const registry::ServerSpec&) const override { return dead; }
  bool retriesOn401(const registry::ServerSpec&) const override { return false; }
  std::unique_ptr<auth::Pending> discover(const registry::ServerSpec&, const std::string&,
                                          std::function<void(Result<void>)> done) override {
    done(Result<void>());
    return nullptr;
  }
};

struct Fixture {
  loop::SimLoop loop;
  FakeHttp http;
  auth::StaticAuthProvider auth;
  ServerProber prober{http, auth, loop, loop};
  std::optional<mcp::ProbeResult> result;
  registry::ServerSpec spec;
  Fixture() {
    spec.id = "a";
    spec.url = "http://h:1/mcp";
    spec.transport = registry::Transport::kAuto;
  }
  std::unique_ptr<RunningCheck> start() {
    result.reset();
    auto c = prober.start(spec, [this](mcp::ProbeResult r) { result = std::move(r); });
    loop.runDue();
    return c;
  }
};

}  // namespace

TEST_CASE("transport auto: a 404 from Streamable HTTP falls back to legacy SSE, remembered") {
  Fixture f;
  auto c = f.start();
  REQUIRE(f.http.sent.size() == 1);
  CHECK(f.http.sent[0]->request.method == "POST");
  f.http.answer(0, 404, "text/plain", "no such endpoint");
  f.loop.runDue();
  CHECK_FALSE(f.result);
  REQUIRE(f.http.sent.size() == 2);
  CHECK(f.http.sent[1]->request.method == "GET");  // the SSE stream
  http::Response head;
  head.status = 200;
  head.contentType = "text/event-stream";
  auto& stream = f.http.sent[1]->request;
  stream.onChunk(head, "event: endpoint\ndata: /m\n\n");
  f.http.answer(2, 202, "", "");  // initialize posted
  stream.onChunk(
      head,
      "event: message\ndata: " +
          std::string(
              R"({"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2024-11-05","capabilities":{}}})") +
          "\n\n");
  f.http.answer(3, 202, "", "");  // initialized
  f.loop.runDue();
  f.http.answer(4, 202, "", "");  // tools/list posted
  stream.onChunk(head, "event: message\ndata: " +
                           std::string(R"({"jsonrpc":"2.0","id":2,"result":{"tools":[]}})") +
                           "\n\n");
  f.http.answer(1, 200, "text/event-stream", "");
  f.loop.runDue();
  REQUIRE(f.result);
  CHECK_FALSE(f.result->error);
  CHECK(f.result->protocolVersion == "2024-11-05");
  // The next check goes straight to SSE.
  auto c2 = f.start();
  REQUIRE(f.http.sent.size() == 6);
  CHECK(f.http.sent[5]->request.method == "GET");
}

TEST_CASE("transport auto: when the fallback fails too, the first failure leads the message") {
  Fixture f;
  auto c = f.start();
  f.http.answer(0, 405, "", "");
  f.loop.runDue();
  f.http.answer(1, 404, "text/html", "nope");
  f.loop.runDue();
  REQUIRE(f.result);
  REQUIRE(f.result->error);
  CHECK(f.result->error->httpStatus == 405);
  CHECK(f.result->error->message ==
        "HTTP 405 during initialize; the legacy HTTP+SSE fallback failed too: HTTP 404 from the "
        "SSE URL");
}

TEST_CASE("a 401 drops the token, discovers from the challenge, and retries once") {
  loop::SimLoop loop;
  FakeHttp http;
  CountingAuth auth;
  ServerProber prober{http, auth, loop, loop};
  registry::ServerSpec spec;
  spec.id = "a";
  spec.url = "http://h:1/mcp";
  spec.transport = registry::Transport::kStreamableHttp;
  std::optional<mcp::ProbeResult> result;
  auto c = prober.start(spec, [&](mcp::ProbeResult r) { result = std::move(r); });
  loop.runDue();
  CHECK(http.hasHeader(0, "Authorization: Bearer tok-1"));
  http.answer(0, 401, "application/json", "{}");
  loop.runDue();
  CHECK(auth.rejected401 == 1);
  CHECK(auth.discovered == 1);
  loop.runDue();
  REQUIRE(http.sent.size() == 2);
  CHECK(http.hasHeader(1, "Authorization: Bearer tok-2"));
  http.answer(1, 401, "application/json", "{}");
  loop.runDue();
  REQUIRE(result);
  CHECK(result->error->kind == mcp::ErrorKind::kAuth);
  CHECK(auth.discovered == 1);  // once
  CHECK(auth.rejected401 == 2);
}

TEST_CASE("an invalid record is reported without a request, never inline") {
  Fixture f;
  f.spec.invalidReason = "record a: url: is required";
  auto c = f.prober.start(f.spec, [&](mcp::ProbeResult r) { f.result = std::move(r); });
  CHECK_FALSE(f.result);
  f.loop.runDue();
  REQUIRE(f.result);
  CHECK(f.result->error->kind == mcp::ErrorKind::kConfig);
  CHECK(f.http.sent.empty());
}

TEST_CASE("a stdio server outside mcp-healthd is a config error") {
  Fixture f;
  f.spec.transport = registry::Transport::kStdio;
  f.spec.command = "node";
  auto c = f.start();
  REQUIRE(f.result);
  CHECK(f.result->error->kind == mcp::ErrorKind::kConfig);
  CHECK(f.result->error->message.find("mcp-healthd only") != std::string::npos);
}

TEST_CASE(
    "an authorization_code server whose refresh token is refused, or that wants another scope, "
    "is auth_required with the login command in its message") {
  loop::SimLoop loop;
  FakeHttp http;
  LoginAuth auth;
  ServerProber prober{http, auth, loop, loop};
  registry::ServerSpec spec;
  spec.id = "code1";
  spec.url = "http://h:1/mcp";
  spec.transport = registry::Transport::kStreamableHttp;
  spec.auth.type = registry::AuthType::kOAuth2;
  spec.auth.oauth2.flow = registry::OAuth2Flow::kAuthorizationCode;
  std::optional<mcp::ProbeResult> result;
  auto run = [&] {
    result.reset();
    auto c = prober.start(spec, [&](mcp::ProbeResult r) { result = std::move(r); });
    loop.runDue();
    return c;
  };
  // The refresh is refused: auth_required at once, saying why and what to run.
  auth.refuse = true;
  auto c1 = run();
  REQUIRE(result);
  CHECK(result->authRequired);
  CHECK(result->error->kind == mcp::ErrorKind::kAuth);
  CHECK(result->error->message ==
        "token endpoint http://as/token rejected the refresh token (HTTP 400): invalid_grant: "
        "grant request is invalid; run: mcp-healthctl login code1");
  CHECK(http.sent.empty());
  // From then on, no request until the record holds a new token.
  auth.refuse = false;
  auto c2 = run();
  REQUIRE(result);
  CHECK(result->authRequired);
  CHECK(result->error->message ==
        "authorization required: no usable refresh token is stored for this authorization_code "
        "server; run: mcp-healthctl login code1");
  CHECK(http.sent.empty());
  // A token without the scope the server wants.
  auth.dead = false;
  auto c3 = run();
  REQUIRE(http.sent.size() == 1);
  http.answer(0, 403, "application/json", R"({"error":"insufficient_scope"})", "", "",
              R"(Bearer error="insufficient_scope", scope="mcp:write", resource_metadata="x")");
  loop.runDue();
  REQUIRE(result);
  CHECK(result->authRequired);
  CHECK(result->error->message ==
        "the server answered HTTP 403 insufficient_scope (it wants scope 'mcp:write'); run: "
        "mcp-healthctl login code1 --scope 'mcp:write'");
  CHECK(auth.rejections == 1);  // the refused token is dropped
  // A scope that echoes the token, with quotes and a line break: the token redacted, the rest
  // kept to scope-token characters (the command stays one quoted word).
  auto c3b = run();
  REQUIRE(http.sent.size() == 2);
  http.answer(1, 403, "application/json", "{}", "", "",
              "Bearer error=\"insufficient_scope\", scope=\"a'b\\nc tok-secret-1 \\\"d\"");
  loop.runDue();
  REQUIRE(result);
  CHECK(result->authRequired);
  CHECK(result->error->message.find("tok-secret-1") == std::string::npos);
  CHECK(result->error->message.find("[redacted]") != std::string::npos);
  CHECK(result->error->message.find("--scope 'abnc [redacted] d'") != std::string::npos);
  // A client-credentials server: the same 403 stays an auth failure (its record must change).
  spec.auth.oauth2.flow = registry::OAuth2Flow::kClientCredentials;
  auto c4 = run();
  REQUIRE(http.sent.size() == 3);
  http.answer(2, 403, "application/json", "{}", "", "",
              R"(Bearer error="insufficient_scope", scope="mcp:write")");
  loop.runDue();
  REQUIRE(result);
  CHECK_FALSE(result->authRequired);
  CHECK(result->error->kind == mcp::ErrorKind::kAuth);
  CHECK(result->error->httpStatus == 403);
}

TEST_CASE(
    "ServerProber: the login command ends an auth_required message whole, however long the "
    "reason, the id or the scope") {
  loop::SimLoop loop;
  FakeHttp http;
  LoginAuth auth;
  ServerProber prober{http, auth, loop, loop};
  registry::ServerSpec spec;
  spec.id = std::string(128, 'i');  // the longest id a record may have
  spec.url = "http://h:1/mcp";
  spec.transport = registry::Transport::kStreamableHttp;
  spec.auth.type = registry::AuthType::kOAuth2;
  spec.auth.oauth2.flow = registry::OAuth2Flow::kAuthorizationCode;
  std::optional<mcp::ProbeResult> result;
  auto run = [&] {
    result.reset();
    auto c = prober.start(spec, [&](mcp::ProbeResult r) { result = std::move(r); });
    loop.runDue();
    return c;
  };
  const std::string command = "; run: mcp-healthctl login " + spec.id;
  // A token endpoint's reason of 600 bytes (multi-byte characters: the cut keeps them whole).
  auth.refuse = true;
  auth.refusal.clear();
  for (int i = 0; i < 300; ++i) {
    auth.refusal += "\xc3\xa9";  // é
  }
  auto c1 = run();
  REQUIRE(result);
  CHECK(result->authRequired);
  const std::string& m1 = result->error->message;
  CHECK(m1.size() <= mcp::kMaxErrorMessage);
  REQUIRE(m1.size() > command.size());
  CHECK(m1.substr(m1.size() - command.size()) == command);
  CHECK(m1.rfind("\xc3\xa9;") == m1.size() - command.size() - 2);  // no character split
  // A 403 wanting a scope that fits: in the command; one that does not (over 256 bytes): the
  // command without --scope (login asks for more scope by itself on that 403).
  auth.refuse = false;
  auth.dead = false;
  auto c2 = run();
  REQUIRE(http.sent.size() == 1);
  const std::string scope(200, 's');  // the most of a server's scope a message keeps
  http.answer(0, 403, "application/json", "{}", "", "",
              "Bearer error=\"insufficient_scope\", scope=\"" + scope + "\"");
  loop.runDue();
  REQUIRE(result);
  const std::string withScope = command + " --scope '" + scope + "'";
  const std::string& m2 = result->error->message;
  CHECK(m2.size() <= mcp::kMaxErrorMessage);
  REQUIRE(m2.size() > withScope.size());
  CHECK(m2.substr(m2.size() - withScope.size()) == withScope);
  spec.auth.oauth2.scopes = std::string(100, 'r');  // the record's scopes join the wanted ones
  auto c3 = run();
  REQUIRE(http.sent.size() == 2);
  http.answer(1, 403, "application/json", "{}", "", "",
              "Bearer error=\"insufficient_scope\", scope=\"" + std::string(190, 's') + "\"");
  loop.runDue();
  REQUIRE(result);
  const std::string& m3 = result->error->message;
  CHECK(m3.size() <= mcp::kMaxErrorMessage);
  CHECK(m3.substr(m3.size() - command.size()) == command);
}
