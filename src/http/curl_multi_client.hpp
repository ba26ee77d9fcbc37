#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/client.hpp"
#include "http/egress.hpp"
#include "loop/uv_loop.hpp"

namespace mcphd::http {

// libcurl's multi interface driven by libuv: one uv_poll per socket that curl asks about, one
// uv_timer for curl's timeout. All user callbacks run after curl_multi_socket_action returns,
// never from inside a libcurl callback. Connections are kept alive in the multi handle's cache and
// reused between checks.
class CurlMultiClient final : public Client {
 public:
  explicit CurlMultiClient(loop::UvLoop& loop);
  ~CurlMultiClient() override;
  CurlMultiClient(const CurlMultiClient&) = delete;
  CurlMultiClient& operator=(const CurlMultiClient&) = delete;

  std::unique_ptr<Call> send(Request request, std::function<void(Response)> done) override;

  // Applies to every connection opened from now on (checked on the resolved address). After a
  // change (config reload) the first request to each origin opens a new connection, so a
  // kept-alive one opened under the old policy is not reused.
  void setEgressPolicy(EgressPolicy policy) {
    policyChanged_ = requestsSent_ > 0;
    freshOrigins_.clear();
    egress_ = std::move(policy);
  }

  // True when this libcurl resolves names without blocking the loop.
  static bool asyncDns();
  size_t inFlight() const { return live_.size(); }

 private:
  struct Transfer;
  struct Socket;
  friend struct Transfer;

  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int onTimerChange(CURLM* multi, long timeoutMs, void* self);
  void socketAction(curl_socket_t fd, int events);
  void processCompletions();
  void finish(Transfer* t, CURLcode code);
  void release(Transfer* t);
  CURL* takeEasy();
  void returnEasy(CURL* easy);

  loop::UvLoop& loop_;
  CURLM* multi_;
  uv_timer_t* timer_;
  uv_timer_t* deferred_;  // completes transfers that failed before reaching libcurl
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, Transfer*> live_;
  std::vector<uint64_t> dirty_;  // transfers with body bytes to hand over
  std::vector<uint64_t> failedEarly_;
  std::vector<CURL*> idleEasy_;
  bool processing_ = false;
  EgressPolicy egress_ = EgressPolicy::defaults();
  bool policyChanged_ = false;
  uint64_t requestsSent_ = 0;
  std::set<std::string> freshOrigins_;  // origins reconnected since the policy changed
};

}  // namespace mcphd::http
