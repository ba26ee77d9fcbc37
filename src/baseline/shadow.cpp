#include "baseline/shadow.hpp"

#include <algorithm>
#include <utility>

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
  // 0 marks an empty entry. Mapping it to 1 makes those two collide, as likely as any other
  // pair of the keyed hash (2^-64).
  return k == 0 ? 1 : k;
}

const ShadowIndex::Entry* ShadowIndex::find(uint64_t name) const {
  if (table_.empty()) {
    return nullptr;
  }
  const size_t mask = table_.size() - 1;
  // The hash is keyed and uniform: its low bits are as good an index as any.
  for (size_t i = name & mask;; i = (i + 1) & mask) {
    const Entry& e = table_[i];
    if (e.empty()) {
      return nullptr;
    }
    if (e.name() == name) {
      return &e;
    }
  }
}

ShadowIndex::Entry* ShadowIndex::find(uint64_t name) {
  return const_cast<Entry*>(std::as_const(*this).find(name));
}

void ShadowIndex::resize(size_t capacity) {
  std::vector<Entry> old = std::exchange(table_, std::vector<Entry>(capacity));
  const size_t mask = capacity - 1;
  for (const Entry& e : old) {
    if (e.empty()) {
      continue;
    }
    size_t i = e.name() & mask;
    while (!table_[i].empty()) {
      i = (i + 1) & mask;
    }
    table_[i] = e;
  }
}

ShadowIndex::Entry& ShadowIndex::insert(uint64_t name, uint32_t slot) {
  if ((used_ + 1) * 5 > table_.size() * 4) {
    resize(table_.empty() ? 64 : table_.size() * 2);
  }
  const size_t mask = table_.size() - 1;
  size_t i = name & mask;
  while (!table_[i].empty()) {
    i = (i + 1) & mask;
  }
  ++used_;
  Entry& e = table_[i];
  e.lo = static_cast<uint32_t>(name);
  e.hi = static_cast<uint32_t>(name >> 32);
  e.first = slot;
  return e;
}

void ShadowIndex::erase(Entry& gone) {
  const size_t mask = table_.size() - 1;
  auto hole = static_cast<size_t>(&gone - table_.data());
  // Shift back every later entry of the run that may sit in the hole: one whose home is not
  // cyclically within (hole, j].
  for (size_t j = (hole + 1) & mask; !table_[j].empty(); j = (j + 1) & mask) {
    const size_t home = table_[j].name() & mask;
    const bool staysPut = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (!staysPut) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = Entry{};
  --used_;
}

void ShadowIndex::add(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected) {
  Entry* e = find(name);
  if (e == nullptr) {
    insert(name, slot);
    return;
  }
  if ((e->first & kShared) == 0) {
    affected->push_back(e->first);  // was alone with it: shadowed from now on
    e->first |= kShared;
  }
  more_[name].push_back(slot);
}

void ShadowIndex::drop(uint64_t name, uint32_t slot, std::vector<uint32_t>* affected) {
  Entry* e = find(name);
  if (e == nullptr) {
    return;
  }
  if ((e->first & kShared) == 0) {
    if (e->first == slot) {
      erase(*e);
    }
    return;
  }
  auto m = more_.find(name);
  if (m == more_.end()) {
    return;  // cannot happen: shared names have others
  }
  std::vector<uint32_t>& others = m->second;
  if ((e->first & ~kShared) == slot) {
    e->first = others.back() | kShared;  // another takes its place
    others.pop_back();
  } else if (auto at = std::find(others.begin(), others.end(), slot); at != others.end()) {
    *at = others.back();
    others.pop_back();
  } else {
    return;  // not offered by this slot
  }
  if (others.empty()) {
    e->first &= ~kShared;
    affected->push_back(e->first);  // alone with it again
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
    if (s != slot && ids_[s] != nullptr) {
      out.push_back(*ids_[s]);
    }
  }
  return out;
}

std::vector<std::string> ShadowIndex::set(Slot& slot, const std::string* serverId,
                                          const std::vector<mcp::Tool>& tools) {
  if (slot == kNoSlot) {
    if (!free_.empty()) {
      slot = free_.back();
      free_.pop_back();
    } else {
      // Slots stay below kShared (2^31): as many servers cannot be checked by one daemon.
      slot = static_cast<Slot>(ids_.size());
      ids_.push_back(nullptr);
      names_.emplace_back();
    }
  }
  ids_[slot] = serverId;
  std::vector<uint64_t> names;
  names.reserve(tools.size());
  for (const auto& t : tools) {
    names.push_back(key(t.name));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return change(slot, std::move(names));
}

std::vector<std::string> ShadowIndex::remove(Slot& slot) {
  if (slot == kNoSlot || slot >= ids_.size() || ids_[slot] == nullptr) {
    slot = kNoSlot;
    return {};
  }
  auto affected = change(slot, {});
  ids_[slot] = nullptr;
  names_[slot] = std::vector<uint64_t>();
  free_.push_back(slot);
  slot = kNoSlot;
  if (table_.size() > 64 && used_ * 8 < table_.size()) {
    size_t capacity = 64;
    while (used_ * 2 > capacity) {
      capacity *= 2;
    }
    resize(capacity);  // most servers went: give the memory back
  }
  return affected;
}

std::vector<Finding> ShadowIndex::findings(Slot slot, const std::vector<mcp::Tool>& tools) const {
  std::vector<Finding> out;
  if (slot >= ids_.size() || ids_[slot] == nullptr) {
    return out;
  }
  std::vector<uint64_t> said;
  for (const auto& t : tools) {
    const uint64_t k = key(t.name);
    const Entry* e = find(k);
    if (e == nullptr || (e->first & kShared) == 0 ||
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
