#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <string>
#include <vector>

#include "redis/subscriber.hpp"

namespace mcphd::testing {

// A pub/sub connection whose state and messages the test gives.
struct FakeSubscriber : redis::Subscriber {
  bool up = false;
  std::function<void(bool)> listener;
  std::vector<std::string> channels;
  MessageHandler onMessage;
  std::function<void()> subscribed;

  bool ready() const override { return up; }
  void onReadyChange(std::function<void(bool)> l) override { listener = std::move(l); }
  bool subscribe(std::vector<std::string> c, MessageHandler m, std::function<void()> s) override {
    if (!up) {
      return false;
    }
    channels = std::move(c);
    onMessage = std::move(m);
    subscribed = std::move(s);
    return true;
  }
  void setUp(bool u) {
    up = u;
    if (!u) {
      onMessage = nullptr;
    }
    listener(u);
  }
  void confirm() { subscribed(); }
  void publish(const std::string& channel, const std::string& payload) {
    REQUIRE(onMessage);
    onMessage(channel, payload);
  }
};

}  // namespace mcphd::testing
