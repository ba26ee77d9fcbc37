#include "http/curl_multi_client.hpp"

#include <sodium.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/ascii.hpp"
#include "common/secret.hpp"
#include "common/url.hpp"

namespace mcphd::http {

const char* failureName(Failure f) {
  switch (f) {
    case Failure::kNone:
      return "none";
    case Failure::kDns:
      return "dns";
    case Failure::kConnect:
      return "connect";
    case Failure::kTls:
      return "tls";
    case Failure::kTimeout:
      return "timeout";
    case Failure::kTooLarge:
      return "too_large";
    case Failure::kDenied:
      return "denied";
    case Failure::kOther:
      return "other";
  }
  return "other";
}

struct CurlMultiClient::Transfer final : Call {
  CurlMultiClient* owner = nullptr;
  uint64_t id = 0;
  CURL* easy = nullptr;
  curl_slist* headerList = nullptr;
  Request req;
  Response resp;
  std::function<void(Response)> done;
  std::string pending;  // body bytes not yet handed to req.onChunk
  size_t received = 0;
  bool tooLarge = false;
  bool inMulti = false;
  bool finished = false;
  std::string deniedReason;  // set when the egress policy refused an address
  char errbuf[CURL_ERROR_SIZE] = {};

  ~Transfer() override {
    if (owner != nullptr) {
      owner->release(this);
    }
  }
};

namespace {

// scheme://host[:port] of `url` as connections are shared: normalized, user info dropped.
std::string connectionOrigin(const std::string& url) {
  auto n = normalizeHttpUrl(url);
  std::string u = n ? *n : url;
  size_t start = u.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  size_t end = u.find_first_of("/?#", start);
  std::string authority =
      u.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (size_t at = authority.rfind('@'); at != std::string::npos) {
    authority = authority.substr(at + 1);
  }
  return u.substr(0, start) + authority;
}

// ASCII case-insensitive equality (header names), without lowering a copy.
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

Failure classify(CURLcode code, bool tooLarge) {
  switch (code) {
    case CURLE_OK:
      return Failure::kNone;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return Failure::kDns;
    case CURLE_COULDNT_CONNECT:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
      return Failure::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return Failure::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_USE_SSL_FAILED:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
      return Failure::kTls;
    case CURLE_FILESIZE_EXCEEDED:
      return Failure::kTooLarge;
    case CURLE_WRITE_ERROR:
      return tooLarge ? Failure::kTooLarge : Failure::kOther;
    default:
      return Failure::kOther;
  }
}

}  // namespace

bool CurlMultiClient::asyncDns() {
  const curl_version_info_data* info = curl_version_info(CURLVERSION_NOW);
  return info != nullptr && (info->features & CURL_VERSION_ASYNCHDNS) != 0;
}

CurlMultiClient::CurlMultiClient(loop::UvLoop& loop)
    : loop_(loop),
      multi_(curl_multi_init()),
      epollFd_(epoll_create1(EPOLL_CLOEXEC)),
      epollPoll_(new uv_poll_t),
      timer_(new uv_timer_t),
      deferred_(new uv_timer_t) {
  const int epollErr = errno;
  if (multi_ == nullptr || epollFd_ < 0 || uv_poll_init(loop_.raw(), epollPoll_, epollFd_) != 0) {
    if (multi_ != nullptr) {
      curl_multi_cleanup(multi_);
    }
    if (epollFd_ >= 0) {
      close(epollFd_);
    }
    delete epollPoll_;
    delete timer_;
    delete deferred_;
    throw std::runtime_error(multi_ == nullptr
                                 ? std::string("curl_multi_init failed")
                                 : std::string("epoll_create1: ") + std::strerror(epollErr));
  }
  epollPoll_->data = this;
  uv_poll_start(epollPoll_, UV_READABLE, [](uv_poll_t* h, int, int) {
    if (auto* client = static_cast<CurlMultiClient*>(h->data); client != nullptr) {
      client->onEpollReady();
    }
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(epollPoll_));
  uv_timer_init(loop_.raw(), timer_);
  timer_->data = this;
  uv_timer_init(loop_.raw(), deferred_);
  deferred_->data = this;
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &CurlMultiClient::onSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &CurlMultiClient::onTimerChange);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
}

CurlMultiClient::~CurlMultiClient() {
  // Transfers still owned by callers are detached: their destructors then do nothing.
  for (auto& [id, t] : live_) {
    removeFromMulti(t);
    t->owner = nullptr;
    if (t->easy != nullptr) {
      curl_easy_cleanup(t->easy);
      t->easy = nullptr;
    }
  }
  live_.clear();
  for (CURL* e : idleEasy_) {
    curl_easy_cleanup(e);
  }
  idleEasy_.clear();
  // curl_multi_cleanup closes the cached connections through onCloseSocket and may call
  // onSocket and onTimerChange: the epoll set and the timers stay alive until it returns.
  curl_multi_cleanup(multi_);
  epollPoll_->data = nullptr;
  uv_poll_stop(epollPoll_);
  loop::closeAndDelete(epollPoll_);
  close(epollFd_);
  timer_->data = nullptr;
  uv_timer_stop(timer_);
  loop::closeAndDelete(timer_);
  deferred_->data = nullptr;
  uv_timer_stop(deferred_);
  loop::closeAndDelete(deferred_);
}

CURL* CurlMultiClient::takeEasy() {
  if (!idleEasy_.empty()) {
    CURL* e = idleEasy_.back();
    idleEasy_.pop_back();
    curl_easy_reset(e);
    return e;
  }
  return curl_easy_init();
}

void CurlMultiClient::returnEasy(CURL* easy) {
  // A small pool: reset handles are cheap to keep, and keeping thousands buys nothing.
  if (idleEasy_.size() < 1024) {
    idleEasy_.push_back(easy);
  } else {
    curl_easy_cleanup(easy);
  }
}

SharedHeaders shareHeaders(std::vector<std::string> lines) {
  return SharedHeaders(new std::vector<std::string>(std::move(lines)),
                       [](const std::vector<std::string>* shared) {
                         auto* owned = const_cast<std::vector<std::string>*>(shared);
                         for (auto& h : *owned) {
                           wipeString(h);
                         }
                         delete owned;
                       });
}

const std::string& CurlMultiClient::originOf(const std::string& url) {
  // Parsing a URL (libcurl's URL API) cost more than the rest of send(), and many requests go to
  // a few hosts. Cached by the URL's text up to its path, so paths and queries (a legacy session
  // id, a token in a query) are not kept; a URL with user info, or an over-long one, is parsed
  // every time rather than kept. Bounded: a flood of hosts starts the cache over.
  const size_t scheme = url.find("://");
  const size_t end =
      scheme == std::string::npos ? std::string::npos : url.find_first_of("/?#", scheme + 3);
  const std::string_view head = std::string_view(url).substr(0, end);
  if (scheme == std::string::npos || head.size() > kMaxCachedOriginKey ||
      head.find('@') != std::string_view::npos) {
    uncachedOrigin_ = connectionOrigin(url);
    return uncachedOrigin_;
  }
  if (auto it = origins_.find(head); it != origins_.end()) {
    return it->second;
  }
  if (origins_.size() >= kMaxCachedOrigins) {
    origins_.clear();
  }
  return origins_.emplace(std::string(head), connectionOrigin(url)).first->second;
}

std::unique_ptr<Call> CurlMultiClient::send(Request request, std::function<void(Response)> done) {
  auto t = std::make_unique<Transfer>();
  t->owner = this;
  t->id = nextId_++;
  t->req = std::move(request);
  t->done = std::move(done);
  live_.emplace(t->id, t.get());

  CURL* e = takeEasy();
  t->easy = e;
  bool ok = e != nullptr;
  if (ok) {
    auto append = [&t, &ok](const std::vector<std::string>& lines) {
      for (const auto& h : lines) {
        curl_slist* next = ok ? curl_slist_append(t->headerList, h.c_str()) : nullptr;
        ok = next != nullptr;
        if (!ok) {
          return;
        }
        t->headerList = next;
      }
    };
    append(t->req.headers);
    if (t->req.sharedHeaders) {
      append(*t->req.sharedHeaders);
    }
    // No "Expect: 100-continue" round trip for larger bodies.
    if (ok) {
      curl_slist* next = curl_slist_append(t->headerList, "Expect:");
      ok = next != nullptr;
      if (ok) {
        t->headerList = next;
      }
    }
  }
  if (ok) {
    auto writeFn = +[](char* data, size_t size, size_t n, void* userp) -> size_t {
      auto* tr = static_cast<Transfer*>(userp);
      size_t len = size * n;
      if (!tr->req.longLived && tr->received + len > tr->req.maxBody) {
        tr->tooLarge = true;
        return 0;  // aborts the transfer with CURLE_WRITE_ERROR
      }
      tr->received += len;
      if (tr->req.onChunk) {
        if (tr->pending.empty()) {
          tr->owner->dirty_.push_back(tr->id);
        }
        tr->pending.append(data, len);
      } else {
        tr->resp.body.append(data, len);
      }
      return len;
    };
    auto headerFn = +[](char* data, size_t size, size_t n, void* userp) -> size_t {
      auto* tr = static_cast<Transfer*>(userp);
      std::string_view line(data, size * n);
      if (line.substr(0, 5) == "HTTP/") {
        // A new response (after 1xx): forget headers of the previous one.
        tr->resp.contentType.clear();
        tr->resp.sessionId.clear();
        tr->resp.retryAfter.clear();
        tr->resp.wwwAuthenticate.clear();
        return line.size();
      }
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return line.size();
      }
      const std::string_view name = trim(line.substr(0, colon));
      std::string_view value = trim(line.substr(colon + 1));
      if (iequals(name, "content-type")) {
        std::string_view media = value.substr(0, value.find(';'));
        tr->resp.contentType = asciiLower(trim(media));
      } else if (iequals(name, "mcp-session-id")) {
        tr->resp.sessionId = std::string(value);
      } else if (iequals(name, "retry-after")) {
        tr->resp.retryAfter = std::string(value);
      } else if (iequals(name, "www-authenticate")) {
        tr->resp.wwwAuthenticate = std::string(value);
      }
      return line.size();
    };
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_URL, t->req.url.c_str());
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    // No proxy from the environment: a proxy would resolve and connect on our behalf, out of
    // reach of the egress policy.
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    ++requestsSent_;
    // The origin as curl's connection cache sees it: host case-insensitive, default port, no
    // user info (two spellings of one origin share connections).
    const std::string& origin = originOf(t->req.url);
    bool fresh = false;
    if (policyChanged_) {
      const uint64_t sinceMs = uv_now(loop_.raw()) - policyChangedAtMs_;
      if (sinceMs < 2'000) {
        fresh = true;
      } else {
        curl_easy_setopt(e, CURLOPT_MAXLIFETIME_CONN, static_cast<long>(sinceMs / 1000 - 1));
      }
    }
    if (!t->req.registryEgress) {
      // Tracked whether or not egress.registry is set now: a reload may set it later.
      unrestrictedOrigins_.insert(origin);
    } else if (unrestrictedOrigins_.count(origin) != 0) {
      fresh = true;  // the pooled connection may not have passed egress.registry
    }
    if (fresh) {
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(std::max<int64_t>(1, t->req.connectTimeoutMs)));
    if (t->req.longLived) {
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
      curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(0));
      curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
      curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
      curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    } else {
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::max<int64_t>(1, t->req.timeoutMs)));
      curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(t->req.maxBody));
      curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 0L);
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headerList);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "mcp-healthd/" MCPHD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, writeFn);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    // Every address libcurl is about to connect to passes the egress policy first, so neither
    // a DNS answer nor a rebinding can reach a denied network.
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &CurlMultiClient::onOpenSocket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get());
    // A connection outlives its transfer in curl's cache: its close callback gets the client.
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, &CurlMultiClient::onCloseSocket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, this);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, headerFn);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    if (t->req.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->req.body.size()));
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->req.body.data());
    } else if (t->req.method != "GET") {
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->req.method.c_str());
    }
    ok = addToMulti(t.get());
  }
  if (!ok) {
    std::snprintf(t->errbuf, sizeof t->errbuf, "%s", "could not set up the HTTP transfer");
    failedEarly_.push_back(t->id);
    uv_timer_start(
        deferred_,
        [](uv_timer_t* h) {
          auto* self = static_cast<CurlMultiClient*>(h->data);
          if (self == nullptr) {
            return;
          }
          auto ids = std::move(self->failedEarly_);
          self->failedEarly_.clear();
          for (uint64_t id : ids) {
            auto it = self->live_.find(id);
            if (it != self->live_.end() && !it->second->finished) {
              self->finish(it->second, CURLE_FAILED_INIT);
            }
          }
        },
        0, 0);
  }
  return t;
}

void CurlMultiClient::release(Transfer* t) {
  live_.erase(t->id);
  removeFromMulti(t);
  // Header lines may carry credentials: wipe libcurl's copies and ours.
  for (curl_slist* s = t->headerList; s != nullptr; s = s->next) {
    sodium_memzero(s->data, std::char_traits<char>::length(s->data));
  }
  curl_slist_free_all(t->headerList);
  t->headerList = nullptr;
  for (auto& h : t->req.headers) {
    wipeString(h);
  }
  t->req.sharedHeaders.reset();  // wiped by the last holder
  wipeString(t->req.body);       // token requests carry client secrets and refresh tokens
  if (t->easy != nullptr) {
    returnEasy(t->easy);
    t->easy = nullptr;
  }
}

void CurlMultiClient::notePolicyChange() {
  policyChanged_ = requestsSent_ > 0;
  policyChangedAtMs_ = uv_now(loop_.raw());
}

curl_socket_t CurlMultiClient::onOpenSocket(void* transfer, curlsocktype, curl_sockaddr* address) {
  auto* tr = static_cast<Transfer*>(transfer);
  if (auto why = tr->owner->egress_.refuse(&address->addr)) {
    tr->deniedReason = *why;
    return CURL_SOCKET_BAD;
  }
  if (tr->req.registryEgress && tr->owner->registryEgress_) {
    if (auto why = tr->owner->registryEgress_->refuse(&address->addr)) {
      tr->deniedReason = *why;
      return CURL_SOCKET_BAD;
    }
  }
  // Close-on-exec: a stdio server started later must not inherit our connections.
  curl_socket_t fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
  if (fd >= 0) {
    Watch& w = tr->owner->watchOf(fd);
    w = Watch{};
    w.ours = true;
  }
  return fd;
}

int CurlMultiClient::onCloseSocket(void* selfp, curl_socket_t fd) {
  auto* self = static_cast<CurlMultiClient*>(selfp);
  self->unwatch(fd);  // before close(): the fd number may be reused at once
  if (static_cast<size_t>(fd) < self->watches_.size()) {
    self->watches_[static_cast<size_t>(fd)].ours = false;
  }
  return close(fd);
}

CurlMultiClient::Watch& CurlMultiClient::watchOf(curl_socket_t fd) {
  auto i = static_cast<size_t>(fd);
  if (i >= watches_.size()) {
    watches_.resize(std::max<size_t>(i + 1, watches_.size() * 2));
  }
  return watches_[i];
}

void CurlMultiClient::unwatch(curl_socket_t fd) {
  if (fd < 0 || static_cast<size_t>(fd) >= watches_.size()) {
    return;
  }
  Watch& w = watches_[static_cast<size_t>(fd)];
  if (w.events != 0) {
    epoll_event ev{};
    epoll_ctl(epollFd_, EPOLL_CTL_DEL, fd, &ev);
    w.events = 0;
  }
  w.wanted = false;
}

bool CurlMultiClient::addToMulti(Transfer* t) {
  t->inMulti = curl_multi_add_handle(multi_, t->easy) == CURLM_OK;
  if (t->inMulti && transfers_++ == 0) {
    uv_ref(reinterpret_cast<uv_handle_t*>(epollPoll_));  // a transfer keeps the loop alive
  }
  return t->inMulti;
}

void CurlMultiClient::removeFromMulti(Transfer* t) {
  if (!t->inMulti) {
    return;
  }
  curl_multi_remove_handle(multi_, t->easy);
  t->inMulti = false;
  if (--transfers_ == 0) {
    // Idle kept-alive connections alone must not keep the loop running (a one-off probe ends
    // when its loop has nothing left to do).
    uv_unref(reinterpret_cast<uv_handle_t*>(epollPoll_));
  }
}

int CurlMultiClient::onSocket(CURL*, curl_socket_t fd, int what, void* selfp, void*) {
  auto* self = static_cast<CurlMultiClient*>(selfp);
  if (fd < 0) {
    return -1;
  }
  Watch& w = self->watchOf(fd);
  if (what == CURL_POLL_REMOVE) {
    if (w.ours) {
      // A kept-alive connection: curl will most likely ask for it again for the next request.
      // It stays in the set; should it report an event before that, onEpollReady drops it.
      w.wanted = false;
    } else {
      // Not opened by us (the threaded resolver's pipe): curl may close it without telling us.
      self->unwatch(fd);
    }
    return 0;
  }
  uint32_t events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) {
    events |= EPOLLIN;
  }
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) {
    events |= EPOLLOUT;
  }
  w.wanted = true;
  if (events == w.events) {
    return 0;
  }
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(self->epollFd_, w.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) != 0) {
    w.events = 0;
    w.wanted = false;
    return -1;  // libcurl fails this transfer
  }
  w.events = events;
  return 0;
}

void CurlMultiClient::onEpollReady() {
  epoll_event events[128];
  int n = epoll_wait(epollFd_, events, 128, 0);
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    if (static_cast<size_t>(fd) >= watches_.size() || !watches_[static_cast<size_t>(fd)].wanted) {
      // A dropped kept-alive connection that the server closed (or that has stray data):
      // stop watching it; curl finds it dead when it next looks at it.
      unwatch(fd);
      continue;
    }
    const uint32_t ev = events[i].events;
    int flags = 0;
    if ((ev & (EPOLLERR | EPOLLHUP)) != 0) {
      // E.g. a reset connection. CURL_CSELECT_ERR would end the transfer as "select/poll
      // returned error"; letting curl read and write says what happened ("Connection reset by
      // peer").
      flags = CURL_CSELECT_IN | CURL_CSELECT_OUT;
    } else {
      if ((ev & EPOLLIN) != 0) {
        flags |= CURL_CSELECT_IN;
      }
      if ((ev & EPOLLOUT) != 0) {
        flags |= CURL_CSELECT_OUT;
      }
    }
    int running = 0;
    curl_multi_socket_action(multi_, fd, flags, &running);
  }
  processCompletions();
}

int CurlMultiClient::onTimerChange(CURLM*, long timeoutMs, void* selfp) {
  auto* self = static_cast<CurlMultiClient*>(selfp);
  if (timeoutMs < 0) {
    uv_timer_stop(self->timer_);
    return 0;
  }
  // A 0 ms timeout runs on the next loop iteration: never call libcurl from inside its callback,
  // and never turn 0 into 1 ms (curl's multi-uv.c example does, costing a millisecond per request).
  uv_timer_start(
      self->timer_,
      [](uv_timer_t* h) {
        if (auto* client = static_cast<CurlMultiClient*>(h->data); client != nullptr) {
          client->onTimeout();
        }
      },
      static_cast<uint64_t>(timeoutMs), 0);
  return 0;
}

void CurlMultiClient::onTimeout() {
  int running = 0;
  curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
  processCompletions();
}

void CurlMultiClient::processCompletions() {
  if (processing_) {
    return;
  }
  processing_ = true;
  do {
    std::vector<uint64_t> dirty = std::move(dirty_);
    dirty_.clear();
    for (uint64_t id : dirty) {
      auto it = live_.find(id);
      if (it == live_.end() || it->second->finished) {
        continue;
      }
      Transfer* t = it->second;
      std::string chunk = std::move(t->pending);
      t->pending.clear();
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
      if (!t->req.onChunk(t->resp, chunk)) {
        t->resp.stopped = true;
        finish(t, CURLE_OK);
      }
    }
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
      if (msg->msg != CURLMSG_DONE) {
        continue;
      }
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      if (t != nullptr && !t->finished) {
        CURLcode code = msg->data.result;
        finish(t, code);  // may remove other handles: their messages leave the queue with them
      }
    }
  } while (!dirty_.empty());
  processing_ = false;
}

void CurlMultiClient::finish(Transfer* t, CURLcode code) {
  t->finished = true;
  // Hand over body bytes that arrived together with the end of the transfer.
  if (t->req.onChunk && !t->pending.empty() && !t->resp.stopped) {
    std::string chunk = std::move(t->pending);
    t->pending.clear();
    if (t->easy != nullptr) {
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
    }
    if (!t->req.onChunk(t->resp, chunk)) {
      t->resp.stopped = true;
    }
  }
  if (t->easy != nullptr) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
    curl_off_t v = 0;
    if (curl_easy_getinfo(t->easy, CURLINFO_CONNECT_TIME_T, &v) == CURLE_OK) {
      t->resp.timings.connectUs = v;
    }
    if (curl_easy_getinfo(t->easy, CURLINFO_APPCONNECT_TIME_T, &v) == CURLE_OK) {
      t->resp.timings.tlsUs = v;
    }
    if (curl_easy_getinfo(t->easy, CURLINFO_STARTTRANSFER_TIME_T, &v) == CURLE_OK) {
      t->resp.timings.firstByteUs = v;
    }
    if (curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &v) == CURLE_OK) {
      t->resp.timings.totalUs = v;
    }
    long connects = 0;
    if (curl_easy_getinfo(t->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
      t->resp.timings.newConnection = connects > 0;
    }
  }
  removeFromMulti(t);
  if (!t->resp.stopped) {
    t->resp.failure = classify(code, t->tooLarge);
    if (t->resp.failure == Failure::kConnect && !t->deniedReason.empty()) {
      t->resp.failure = Failure::kDenied;
    }
    if (t->resp.failure == Failure::kTooLarge) {
      t->resp.failureMessage =
          "response body exceeds max_body (" + std::to_string(t->req.maxBody) + " bytes)";
    } else if (t->resp.failure == Failure::kDenied) {
      t->resp.failureMessage = t->deniedReason;
    } else if (t->resp.failure != Failure::kNone) {
      t->resp.failureMessage = t->errbuf[0] != '\0' ? t->errbuf : curl_easy_strerror(code);
    }
  }
  auto done = std::move(t->done);
  Response resp = std::move(t->resp);
  if (done) {
    done(std::move(resp));  // may destroy t
  }
}

}  // namespace mcphd::http
