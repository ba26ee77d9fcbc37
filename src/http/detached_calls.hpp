#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "http/client.hpp"

namespace mcphd::http {

// Requests whose answer nobody waits for, sent on behalf of an owner that is going away (the
// DELETE that ends a watched session): held here until they complete. Destroying this cancels
// the ones still in flight.
class DetachedCalls {
 public:
  explicit DetachedCalls(Client& client) : client_(client) {}
  DetachedCalls(const DetachedCalls&) = delete;
  DetachedCalls& operator=(const DetachedCalls&) = delete;

  void send(Request request) {
    const uint64_t id = nextId_++;
    calls_[id] = client_.send(std::move(request), [this, id](Response) {
      calls_.erase(id);
      if (calls_.empty() && idle_) {
        auto idle = std::move(idle_);
        idle_ = nullptr;
        idle();
      }
    });
  }
  size_t inFlight() const { return calls_.size(); }

  // Runs `idle` once nothing is in flight: now, or when the last call completes (at shutdown,
  // so the sessions are ended before the loop stops).
  void whenIdle(std::function<void()> idle) {
    if (calls_.empty()) {
      idle();
      return;
    }
    idle_ = std::move(idle);
  }

 private:
  Client& client_;
  uint64_t nextId_ = 0;
  std::map<uint64_t, std::unique_ptr<Call>> calls_;
  std::function<void()> idle_;
};

}  // namespace mcphd::http
