#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

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

  size_t unsent = 0;  // what unsentBytes() says
  std::function<void()> written;

  bool ready() const override { return up; }
  size_t unsentBytes() const override { return unsent; }
  void onWritten(std::function<void()> l) override { written = std::move(l); }
  void onReadyChange(std::function<void(bool)> l) override { listener = std::move(l); }

  bool command(std::vector<std::string> argv,
               std::function<void(Result<redis::Reply>)> done) override {
    if (!up) {
      return false;
    }
    log.push_back(argv);
    done(execute(argv));
    return true;
  }

  redis::Reply execute(const std::vector<std::string>& a) {
    using T = redis::Reply::Type;
    redis::Reply r;
    r.type = T::kInteger;
    const std::string& op = a[0];
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
      strings[a[1]] = a[2];
      r.type = T::kStatus;
      r.str = "OK";
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
