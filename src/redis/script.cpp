#include "redis/script.hpp"

#include <array>

namespace mcphd::redis {

bool isNoScript(const Reply& reply) {
  return reply.type == Reply::Type::kError && reply.str.starts_with("NOSCRIPT");
}

bool Script::load(Commands& redis, std::function<void(Result<void>)> done) {
  return redis.commandRefs({"SCRIPT", "LOAD", body_}, [this,
                                                       done = std::move(done)](Result<Reply> r) {
    if (!r) {
      done(r.error());
      return;
    }
    if (r->type != Reply::Type::kString || r->str.size() != 40) {
      done(makeError("SCRIPT LOAD: " +
                     (r->type == Reply::Type::kError ? r->str : std::string("unexpected reply"))));
      return;
    }
    sha_ = r->str;
    done({});
  });
}

namespace {

// EVAL/EVALSHA <script or sha> <numkeys> args... as views of strings that outlive the call.
std::vector<std::string_view> evalArgv(std::string_view verb, std::string_view script,
                                       const std::string& numKeys,
                                       const std::vector<std::string>& args) {
  std::vector<std::string_view> argv;
  argv.reserve(3 + args.size());
  argv.push_back(verb);
  argv.push_back(script);
  argv.push_back(numKeys);
  for (const auto& a : args) {
    argv.emplace_back(a);
  }
  return argv;
}

}  // namespace

bool Script::run(Commands& redis, size_t numKeys, std::vector<std::string> args,
                 std::function<void(Result<Reply>)> done, std::function<bool()> resend) {
  const std::string n = std::to_string(numKeys);
  if (sha_.empty()) {
    return redis.commandArgs(evalArgv("EVAL", body_, n, args), std::move(done));
  }
  // The arguments are kept until the reply, for the one EVAL a NOSCRIPT answer needs.
  auto kept = std::make_shared<std::vector<std::string>>(std::move(args));
  return redis.commandArgs(evalArgv("EVALSHA", sha_, n, *kept),
                           [this, &redis, n, kept, done = std::move(done),
                            resend = std::move(resend)](Result<Reply> r) mutable {
                             // A copy: when the connection is gone the EVAL is not sent and `done`
                             // gets this reply.
                             if (r && isNoScript(*r) && (!resend || resend()) &&
                                 redis.commandArgs(evalArgv("EVAL", body_, n, *kept), done)) {
                               return;
                             }
                             if (done) {
                               done(std::move(r));
                             }
                           });
}

}  // namespace mcphd::redis
