#include "baseline/shadow.hpp"

#include <algorithm>

#include "baseline/lint.hpp"
#include "common/utf8.hpp"

namespace mcphd::baseline {

ShadowIndex::ShadowIndex() {
  if (sodium_init() < 0) {
    // Cannot happen once the daemon started (it checks); randombytes still works then.
  }
  crypto_shorthash_keygen(key_.data());
}

uint64_t ShadowIndex::key(std::string_view name) const {
  std::array<unsigned char, crypto_shorthash_BYTES> out{};
  crypto_shorthash(out.data(), reinterpret_cast<const unsigned char*>(name.data()), name.size(),
                   key_.data());
  uint64_t k = 0;
  for (unsigned char b : out) {
    k = (k << 8) | b;
  }
  return k;
}

void ShadowIndex::add(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected) {
  auto [it, inserted] = byName_.try_emplace(name, Offered{slot, 0});
  if (inserted) {
    return;
  }
  Offered& o = it->second;
  if (o.more == 0) {
    affected->push_back(o.first);  // was alone with it: shadowed from now on
  }
  more_[name].push_back(slot);
  ++o.more;
}

void ShadowIndex::drop(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected) {
  auto it = byName_.find(name);
  if (it == byName_.end()) {
    return;
  }
  Offered& o = it->second;
  if (o.more == 0) {
    byName_.erase(it);
    return;
  }
  auto m = more_.find(name);
  if (m == more_.end()) {
    return;  // cannot happen: o.more > 0
  }
  std::vector<uint32_t>& others = m->second;
  if (o.first == slot) {
    o.first = others.back();  // another takes its place
    others.pop_back();
  } else if (auto at = std::find(others.begin(), others.end(), slot); at != others.end()) {
    *at = others.back();
    others.pop_back();
  } else {
    return;  // not offered by this slot
  }
  if (--o.more == 0) {
    affected->push_back(o.first);  // alone with it again
    more_.erase(m);
  }
}

std::vector<std::string> ShadowIndex::change(uint32_t slot, std::vector<uint64_t> names) {
  std::vector<uint64_t>& before = names_[slot];
  std::vector<uint32_t> affected;
  // Both sorted: what went, then what came.
  std::vector<uint64_t> gone;
  std::vector<uint64_t> came;
  std::set_difference(before.begin(), before.end(), names.begin(), names.end(),
                      std::back_inserter(gone));
  std::set_difference(names.begin(), names.end(), before.begin(), before.end(),
                      std::back_inserter(came));
  for (uint64_t n : gone) {
    drop(n, slot, &affected);
  }
  for (uint64_t n : came) {
    add(n, slot, &affected);
  }
  before = std::move(names);
  before.shrink_to_fit();
  std::sort(affected.begin(), affected.end());
  affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
  std::vector<std::string> out;
  for (uint32_t s : affected) {
    if (s != slot && !ids_[s].empty()) {
      out.push_back(ids_[s]);
    }
  }
  return out;
}

std::vector<std::string> ShadowIndex::set(const std::string& serverId,
                                          const std::vector<mcp::Tool>& tools) {
  auto it = slots_.find(serverId);
  uint32_t slot = 0;
  if (it != slots_.end()) {
    slot = it->second;
  } else if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
    ids_[slot] = serverId;
    slots_.emplace(serverId, slot);
  } else {
    slot = static_cast<uint32_t>(ids_.size());
    ids_.push_back(serverId);
    names_.emplace_back();
    slots_.emplace(serverId, slot);
  }
  std::vector<uint64_t> names;
  names.reserve(tools.size());
  for (const auto& t : tools) {
    names.push_back(key(t.name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return change(slot, std::move(names));
}

std::vector<std::string> ShadowIndex::remove(const std::string& serverId) {
  auto it = slots_.find(serverId);
  if (it == slots_.end()) {
    return {};
  }
  const uint32_t slot = it->second;
  slots_.erase(it);
  auto affected = change(slot, {});
  ids_[slot].clear();
  names_[slot] = std::vector<uint64_t>();
  free_.push_back(slot);
  return affected;
}

std::vector<Finding> ShadowIndex::findings(const std::string& serverId,
                                           const std::vector<mcp::Tool>& tools) const {
  std::vector<Finding> out;
  if (slots_.count(serverId) == 0) {
    return out;
  }
  std::vector<uint64_t> said;
  for (const auto& t : tools) {
    const uint64_t k = key(t.name);
    auto it = byName_.find(k);
    if (it == byName_.end() || it->second.more == 0 ||
        std::find(said.begin(), said.end(), k) != said.end()) {
      continue;
    }
    said.push_back(k);
    Finding f;
    f.tool = t.name;
    truncateUtf8(f.tool, 128);
    f.code = std::string(kShadowedName);
    // Neither the other servers' names nor their number: either would make every server's
    // verdict its own, and change with each server that comes and goes.
    f.detail = "another server this daemon checks offers a tool of this name too";
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace mcphd::baseline
