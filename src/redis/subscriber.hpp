#pragma once

#include <functional>
#include <string>
#include <vector>

namespace mcphd::redis {

// The subscriber side of a Redis connection of its own in pub/sub mode (it sends no other
// command once subscribed).
class Subscriber {
 public:
  using MessageHandler =
      std::function<void(const std::string& channel, const std::string& payload)>;
  virtual ~Subscriber() = default;
  virtual bool ready() const = 0;
  // As Commands::onReadyChange. A lost connection loses its subscriptions: subscribe again when
  // it is ready again (and read what may have been missed meanwhile).
  virtual void onReadyChange(std::function<void(bool)> listener) = 0;
  // SUBSCRIBE `channels`, once per connection (again after each reconnect, never twice on one):
  // `subscribed` runs once Redis confirmed every one of them (what is
  // published from then on arrives), `onMessage` for every message published on them until the
  // connection is lost (never after the subscriber is destroyed). False when not ready.
  virtual bool subscribe(std::vector<std::string> channels, MessageHandler onMessage,
                         std::function<void()> subscribed) = 0;
};

}  // namespace mcphd::redis
