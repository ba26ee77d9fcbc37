#include "ctl/options.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "ctl/exchange.hpp"

using namespace mcphd;
using namespace mcphd::ctl;

namespace {

// A new file in /tmp (mkstemp) holding `content`, removed with the object.
struct TempFile {
  TempFile(const std::string& name, const std::string& content) {
    std::string path = "/tmp/mcphd-ctl-" + name + "-XXXXXX";
    const int fd = ::mkstemp(path.data());
    REQUIRE(fd >= 0);
    ::close(fd);
    path_ = path;
    std::ofstream(path_) << content;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Options parse(std::vector<std::string> args) {
  auto o = parseOptions(args);
  REQUIRE(o.ok());
  return std::move(o.value());
}

Failure refused(std::vector<std::string> args) {
  auto o = parseOptions(args);
  REQUIRE_FALSE(o.ok());
  return o.error();
}

}  // namespace

TEST_CASE(
    "ctl options: a secret on the command line, an unknown option or a missing value is a usage "
    "error") {
  for (const char* secret : {"--client-secret", "--bearer-token", "--password", "--private-key"}) {
    Failure f = refused({"x", secret, "hunter2"});
    CHECK(f.exit == Exit::kUsage);
    CHECK(f.message.find("never taken from the command line") != std::string::npos);
  }
  CHECK(refused({"--frobnicate"}).message == "unknown option --frobnicate");
  CHECK(refused({"x", "--url"}).message == "--url needs a value");
  CHECK(refused({"--header"}).message == "--header needs a value");
  Options o = parse(
      {"a", "--url", "http://x/mcp", "--header", "A: 1", "--header", "B: 2", "--json", "--all"});
  CHECK(o.positional == std::vector<std::string>{"a"});
  CHECK(o.get("--url") == "http://x/mcp");
  CHECK(o.headers.size() == 2);
  CHECK(o.json);
  CHECK(o.all);
}

TEST_CASE("ctl options: one server id, or --all, never both") {
  CHECK(serverIdArgument(parse({"a.b-c_1"}), "show").value() == "a.b-c_1");
  CHECK(serverIdArgument(parse({"bad id"}), "show").error().exit == Exit::kUsage);
  CHECK(onlyArgument(parse({}), "show", "server ID").error().message == "show takes one server ID");
  CHECK(onlyArgument(parse({"a", "b"}), "show", "server ID").error().exit == Exit::kUsage);
  CHECK(idOrAll(parse({"--all"}), "check").value().empty());
  CHECK(idOrAll(parse({"a"}), "check").value() == "a");
  CHECK(idOrAll(parse({"a", "--all"}), "check").error().message ==
        "check takes one server ID or --all, not both");
  CHECK(idOrAll(parse({}), "check").error().exit == Exit::kUsage);
  CHECK(waitOf(parse({"--wait", "soon"})).error().message.rfind("--wait: ", 0) == 0);
  CHECK(waitOf(parse({})).value() == std::chrono::seconds(10));
}

TEST_CASE("ctl options: secrets come from files, the environment or stdin, one way each") {
  TempFile secret("client-secret", "s3cr3t\n\n");
  std::istringstream none;
  auto creds =
      secretsFromOptions(parse({"--client-id", "c", "--client-secret-file", secret.path()}), none);
  REQUIRE(creds.ok());
  CHECK(creds->clientId == "c");
  CHECK(creds->clientSecret.reveal() == "s3cr3t");  // trailing newlines dropped

  std::istringstream in("from-stdin\n");
  auto piped = secretsFromOptions(parse({"--client-secret-stdin"}), in);
  REQUIRE(piped.ok());
  CHECK(piped->clientSecret.reveal() == "from-stdin");

  std::istringstream empty("\n");
  CHECK(secretsFromOptions(parse({"--client-secret-stdin"}), empty).error().message ==
        "--client-secret-stdin: read an empty line");
  CHECK(secretsFromOptions(parse({"--client-secret-file", secret.path(), "--client-secret-stdin"}),
                           none)
            .error()
            .message.rfind("give the client secret one way", 0) == 0);
  CHECK(secretsFromOptions(parse({"--client-secret-env", "MCPHD_TEST_UNSET_VARIABLE"}), none)
            .error()
            .message == "environment variable MCPHD_TEST_UNSET_VARIABLE is not set");
  TempFile blank("blank", "\n");
  CHECK(secretsFromOptions(parse({"--bearer-token-file", blank.path()}), none)
            .error()
            .message.find("is empty") != std::string::npos);
  CHECK(secretsFromOptions(parse({"--password-file", "/nonexistent/pw"}), none)
            .error()
            .message.rfind("cannot read password file /nonexistent/pw", 0) == 0);
  CHECK(secretsFromOptions(parse({"--secret-header-file", "NoColon"}), none).error().message ==
        "--secret-header-file takes 'Name:FILE'");
  TempFile big("big", std::string(64 * 1024 + 1, 'x'));
  CHECK(secretsFromOptions(parse({"--private-key-file", big.path()}), none)
            .error()
            .message.find("larger than 64 KiB") != std::string::npos);
}

TEST_CASE("ctl options: each auth type names the secret it lacks") {
  std::istringstream none;
  CHECK(authFromOptions(parse({"--auth", "magic"}), none).error().message ==
        "--auth must be none, bearer, basic, headers or oauth2");
  CHECK(authFromOptions(parse({"--auth", "bearer"}), none).error().message ==
        "--auth bearer needs --bearer-token-file");
  CHECK(authFromOptions(parse({"--auth", "basic", "--username", "u"}), none).error().message ==
        "--auth basic needs --username and --password-file");
  CHECK(authFromOptions(parse({"--auth", "headers"}), none).error().exit == Exit::kUsage);
  CHECK(authFromOptions(parse({"--auth", "oauth2"}), none).error().exit == Exit::kUsage);
  CHECK(authFromOptions(parse({"--auth", "oauth2", "--oauth2-flow", "authorization_code"}), none)
            .ok());
  CHECK(authFromOptions(parse({}), none).value().type == "none");
}

TEST_CASE("ctl options: options set record fields through one table, '' removes one") {
  registry::RecordFields fields = {{"url", "http://old/mcp"}, {"token_url", "http://t/token"}};
  Options o = parse({"--url", "http://new/mcp", "--token-url", "", "--interval", "1m", "--scope",
                     "a b", "--header", "X-Team:  blue"});
  REQUIRE(applyFieldOptions(o, fields).ok());
  CHECK(fields == registry::RecordFields{{"url", "http://new/mcp"},
                                         {"interval", "1m"},
                                         {"scopes", "a b"},
                                         {"headers", R"({"X-Team":"blue"})"}});
  CHECK(setsField(o, "url"));
  CHECK(setsField(o, "token_url"));
  CHECK(setsField(o, "headers"));
  CHECK_FALSE(setsField(o, "audience"));
  CHECK(applyFieldOptions(parse({"--transport", "stdio"}), fields)
            .error()
            .message.find("stdio servers are declared in the daemon's config file") == 0);
  CHECK(applyFieldOptions(parse({"--transport", "ws"}), fields).error().exit == Exit::kUsage);
  CHECK(applyFieldOptions(parse({"--watch-tools", "yes"}), fields).error().message ==
        "--watch-tools must be true or false");
  CHECK(applyFieldOptions(parse({"--header", "nocolon"}), fields).error().message ==
        "--header takes 'Name: value'");
}

TEST_CASE("ctl exchange: a check is answered healthy, a remove by the removal, each only so") {
  Answers removed;
  removed.commandId = "1-0";
  removed.messages = {R"({"type":"removed","server_id":"a","command_ids":["1-0"]})"};
  CHECK(reportAnswers(removed, 1, true, Success::kRemoved).value() == Exit::kOk);
  // A server removed while its check waited: the check did not find it healthy.
  CHECK(reportAnswers(removed, 1, true, Success::kHealthy).value() == Exit::kFailed);
  Answers healthy;
  healthy.commandId = "1-0";
  healthy.messages = {R"({"type":"health","status":"healthy","command_ids":["1-0"]})",
                      R"({"type":"health","status":"degraded","command_ids":["1-0"]})"};
  CHECK(reportAnswers(healthy, 1, true, Success::kHealthy).value() == Exit::kFailed);
  healthy.messages.pop_back();
  CHECK(reportAnswers(healthy, 1, true, Success::kHealthy).value() == Exit::kOk);
  CHECK(reportAnswers(healthy, 2, true, Success::kHealthy).error().message ==
        "no answer in time (is mcp-healthd running against this Redis?)");
}
