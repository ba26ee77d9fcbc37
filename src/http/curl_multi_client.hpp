#pragma once

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "http/client.hpp"
#include "http/egress.hpp"
#include "loop/uv_loop.hpp"

namespace mcphd::http {

// libcurl's multi interface driven by libuv. The sockets curl asks about live in an epoll set of
// our own, watched by one uv_poll; one uv_timer carries curl's timeout. All user callbacks run
// after curl_multi_socket_action returns, never from inside a libcurl callback. Connections are
// kept alive in the multi handle's cache and reused between checks.
//
// Why not a uv_poll per socket (curl's multi-uv.c): libcurl drops a kept-alive connection's
// socket (CURL_POLL_REMOVE) at the end of every transfer and asks for it again at the start of
// the next, and uv_poll_start re-registers the fd on every call (EPOLL_CTL_ADD failing with
// EEXIST, then MOD). That was 26 epoll_ctl calls per check. With our own set a socket curl drops
// stays registered until it is closed or reports an event nobody wants, so a request on a reused
// connection costs no epoll_ctl at all.
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
    notePolicyChange();
    egress_ = std::move(policy);
  }
  // egress.registry: applies in addition to requests marked registryEgress (servers registered in
  // Redis). nullopt: none.
  void setRegistryEgressPolicy(std::optional<EgressPolicy> policy) {
    notePolicyChange();
    registryEgress_ = std::move(policy);
  }

  // True when this libcurl resolves names without blocking the loop.
  static bool asyncDns();
  size_t inFlight() const { return live_.size(); }

 private:
  struct Transfer;
  friend struct Transfer;
  // What the epoll set holds for one fd.
  struct Watch {
    uint32_t events = 0;  // registered epoll events; 0 = not in the set
    bool wanted = false;  // curl is waiting on this socket (false after CURL_POLL_REMOVE)
    bool ours = false;    // opened by our open-socket callback, so closed through ours
  };

  static int onSocket(CURL* easy, curl_socket_t fd, int what, void* self, void* socketp);
  static int onTimerChange(CURLM* multi, long timeoutMs, void* self);
  static curl_socket_t onOpenSocket(void* transfer, curlsocktype, curl_sockaddr* address);
  static int onCloseSocket(void* self, curl_socket_t fd);
  Watch& watchOf(curl_socket_t fd);
  void unwatch(curl_socket_t fd);
  void onEpollReady();
  // Adds to / removes from the multi handle; the loop stays alive while any transfer is in it.
  bool addToMulti(Transfer* t);
  void removeFromMulti(Transfer* t);
  void onTimeout();
  void processCompletions();
  void finish(Transfer* t, CURLcode code);
  void release(Transfer* t);
  CURL* takeEasy();
  // Valid until the next call.
  const std::string& originOf(const std::string& url);
  void returnEasy(CURL* easy);

  loop::UvLoop& loop_;
  CURLM* multi_;
  int epollFd_ = -1;
  uv_poll_t* epollPoll_;        // readable while a socket in the epoll set has an event
  std::vector<Watch> watches_;  // indexed by fd
  size_t transfers_ = 0;        // in the multi handle
  uv_timer_t* timer_;
  uv_timer_t* deferred_;  // completes transfers that failed before reaching libcurl
  uint64_t nextId_ = 1;
  std::unordered_map<uint64_t, Transfer*> live_;
  std::vector<uint64_t> dirty_;  // transfers with body bytes to hand over
  std::vector<uint64_t> failedEarly_;
  std::vector<CURL*> idleEasy_;
  bool processing_ = false;
  EgressPolicy egress_ = EgressPolicy::defaults();
  std::optional<EgressPolicy> registryEgress_;
  // Origins reached by requests without registryEgress: their pooled connections never passed
  // the registry policy, so a registry request to one of them opens a connection of its own.
  std::set<std::string> unrestrictedOrigins_;
  // connectionOrigin() by the text of a URL before its path ("http://Host:80"), for the hosts
  // requested lately; at most 4,096 of at most 256 bytes.
  static constexpr size_t kMaxCachedOrigins = 4096;
  static constexpr size_t kMaxCachedOriginKey = 256;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::string, StringHash, std::equal_to<>> origins_;
  std::string uncachedOrigin_;  // originOf() of a URL not cached
  bool policyChanged_ = false;
  uint64_t requestsSent_ = 0;
  // No connection opened before the last policy change is used again: for 2 s after it every
  // request opens a new connection, afterwards connections older than the change are not
  // reused (CURLOPT_MAXLIFETIME_CONN). A connection is judged by the policy when it is opened.
  void notePolicyChange();
  uint64_t policyChangedAtMs_ = 0;
};

}  // namespace mcphd::http
