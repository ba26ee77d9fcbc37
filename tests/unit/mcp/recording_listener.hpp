#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mcp/transport.hpp"

namespace mcphd::testing {

// A session stand-in for transport tests: records every event.
struct RecordingListener final : mcp::TransportListener {
  int opened = 0;
  std::vector<mcp::Message> messages;
  std::vector<std::string> sent;
  std::vector<mcp::TransportError> errors;
  std::vector<std::pair<std::string, bool>> lost;
  std::function<void(const mcp::Message&)> react;  // runs on each message (e.g. to reply)

  void onOpen() override { ++opened; }
  void onMessage(const mcp::Message& m) override {
    messages.push_back(m);
    if (react) {
      react(m);
    }
  }
  void onSent(std::string_view what) override { sent.emplace_back(what); }
  void onError(mcp::TransportError e) override { errors.push_back(std::move(e)); }
  void onLost(const std::string& why, bool permanent) override {
    lost.emplace_back(why, permanent);
  }
};

inline mcp::Outgoing request(const std::string& id, const std::string& method,
                             std::string_view what) {
  return mcp::Outgoing{mcp::Outgoing::Kind::kRequest,
                       R"({"jsonrpc":"2.0","id":)" + id + R"(,"method":")" + method + "\"}", id,
                       what};
}
inline mcp::Outgoing notification(std::string_view method) {
  return mcp::Outgoing{mcp::Outgoing::Kind::kNotification,
                       R"({"jsonrpc":"2.0","method":")" + std::string(method) + "\"}",
                       {},
                       method};
}

}  // namespace mcphd::testing
