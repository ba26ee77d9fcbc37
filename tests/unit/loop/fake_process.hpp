#pragma once

#include <memory>
#include <string>
#include <vector>

#include "loop/process.hpp"

namespace mcphd::testing {

// A ProcessSpawner that records children; the test plays the child's side.
class FakeSpawner final : public loop::ProcessSpawner {
 public:
  struct Child {
    loop::ProcessOptions options;
    loop::ProcessCallbacks callbacks;
    std::string stdinData;  // everything written to stdin
    bool detached = false;  // the Process was destroyed (the shutdown ladder would start)
  };

  Result<std::unique_ptr<loop::Process>> spawn(loop::ProcessOptions options,
                                               loop::ProcessCallbacks callbacks) override {
    if (!failWith.empty()) {
      return makeError(failWith);
    }
    auto c = std::make_shared<Child>();
    c->options = std::move(options);
    c->callbacks = std::move(callbacks);
    children.push_back(c);
    return std::unique_ptr<loop::Process>(std::make_unique<FakeProcess>(c));
  }

  // The child writes to stdout / stderr, or exits.
  // Copies of the callbacks run: like the real process, a callback may destroy the Process.
  void out(size_t i, const std::string& text) {
    auto cb = children.at(i)->callbacks.onStdout;
    if (cb) {
      cb(text);
    }
  }
  void err(size_t i, const std::string& text) {
    auto cb = children.at(i)->callbacks.onStderr;
    if (cb) {
      cb(text);
    }
  }
  void exit(size_t i, int64_t status, int signal = 0) {
    auto cb = children.at(i)->callbacks.onExit;
    if (cb) {
      cb(loop::ProcessExit{status, signal});
    }
  }
  // Lines written to stdin by the probe.
  std::vector<std::string> lines(size_t i) const {
    std::vector<std::string> out;
    const std::string& s = children.at(i)->stdinData;
    size_t start = 0;
    for (size_t nl = s.find('\n'); nl != std::string::npos; nl = s.find('\n', start)) {
      out.push_back(s.substr(start, nl - start));
      start = nl + 1;
    }
    return out;
  }

  std::vector<std::shared_ptr<Child>> children;
  std::string failWith;

 private:
  struct FakeProcess final : loop::Process {
    explicit FakeProcess(std::shared_ptr<Child> c) : child(std::move(c)) {}
    ~FakeProcess() override {
      child->detached = true;
      child->callbacks = loop::ProcessCallbacks{};
    }
    int pid() const override { return 4242; }
    bool write(std::string data) override {
      child->stdinData += data;
      return true;
    }
    std::shared_ptr<Child> child;
  };
};

}  // namespace mcphd::testing
