#include "scheduler/broadcast_log.hpp"

#include <algorithm>

namespace mcphd::scheduler {

void Answers::addRange(uint64_t from, uint64_t to) {
  if (to <= from) {
    return;
  }
  if (!ranges.empty() && ranges.back().second == from) {
    ranges.back().second = to;  // a server's ranges follow each other: together they are one
    return;
  }
  ranges.emplace_back(from, to);
}

void Answers::merge(const Answers& later) {
  ids.insert(ids.end(), later.ids.begin(), later.ids.end());
  for (const auto& [from, to] : later.ranges) {
    addRange(from, to);
  }
}

uint64_t BroadcastLog::add(std::string commandId, size_t servers) {
  uint64_t g = ++generation_;
  entries_[g] = Entry{std::move(commandId), servers, servers};
  return g;
}

std::vector<std::string> BroadcastLog::ids(uint64_t from, uint64_t to, size_t max,
                                           size_t* more) const {
  std::vector<std::string> out;
  size_t others = 0;
  for (auto it = entries_.upper_bound(from); it != entries_.end() && it->first <= to; ++it) {
    if (out.size() < max) {
      out.push_back(it->second.id);
    } else {
      ++others;
    }
  }
  if (more != nullptr) {
    *more = others;
  }
  return out;
}

void BroadcastLog::answered(uint64_t from, uint64_t to) {
  std::vector<std::pair<std::string, size_t>> done;
  for (auto it = entries_.upper_bound(from); it != entries_.end() && it->first <= to;) {
    if (it->second.left > 0) {
      --it->second.left;
    }
    if (it->second.left == 0) {
      done.emplace_back(std::move(it->second.id), it->second.servers);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [id, servers] : done) {
    if (done_) {
      done_(id, servers);
    }
  }
}

}  // namespace mcphd::scheduler
