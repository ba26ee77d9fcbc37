#pragma once

#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mcp/protocol.hpp"
#include "mcp/transport.hpp"

namespace mcphd::testing {

// A transport the test drives: it records what the session sends and plays the server's side
// through the listener. State lives in a shared Wire, so the test can look after the session
// (and its transport) is gone.
struct Wire {
  mcp::TransportListener* listener = nullptr;
  std::vector<mcp::Outgoing> sent;
  std::string negotiated;
  bool opened = false;
  bool listening = false;
  bool closed = false;
  bool closedDetached = false;  // close() without a callback
  bool destroyed = false;
  bool legacy = false;     // offers 2024-11-05 and accepts it
  bool holdClose = false;  // close() waits for finishClose()
  std::function<void()> closeDone;
  int64_t connectUs = 0;

  // The server's side.
  void message(const std::string& json) {
    auto m = mcp::decodeMessage(json);
    REQUIRE(m);
    listener->onMessage(m.value());
  }
  void sentOk(std::string_view what) { listener->onSent(what); }
  void error(mcp::ErrorKind kind, const std::string& text, long status = 0,
             bool retriable = false) {
    mcp::TransportError e;
    e.error = {kind, text, status};
    e.retriable = retriable;
    listener->onError(std::move(e));
  }
  void finishClose() {
    REQUIRE(closeDone);
    auto done = std::move(closeDone);
    done();
  }
  // The last message sent, and what it was.
  const mcp::Outgoing& last() const {
    REQUIRE_FALSE(sent.empty());
    return sent.back();
  }
};

class FakeTransport final : public mcp::Transport {
 public:
  explicit FakeTransport(std::shared_ptr<Wire> wire) : wire_(std::move(wire)) {}
  ~FakeTransport() override { wire_->destroyed = true; }

  std::string_view offeredProtocolVersion() const override {
    return wire_->legacy ? mcp::kLegacyProtocolVersion : mcp::kOfferedProtocolVersion;
  }
  bool acceptsLegacyProtocol() const override { return wire_->legacy; }
  void open(mcp::TransportListener& listener) override {
    wire_->listener = &listener;
    wire_->opened = true;
  }
  void send(mcp::Outgoing message) override { wire_->sent.push_back(std::move(message)); }
  void negotiated(std::string_view v) override { wire_->negotiated = std::string(v); }
  void listen() override { wire_->listening = true; }
  void close(std::function<void()> done) override {
    wire_->closed = true;
    if (!done) {
      wire_->closedDetached = true;
      return;
    }
    if (wire_->holdClose) {
      wire_->closeDone = std::move(done);
      return;
    }
    done();
  }
  int64_t connectUs() const override { return wire_->connectUs; }

 private:
  std::shared_ptr<Wire> wire_;
};

}  // namespace mcphd::testing
