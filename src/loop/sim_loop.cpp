#include "loop/sim_loop.hpp"

namespace mcphd::loop {

class SimTimer final : public Timer, public SimLoop::Entry {
 public:
  explicit SimTimer(SimLoop& loop) : loop_(loop) {}
  ~SimTimer() override { stop(); }

  void start(int64_t delayMs, std::function<void()> callback) override {
    stop();
    callback_ = std::move(callback);
    key_ = loop_.arm(delayMs < 0 ? 0 : delayMs, this);
    armed_ = true;
  }
  void stop() override {
    if (armed_) {
      loop_.disarm(key_);
      armed_ = false;
    }
  }
  bool active() const override { return armed_; }
  void fire() override {
    armed_ = false;
    // Moved out so the callback may destroy or re-arm this timer.
    std::function<void()> callback = std::move(callback_);
    callback();
  }

 private:
  SimLoop& loop_;
  std::function<void()> callback_;
  SimLoop::Key key_{};
  bool armed_ = false;
};

std::unique_ptr<Timer> SimLoop::createTimer() { return std::make_unique<SimTimer>(*this); }

SimLoop::Key SimLoop::arm(int64_t delayMs, Entry* entry) {
  Key key{now_ + delayMs, order_++};
  queue_.emplace(key, entry);
  return key;
}

void SimLoop::advance(int64_t ms) {
  const int64_t target = now_ + ms;
  while (!queue_.empty() && queue_.begin()->first.first <= target) {
    auto it = queue_.begin();
    now_ = it->first.first;
    Entry* entry = it->second;
    queue_.erase(it);
    entry->fire();
  }
  now_ = target;
}

int64_t SimLoop::nextDueIn() const {
  if (queue_.empty()) {
    return -1;
  }
  return queue_.begin()->first.first - now_;
}

}  // namespace mcphd::loop
