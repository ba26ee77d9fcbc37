#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace mcphd::scheduler {

// The commands a message answers: commands that name this server (each id, never dropped) and
// the `check *` commands of generations (broadcastFrom, broadcastTo] (see BroadcastLog).
struct Answers {
  std::vector<std::string> ids;
  // Ranges (from, to] of `check *` generations, in order; contiguous ones are joined. A server
  // removed and registered again owes no generation in between: that gap stays a gap.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;

  Answers() = default;
  Answers(std::vector<std::string> commandIds, uint64_t from, uint64_t to)
      : ids(std::move(commandIds)) {
    addRange(from, to);
  }
  void addRange(uint64_t from, uint64_t to);
  bool hasBroadcasts() const { return !ranges.empty(); }
  bool empty() const { return ids.empty() && ranges.empty(); }
  // Adds what a later message answers (a coalesced result answers both).
  void merge(const Answers& later);
};

// The `check *` commands waiting for their answers. Each gets a generation; a server's result
// answers the generations asked for since its previous result (a range), so memory per pending
// command is constant whatever the number of servers — 10,000 `check *` of 1,000 servers keep
// 10,000 entries, not 10 million ids.
class BroadcastLog {
 public:
  // A new `check *` naming `servers` servers; its generation.
  uint64_t add(std::string commandId, size_t servers);
  // The newest generation (0: none yet). A server added now owes nothing older.
  uint64_t current() const { return generation_; }
  // At most `max` ids of the pending generations in (from, to], oldest first; `more` gets how
  // many others are in the range.
  std::vector<std::string> ids(uint64_t from, uint64_t to, size_t max, size_t* more) const;
  // One more server answered each generation in (from, to]. Those answered by every server they
  // named are done: `onDone(id, servers)` runs for each, oldest first, and they are forgotten.
  void answered(uint64_t from, uint64_t to);
  void onDone(std::function<void(const std::string& commandId, size_t servers)> callback) {
    done_ = std::move(callback);
  }
  size_t pending() const { return entries_.size(); }

 private:
  struct Entry {
    std::string id;
    size_t servers = 0;
    size_t left = 0;
  };
  uint64_t generation_ = 0;
  std::map<uint64_t, Entry> entries_;
  std::function<void(const std::string&, size_t)> done_;
};

}  // namespace mcphd::scheduler
