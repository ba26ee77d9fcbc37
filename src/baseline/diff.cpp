#include "baseline/diff.hpp"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/sha256.hpp"

namespace mcphd::baseline {

namespace {

// key -> its value, minified; empty when `text` is not a JSON object.
std::map<std::string, std::string> topLevel(std::string_view text) {
  std::map<std::string, std::string> out;
  simdjson::dom::parser parser;
  simdjson::dom::object obj;
  if (parser.parse(text.data(), text.size()).get(obj) != simdjson::SUCCESS) {
    return out;
  }
  for (auto field : obj) {
    out[std::string(field.key)] = simdjson::minify(field.value);
  }
  return out;
}

}  // namespace

std::vector<std::string> changedKeys(std::string_view approved, std::string_view current) {
  const auto a = topLevel(approved);
  const auto c = topLevel(current);
  std::set<std::string> keys;
  for (const auto& [k, v] : a) {
    auto it = c.find(k);
    if (it == c.end() || it->second != v) {
      keys.insert(k);
    }
  }
  for (const auto& [k, v] : c) {
    if (a.count(k) == 0) {
      keys.insert(k);
    }
  }
  return {keys.begin(), keys.end()};
}

Drift diff(const Baseline& b, const std::vector<mcp::Tool>& current) {
  // name -> its hashes, sorted: a name listed twice is the same when both definitions are.
  std::map<std::string_view, std::vector<std::string_view>> approved;
  for (const auto& [name, hash] : b.tools) {
    approved[name].push_back(hash);  // b.tools is sorted by name, then hash
  }
  std::vector<std::string> hexes(current.size());
  std::map<std::string_view, std::vector<std::string_view>> now;
  std::map<std::string_view, const mcp::Tool*> first;
  for (size_t i = 0; i < current.size(); ++i) {
    appendHex(hexes[i], current[i].hash);
    now[current[i].name].push_back(hexes[i]);
    first.emplace(current[i].name, &current[i]);
  }
  Drift d;
  for (auto& [name, hashes] : now) {
    std::sort(hashes.begin(), hashes.end());
    auto it = approved.find(name);
    if (it == approved.end()) {
      d.added.emplace_back(name);
      continue;
    }
    if (hashes == it->second) {
      continue;
    }
    ChangedTool c{std::string(name), {}};
    if (auto def = b.definitions.find(std::string(name)); def != b.definitions.end()) {
      c.keys = changedKeys(def->second, first[name]->raw());
    }
    d.changed.push_back(std::move(c));
  }
  for (const auto& [name, hashes] : approved) {
    if (now.count(name) == 0) {
      d.removed.emplace_back(name);
    }
  }
  return d;
}

}  // namespace mcphd::baseline
