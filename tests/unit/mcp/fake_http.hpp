#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "http/client.hpp"

namespace mcphd::testing {

// An HTTP client that records requests; the test answers them in any order.
class FakeHttp final : public http::Client {
 public:
  struct Sent {
    http::Request request;
    std::function<void(http::Response)> done;
    bool cancelled = false;
    bool answered = false;
  };
  struct FakeCall final : http::Call {
    std::shared_ptr<Sent> sent;  // shared with the test: either side may outlive the other
    ~FakeCall() override {
      if (!sent->answered) {
        sent->cancelled = true;
      }
    }
  };

  std::unique_ptr<http::Call> send(http::Request request,
                                   std::function<void(http::Response)> done) override {
    auto s = std::make_shared<Sent>();
    s->request = std::move(request);
    s->done = std::move(done);
    sent.push_back(s);
    auto call = std::make_unique<FakeCall>();
    call->sent = s;
    return call;
  }

  // Answers request `i`: streamed through onChunk when the request asked for it.
  void answer(size_t i, long status, const std::string& contentType, const std::string& body,
              const std::string& sessionId = "", const std::string& retryAfter = "",
              const std::string& wwwAuthenticate = "") {
    REQUIRE(i < sent.size());
    auto s = sent[i];
    REQUIRE_FALSE(s->cancelled);
    REQUIRE_FALSE(s->answered);
    http::Response r;
    r.status = status;
    r.contentType = contentType;
    r.sessionId = sessionId;
    r.retryAfter = retryAfter;
    r.wwwAuthenticate = wwwAuthenticate;
    r.timings.totalUs = 1000;
    if (s->request.onChunk) {
      // Deliver in small pieces to exercise split parsing.
      for (size_t off = 0; off < body.size(); off += 7) {
        if (!s->request.onChunk(r, std::string_view(body).substr(off, 7))) {
          r.stopped = true;
          break;
        }
      }
    } else {
      r.body = body;
    }
    s->answered = true;
    auto done = s->done;
    done(std::move(r));
  }

  void fail(size_t i, http::Failure f, const std::string& message) {
    auto s = sent[i];
    http::Response r;
    r.failure = f;
    r.failureMessage = message;
    s->answered = true;
    auto done = s->done;
    done(std::move(r));
  }

  // Whether request `i` has header line `line`, in its own headers or in those it shares.
  bool hasHeader(size_t i, const std::string& line) const {
    const auto& r = sent[i]->request;
    auto in = [&line](const std::vector<std::string>& lines) {
      return std::find(lines.begin(), lines.end(), line) != lines.end();
    };
    return in(r.headers) || (r.sharedHeaders && in(*r.sharedHeaders));
  }

  std::vector<std::shared_ptr<Sent>> sent;
};

}  // namespace mcphd::testing
