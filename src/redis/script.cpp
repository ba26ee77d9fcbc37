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

// EVAL/EVALSHA <script or sha> <numkeys> args... as views of strings that outlive the call, on
// the stack for a script's usual number of arguments (one run per check: no allocation).
class EvalArgv {
 public:
  EvalArgv(std::string_view verb, std::string_view script, const std::string& numKeys,
           const std::vector<std::string>& args) {
    const size_t n = 3 + args.size();
    std::string_view* out = inline_.data();
    if (n > inline_.size()) {
      heap_.resize(n);
      out = heap_.data();
    }
    out[0] = verb;
    out[1] = script;
    out[2] = numKeys;
    for (size_t i = 0; i < args.size(); ++i) {
      out[3 + i] = args[i];
    }
    view_ = std::span<const std::string_view>(out, n);
  }
  EvalArgv(const EvalArgv&) = delete;
  EvalArgv& operator=(const EvalArgv&) = delete;
  std::span<const std::string_view> view() const { return view_; }

 private:
  std::array<std::string_view, 24> inline_;
  std::vector<std::string_view> heap_;
  std::span<const std::string_view> view_;
};

}  // namespace

bool Script::run(Commands& redis, size_t numKeys, std::vector<std::string> args,
                 std::function<void(Result<Reply>)> done, std::function<bool()> resend) {
  const std::string n = std::to_string(numKeys);
  if (sha_.empty()) {
    return redis.commandArgs(EvalArgv("EVAL", body_, n, args).view(), std::move(done));
  }
  // The arguments are kept until the reply, for the one EVAL a NOSCRIPT answer needs: moved into
  // the callback, which moves the vector's buffer, so the views made first stay valid.
  const EvalArgv argv("EVALSHA", sha_, n, args);
  return redis.commandArgs(argv.view(),
                           [this, &redis, n, kept = std::move(args), done = std::move(done),
                            resend = std::move(resend)](Result<Reply> r) mutable {
                             // A copy: when the connection is gone the EVAL is not sent and `done`
                             // gets this reply.
                             if (r && isNoScript(*r) && (!resend || resend()) &&
                                 redis.commandArgs(EvalArgv("EVAL", body_, n, kept).view(), done)) {
                               return;
                             }
                             if (done) {
                               done(std::move(r));
                             }
                           });
}

}  // namespace mcphd::redis
