#pragma once

#include <simdjson.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "publish/messages.hpp"
#include "redis/commands.hpp"

namespace mcphd::testing {

// Redis as logic modules see it: a few data types in memory, every command logged, replies
// delivered at once (callers must cope with that: hiredis may also answer quickly).
struct FakeRedis : redis::Commands {
  bool up = false;
  std::function<void(bool)> listener;
  std::vector<std::vector<std::string>> log;
  std::map<std::string, std::map<std::string, std::string>> hashes;
  std::map<std::string, std::set<std::string>> sets;
  std::map<std::string, std::string> strings;
  std::map<std::string, std::map<std::string, double>> zsets;  // key -> member -> score
  int64_t timeMs = 1'800'000'000'000;                          // what TIME says
  std::string runId = "a1b2c3";                                // what INFO server says
  bool aof = false;                                            // ... and INFO persistence
  int loadedKeys = 0;

  std::map<std::string, std::string> scripts;  // SCRIPT LOAD: sha -> body
  // A command (by its first word) answered with an error reply instead.
  struct Refusal {
    std::string op;
    std::string error;
  };
  std::optional<Refusal> refuse;

  size_t unsent = 0;  // what unsentBytes() says
  std::function<void()> written;

  bool ready() const override { return up; }
  size_t unsentBytes() const override { return unsent; }
  void onWritten(std::function<void()> l) override { written = std::move(l); }
  void onReadyChange(std::function<void(bool)> l) override { listener = std::move(l); }

  // Replies held back (applied at once, answered by release()): a Redis that answers later.
  bool holdReplies = false;
  std::vector<std::pair<std::function<void(Result<redis::Reply>)>, redis::Reply>> held;
  // Commands refused although `up`: a connection going away (hiredis refuses new commands
  // before it reports the disconnection).
  bool refuseSends = false;

  bool command(std::vector<std::string> argv,
               std::function<void(Result<redis::Reply>)> done) override {
    if (!up || refuseSends) {
      return false;
    }
    log.push_back(argv);
    redis::Reply reply = execute(argv);
    if (holdReplies) {
      held.emplace_back(std::move(done), std::move(reply));
    } else if (done) {
      done(std::move(reply));
    }
    return true;
  }

  void release() {
    auto now = std::move(held);
    held.clear();
    for (auto& [done, reply] : now) {
      if (done) {
        done(reply);
      }
    }
  }
  // The connection drops: what waited for a reply gets none.
  void failHeld() {
    auto now = std::move(held);
    held.clear();
    for (auto& [done, reply] : now) {
      if (done) {
        done(makeError("redis connection lost before the reply"));
      }
    }
  }

  redis::Reply execute(const std::vector<std::string>& a) {
    using T = redis::Reply::Type;
    redis::Reply r;
    r.type = T::kInteger;
    const std::string& op = a[0];
    if (refuse && refuse->op == op) {
      return {T::kError, refuse->error, 0, {}};
    }
    if (op == "SCRIPT" && a.size() == 3 && a[1] == "LOAD") {
      char sha[41];
      std::snprintf(sha, sizeof sha, "%040zx", std::hash<std::string>{}(a[2]));
      scripts[sha] = a[2];
      return {T::kString, sha, 0, {}};
    }
    if (op == "EVALSHA") {
      auto it = scripts.find(a[1]);
      if (it == scripts.end()) {
        return {T::kError, "NOSCRIPT No matching script. Please use EVAL.", 0, {}};
      }
      std::vector<std::string> eval = a;
      eval[0] = "EVAL";
      eval[1] = it->second;
      return execute(eval);
    }
    if (op == "EVAL" && a[1].starts_with("-- mcp-healthd heartbeat")) {
      return heartbeat(a);
    }
    if (op == "EVAL" && a[1].starts_with("-- mcp-healthd member config")) {
      hashes.erase(a[3]);
      for (size_t i = 5; i + 1 < a.size(); i += 2) {
        hashes[a[3]][a[i]] = a[i + 1];
      }
      return {T::kInteger, "", 1, {}};
    }
    if (op == "HMGET") {
      r.type = T::kArray;
      auto h = hashes.find(a[1]);
      for (size_t i = 2; i < a.size(); ++i) {
        if (h == hashes.end() || h->second.count(a[i]) == 0) {
          r.elements.push_back({T::kNil, "", 0, {}});
        } else {
          r.elements.push_back({T::kString, h->second[a[i]], 0, {}});
        }
      }
      return r;
    }
    if (op == "EVAL" && a[1].starts_with("-- mcp-healthd ")) {
      return writeScript(a);
    }
    if (op == "ZREM") {
      return {T::kInteger, "", static_cast<long long>(zsets[a[1]].erase(a[2])), {}};
    }
    if (op == "HGETALL" && (strings.count(a[1]) != 0 || sets.count(a[1]) != 0)) {
      r.type = T::kError;
      r.str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    } else if (op == "EVAL" && a[1].find("redis.call('HGET', KEYS[1], 'credentials') == ARGV[1]") !=
                                   std::string::npos) {
      // The registry's compare-and-set of a record's credentials (the only script it sends).
      auto h = hashes.find(a[3]);
      bool same = h != hashes.end() && h->second.count("credentials") != 0 &&
                  h->second["credentials"] == a[4];
      if (same) {
        h->second["credentials"] = a[5];
      }
      r.integer = same ? 1 : 0;
    } else if (op == "EVAL" && a[1].find("redis.call('HGETALL', KEYS[1])") != std::string::npos) {
      // The dashboard's bounded read of the status hash.
      const size_t maxValue = std::stoul(a[4]);
      const size_t maxTotal = std::stoul(a[5]);
      size_t total = 0;
      r.type = T::kArray;
      for (const auto& [k, v] : hashes[a[3]]) {
        const bool big = v.size() > maxValue;
        total += k.size() + (big ? 0 : v.size());
        if (total > maxTotal) {
          return {T::kError, "the status hash is over " + a[5] + " bytes", 0, {}};
        }
        r.elements.push_back({T::kString, k, 0, {}});
        r.elements.push_back(big ? redis::Reply{} : redis::Reply{T::kString, v, 0, {}});
      }
    } else if (op == "EVAL" && a[1].find("redis.call('STRLEN', KEYS[1])") != std::string::npos) {
      // The dashboard's bounded read of a tool snapshot.
      auto it = strings.find(a[3]);
      if (it == strings.end()) {
        r.type = T::kNil;
      } else if (it->second.size() > std::stoul(a[4])) {
        return {T::kError, "the tool snapshot is over the limit", 0, {}};
      } else {
        r.type = T::kString;
        r.str = it->second;
      }
    } else if (op == "HGETALL") {
      r.type = T::kArray;
      for (const auto& [k, v] : hashes[a[1]]) {
        r.elements.push_back({T::kString, k, 0, {}});
        r.elements.push_back({T::kString, v, 0, {}});
      }
    } else if (op == "HSET") {
      for (size_t i = 2; i + 1 < a.size(); i += 2) {
        hashes[a[1]][a[i]] = a[i + 1];
      }
    } else if (op == "HDEL") {
      r.integer = static_cast<long long>(hashes[a[1]].erase(a[2]));
    } else if (op == "SET") {
      const bool nx = a.size() > 3 && a[3] == "NX";
      if (nx && strings.count(a[1]) != 0) {
        r.type = T::kNil;
        return r;
      }
      strings[a[1]] = a[2];
      r.type = T::kStatus;
      r.str = "OK";
    } else if (op == "INFO" && a.size() > 1 && a[1] == "persistence") {
      r.type = T::kString;
      r.str =
          "# Persistence\r\nloading:0\r\nrdb_last_load_keys_loaded:" + std::to_string(loadedKeys) +
          "\r\naof_enabled:" + (aof ? "1" : "0") + "\r\n";
    } else if (op == "INFO") {
      r.type = T::kString;
      r.str = "# Server\r\nredis_version:7.0.15\r\nrun_id:" + runId + "\r\ntcp_port:6379\r\n";
    } else if (op == "GET") {
      auto it = strings.find(a[1]);
      r.type = it == strings.end() ? T::kNil : T::kString;
      r.str = it == strings.end() ? "" : it->second;
    } else if (op == "DEL") {
      r.integer =
          static_cast<long long>(strings.erase(a[1]) + hashes.erase(a[1]) + sets.erase(a[1]));
    } else if (op == "EXISTS") {
      r.integer =
          static_cast<long long>(strings.count(a[1]) + hashes.count(a[1]) + sets.count(a[1]));
    } else if (op == "SMEMBERS") {
      r.type = T::kArray;
      for (const auto& m : sets[a[1]]) {
        r.elements.push_back({T::kString, m, 0, {}});
      }
    } else if (op == "SISMEMBER") {
      r.integer = static_cast<long long>(sets[a[1]].count(a[2]));
    } else if (op == "SADD") {
      r.integer = sets[a[1]].insert(a[2]).second ? 1 : 0;
    } else if (op == "XADD") {
      r.type = T::kString;
      r.str = std::to_string(1'795'706'422'146 + static_cast<long long>(log.size())) + "-0";
    }
    return r;
  }

  // The heartbeat script (src/cluster/membership.cpp) on the fake's clock `timeMs`.
  redis::Reply heartbeat(const std::vector<std::string>& a) {
    using T = redis::Reply::Type;
    if (strings.count(a[3]) != 0 || hashes.count(a[3]) != 0) {
      return {
          T::kError, "WRONGTYPE Operation against a key holding the wrong kind of value", 0, {}};
    }
    auto& z = zsets[a[3]];
    const std::string& id = a[6];
    const double now = static_cast<double>(timeMs);
    std::erase_if(z, [&](const auto& e) { return e.second <= now; });
    z[id] = now + std::stod(a[7]);
    std::string cfg = a[12];
    long long announced = 1;
    if (!cfg.empty() && hashes.count(a[5]) == 0) {
      cfg.clear();
      announced = 0;
    }
    auto& h = hashes[a[4]];
    h["heartbeat_at"] = std::to_string(timeMs);
    h["started_at"] = a[9];
    h["owned"] = a[8];
    h["version"] = a[10];
    h["ttl_ms"] = a[7];
    h["config"] = cfg;
    std::vector<std::pair<double, std::string>> live;
    for (const auto& [m, score] : z) {
      live.emplace_back(score, m);
    }
    std::sort(live.begin(), live.end());
    redis::Reply ids{T::kArray, "", 0, {}};
    redis::Reply sums{T::kArray, "", 0, {}};
    for (size_t i = 0; i < live.size() && i < std::stoul(a[11]); ++i) {
      ids.elements.push_back({T::kString, live[i].second, 0, {}});
      auto m = hashes.find(a[13] + live[i].second);
      std::string sum;
      if (m != hashes.end() && m->second.count("config") != 0) {
        sum = m->second["config"];
      }
      sums.elements.push_back({T::kString, sum, 0, {}});
    }
    return {T::kArray,
            "",
            0,
            {{T::kInteger, "", timeMs, {}},
             std::move(ids),
             std::move(sums),
             {T::kInteger, "", announced, {}}}};
  }

  // Lua's tonumber() of a string, then the scripts' whole(): a double, whole, 0 <= n < 2^53.
  static std::optional<double> whole(std::string_view v) {
    std::string text(v);
    char* end = nullptr;
    const double n = std::strtod(text.c_str(), &end);
    if (end == text.c_str()) {
      return std::nullopt;
    }
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') {
      ++end;
    }
    if (*end != '\0' || !(n >= 0 && n < 9007199254740992.0) || n != std::floor(n)) {
      return std::nullopt;
    }
    return n;
  }
  // The seq in a stored status as the scripts read it: -1 without one, 0 when none readable.
  static double storedSeq(const std::string* value) {
    if (value == nullptr) {
      return -1;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::dom::object obj;
    if (parser.parse(*value).get(doc) != simdjson::SUCCESS || doc.get(obj) != simdjson::SUCCESS) {
      return 0;
    }
    simdjson::dom::element seq;
    if (obj["seq"].get(seq) != simdjson::SUCCESS) {
      return 0;
    }
    std::string_view text;
    double d = 0;
    if (seq.get(text) == simdjson::SUCCESS) {
      return whole(text).value_or(0);
    }
    if (seq.get(d) != simdjson::SUCCESS || !(d >= 0 && d < 9007199254740992.0) ||
        d != std::floor(d)) {
      return 0;
    }
    return d;
  }

  // The publisher's write scripts (src/publish/write_scripts.cpp), in C++: the calls they make
  // are logged as if sent, so tests read the PUBLISHes and HSETs as before. Their Lua runs
  // against a real Redis in the integration tests.
  redis::Reply writeScript(const std::vector<std::string>& a) {
    using T = redis::Reply::Type;
    const std::string& body = a[1];
    auto run = [this](std::vector<std::string> c) {
      log.push_back(c);
      execute(c);
    };
    if (body.starts_with("-- mcp-healthd answer")) {
      // KEYS stream, marker; ARGV group, entry, delete, channel, message.
      if (!xack(a[3], a[6])) {
        return {T::kArray, "", 0, {{T::kInteger, "", 0, {}}, {T::kString, "", 0, {}}}};
      }
      run({"XACK", a[3], a[5], a[6]});
      run({"SET", a[4], "1"});
      if (a[7] == "1") {
        run({"XDEL", a[3], a[6]});
      }
      run({"PUBLISH", a[8], a[9]});
      return {T::kArray, "", 0, {{T::kInteger, "", 1, {}}, {T::kString, "", 0, {}}}};
    }
    const size_t numKeys = std::stoul(a[2]);
    const std::string& seqKey = a[3];
    const std::string& statusKey = a[4];
    const std::string& toolsKey = a[5];
    const std::vector<std::string> keys(a.begin() + 3, a.begin() + 3 + static_cast<long>(numKeys));
    const std::vector<std::string> arg(a.begin() + 3 + static_cast<long>(numKeys),
                                       a.end());  // arg[0] is ARGV[1]
    const std::string& id = arg[0];
    auto& seqs = hashes[seqKey];
    auto& status = hashes[statusKey];
    const double counter = seqs.count(id) ? whole(seqs[id]).value_or(0) : 0;
    const double stored = storedSeq(status.count(id) ? &status[id] : nullptr);
    auto text = [](double n) { return std::to_string(static_cast<long long>(n)); };
    // The answers (ARGV[7] on): XACK each entry, name those acknowledged now, then the others.
    auto answers = [&](size_t at, size_t* next) {
      std::vector<std::string> names;
      const size_t k = std::stoul(arg[at]);
      for (size_t i = 0; i < k; ++i) {
        const size_t e = at + 1 + 4 * i;
        const std::string& stream = keys[3 + 2 * i];
        if (xack(stream, arg[e + 1])) {
          run({"XACK", stream, arg[e], arg[e + 1]});
          run({"SET", keys[4 + 2 * i], "1"});
          names.push_back(arg[e + 3]);
          if (arg[e + 2] == "1") {
            run({"XDEL", stream, arg[e + 1]});
          }
        }
      }
      at += 1 + 4 * k;
      const size_t b = std::stoul(arg[at]);
      for (size_t i = 1; i <= b; ++i) {
        names.push_back(arg[at + i]);
      }
      *next = at + b + 1;
      return publish::commandIdsJson(names);
    };
    double seq = 0;
    if (body.starts_with("-- mcp-healthd publish")) {
      seq = std::max({counter, stored, whole(arg[1]).value_or(0)}) + 1;
      const std::string n = text(seq);
      run({"HSET", seqKey, id, n});
      size_t t = 0;
      const std::string ids = answers(6, &t);
      // As the script: the tools (5 arguments) when they changed, then a drift message (3).
      const size_t rest = arg.size() - t;
      const bool tools = rest == 5 || rest == 8;
      const size_t drift = tools ? t + 5 : t;
      if (tools) {
        run({"SET", toolsKey, arg[t + 3] + n + arg[t + 4]});
      }
      const std::string msg = arg[3] + n + arg[4] + ids + arg[5];
      run({"HSET", statusKey, id, msg});
      run({"PUBLISH", arg[2], msg});
      if (tools) {
        run({"PUBLISH", arg[t], arg[t + 1] + n + arg[t + 2]});
      }
      if (rest == 3 || rest == 8) {
        run({"PUBLISH", arg[drift], arg[drift + 1] + n + arg[drift + 2]});
      }
      return {T::kArray,
              "",
              0,
              {{T::kInteger, "", static_cast<long long>(seq), {}},
               {T::kString, ids, 0, {}},
               {T::kString, "", 0, {}}}};
    } else if (body.starts_with("-- mcp-healthd remove")) {
      seq = std::max({counter, stored, whole(arg[1]).value_or(0)}) + 1;
      const std::string n = text(seq);
      run({"HSET", seqKey, id, n});
      run({"HDEL", statusKey, id});
      run({"DEL", toolsKey});
      size_t t = 0;
      const std::string ids = answers(6, &t);
      run({"PUBLISH", arg[2], arg[3] + n + arg[4] + ids + arg[5]});
      return {T::kArray,
              "",
              0,
              {{T::kInteger, "", static_cast<long long>(seq), {}},
               {T::kString, ids, 0, {}},
               {T::kString, "", 0, {}}}};
    } else if (body.starts_with("-- mcp-healthd refill")) {
      seq = whole(arg[3]).value_or(0);
      const double known = whole(arg[4]).value_or(0);
      if (seq == 0) {
        if (stored > known || counter > known) {
          return {T::kInteger, "", 0, {}};
        }
        seq = std::max(counter, known) + 1;
      } else if (stored >= seq || counter > seq) {
        return {T::kInteger, "", 0, {}};
      }
      const std::string n = text(seq);
      if (seq > counter) {
        run({"HSET", seqKey, id, n});
      }
      run({"HSET", statusKey, id, arg[1] + n + arg[2]});
    } else {
      return {T::kError, "ERR the fake does not know this script", 0, {}};
    }
    return {T::kInteger, "", static_cast<long long>(seq), {}};
  }

  // Command entries answered so far ("<stream> <entry>"): every other entry counts as pending
  // and unanswered, so the first answer of one is named and any later one is not (Redis losing
  // an entry is left to the integration tests, on a real Redis).
  std::set<std::string> acked;
  bool xack(const std::string& stream, const std::string& entry) {
    return acked.insert(stream + " " + entry).second;
  }

  void setUp(bool u) {
    up = u;
    if (listener) {
      listener(u);
    }
  }

  std::vector<std::string> published(const std::string& channel) const {
    std::vector<std::string> out;
    for (const auto& c : log) {
      if (c[0] == "PUBLISH" && c[1] == channel) {
        out.push_back(c[2]);
      }
    }
    return out;
  }
};

}  // namespace mcphd::testing
