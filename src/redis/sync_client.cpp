#include "redis/sync_client.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include "redis/hiredis_reply.hpp"

namespace mcphd::redis {

Result<SyncClient> SyncClient::connect(const Endpoint& given, std::chrono::milliseconds timeout) {
  Endpoint ep = given;
  if (!ep.sentinels.empty()) {
    // The master, as the first sentinel that knows it says; then the server must agree (ROLE).
    std::string errors;
    bool found = false;
    for (const auto& s : ep.sentinels) {
      Endpoint at;
      at.host = s.host;
      at.port = s.port;
      auto sentinel = connectTo(at, timeout);
      auto r = sentinel ? sentinel->command({"SENTINEL", "get-master-addr-by-name", ep.masterName})
                        : Result<Reply>(sentinel.error());
      if (r && r->type == Reply::Type::kArray && r->elements.size() == 2) {
        auto addr = hostPortOf(r->elements[0].str, r->elements[1].str);
        if (addr) {
          ep.host = addr->host;
          ep.port = addr->port;
          found = true;
          break;
        }
      }
      errors += (errors.empty() ? "" : "; ") + s.display() + ": " +
                (!r                             ? r.error().message
                 : r->type == Reply::Type::kNil ? "knows no master named '" + ep.masterName + "'"
                                                : "answered no address");
    }
    if (!found) {
      return makeError("no sentinel named the master '" + ep.masterName + "' (" + errors +
                       "); check redis.sentinels and redis.master_name");
    }
    auto client = connectTo(ep, timeout);
    if (!client) {
      return client;
    }
    auto role = client->command({"ROLE"});
    // A Redis user without ROLE (@admin): the named master is used as it is.
    const bool denied = !role && role.error().message.find("NOPERM") != std::string::npos;
    if (!denied && (!role || role->type != Reply::Type::kArray || role->elements.empty() ||
                    role->elements[0].str != "master")) {
      return makeError("the sentinels name " + ep.display() +
                       " as the master, but it is not one (a failover under way?); try again");
    }
    return client;
  }
  return connectTo(ep, timeout);
}

Result<SyncClient> SyncClient::connectTo(const Endpoint& ep, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  redisContext* c = ep.unixPath.empty() ? redisConnectWithTimeout(ep.host.c_str(), ep.port, tv)
                                        : redisConnectUnixWithTimeout(ep.unixPath.c_str(), tv);
  if (c == nullptr) {
    return makeError("cannot connect to Redis at " + ep.display() + ": out of memory");
  }
  if (c->err != 0) {
    std::string why = c->errstr;
    redisFree(c);
    return makeError("cannot connect to Redis at " + ep.display() + ": " + why);
  }
  redisSetTimeout(c, tv);
  SyncClient client(c);
  if (!ep.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!ep.username.empty()) {
      auth.push_back(ep.username);
    }
    auth.emplace_back(ep.password.reveal());
    if (auto r = client.command(auth); !r) {
      return makeError("Redis AUTH failed: " + r.error().message);
    }
  }
  if (ep.db != 0) {
    if (auto r = client.command({"SELECT", std::to_string(ep.db)}); !r) {
      return makeError("Redis SELECT failed: " + r.error().message);
    }
  }
  return client;
}

SyncClient::SyncClient(SyncClient&& other) noexcept : ctx_(other.ctx_) { other.ctx_ = nullptr; }

SyncClient& SyncClient::operator=(SyncClient&& other) noexcept {
  if (this != &other) {
    if (ctx_ != nullptr) {
      redisFree(ctx_);
    }
    ctx_ = other.ctx_;
    other.ctx_ = nullptr;
  }
  return *this;
}

SyncClient::~SyncClient() {
  if (ctx_ != nullptr) {
    redisFree(ctx_);
  }
}

Result<Reply> SyncClient::command(const std::vector<std::string>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
  if (r == nullptr) {
    return makeError(std::string("Redis connection failed: ") + ctx_->errstr);
  }
  Reply out = toReply(r);
  freeReplyObject(r);
  if (out.type == Reply::Type::kError) {
    return makeError(out.str);
  }
  return out;
}

Result<Reply> SyncClient::transaction(const std::vector<std::vector<std::string>>& commands) {
  if (auto r = command({"MULTI"}); !r) {
    return r;
  }
  for (const auto& c : commands) {
    if (auto r = command(c); !r) {
      (void)command({"DISCARD"});
      return r;
    }
  }
  return command({"EXEC"});
}

Result<std::optional<std::pair<std::string, std::string>>> SyncClient::nextMessage(
    std::chrono::steady_clock::time_point deadline) {
  using Message = std::optional<std::pair<std::string, std::string>>;
  while (true) {
    void* reply = nullptr;
    if (redisReaderGetReply(ctx_->reader, &reply) != REDIS_OK) {
      return makeError("Redis sent a malformed reply");
    }
    if (reply != nullptr) {
      Reply r = toReply(static_cast<redisReply*>(reply));
      freeReplyObject(reply);
      if (r.type == Reply::Type::kArray && r.elements.size() == 3 &&
          r.elements[0].str == "message") {
        return Message(std::make_pair(r.elements[1].str, r.elements[2].str));
      }
      continue;  // subscribe confirmations
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return Message(std::nullopt);
    }
    pollfd p{ctx_->fd, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n > 0 && redisBufferRead(ctx_) != REDIS_OK) {
      return makeError(std::string("Redis connection failed: ") + ctx_->errstr);
    }
  }
}

}  // namespace mcphd::redis
