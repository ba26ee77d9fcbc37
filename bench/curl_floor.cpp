// The benchmark's floor: a bare libcurl multi loop doing the four HTTP exchanges of one MCP check
// (initialize, notifications/initialized, tools/list, DELETE) against the fault server, at a
// given concurrency, over kept-alive connections — nothing else (no JSON parsing beyond finding
// the session id, no hashing, no publishing). Prints one JSON line with the CPU it used.
//
//   mcphd-curl-floor --base http://127.0.0.1:PORT/s/ --servers N --concurrency C --checks K
//                    [--mode 'healthy?tools=20']
#include <curl/curl.h>
#include <sys/resource.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double cpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double wallSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

const char* kInitialize =
    R"({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25",)"
    R"("capabilities":{},"clientInfo":{"name":"curl-floor","version":"1"}}})";
const char* kInitialized = R"({"jsonrpc":"2.0","method":"notifications/initialized"})";
const char* kToolsList = R"({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}})";

struct Slot {
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::string body;
  std::string session;
  int step = 0;  // 0 initialize, 1 initialized, 2 tools/list, 3 DELETE
  bool failed = false;
};

size_t onBody(char* data, size_t size, size_t n, void* userp) {
  static_cast<Slot*>(userp)->body.append(data, size * n);
  return size * n;
}

size_t onHeader(char* data, size_t size, size_t n, void* userp) {
  auto* s = static_cast<Slot*>(userp);
  std::string line(data, size * n);
  if (line.size() > 15 && strncasecmp(line.c_str(), "mcp-session-id:", 15) == 0) {
    size_t a = line.find_first_not_of(' ', 15);
    size_t b = line.find_last_not_of("\r\n ");
    s->session = line.substr(a, b - a + 1);
  }
  return size * n;
}

void prepare(Slot& s) {
  curl_easy_reset(s.easy);
  curl_slist_free_all(s.headers);
  s.headers = nullptr;
  s.body.clear();
  s.headers = curl_slist_append(s.headers, "Content-Type: application/json");
  s.headers = curl_slist_append(s.headers, "Accept: application/json, text/event-stream");
  if (s.step > 0) {
    s.headers = curl_slist_append(s.headers, ("Mcp-Session-Id: " + s.session).c_str());
    s.headers = curl_slist_append(s.headers, "MCP-Protocol-Version: 2025-11-25");
  }
  curl_easy_setopt(s.easy, CURLOPT_URL, s.url.c_str());
  curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, s.headers);
  curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, onBody);
  curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(s.easy, CURLOPT_HEADERFUNCTION, onHeader);
  curl_easy_setopt(s.easy, CURLOPT_HEADERDATA, &s);
  curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
  curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(s.easy, CURLOPT_TIMEOUT_MS, 10000L);
  const char* bodies[] = {kInitialize, kInitialized, kToolsList};
  if (s.step < 3) {
    curl_easy_setopt(s.easy, CURLOPT_POSTFIELDS, bodies[s.step]);
  } else {
    curl_easy_setopt(s.easy, CURLOPT_CUSTOMREQUEST, "DELETE");
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string base;
  std::string mode = "healthy?tools=20";
  long servers = 100;
  long concurrency = 64;
  long checks = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--base") {
      base = argv[i + 1];
    } else if (k == "--servers") {
      servers = std::atol(argv[i + 1]);
    } else if (k == "--concurrency") {
      concurrency = std::atol(argv[i + 1]);
    } else if (k == "--checks") {
      checks = std::atol(argv[i + 1]);
    } else if (k == "--mode") {
      mode = argv[i + 1];
    }
  }
  if (base.empty() || servers < 1 || concurrency < 1 || checks < 1) {
    std::fprintf(stderr,
                 "usage: mcphd-curl-floor --base URL --servers N --concurrency C --checks K\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, concurrency * 2);
  std::vector<Slot> slots(static_cast<size_t>(std::min(concurrency, checks)));
  long started = 0;
  long done = 0;
  long failures = 0;
  auto startCheck = [&](Slot& s) {
    s.url = base + "srv-" + std::to_string(started % servers) + "/" + mode;
    s.step = 0;
    s.session.clear();
    ++started;
    prepare(s);
    curl_multi_add_handle(multi, s.easy);
  };
  const double cpu0 = cpuSeconds();
  const double wall0 = wallSeconds();
  for (auto& s : slots) {
    s.easy = curl_easy_init();
    startCheck(s);
  }
  int running = 1;
  while (done < checks) {
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &left)) {
      if (m->msg != CURLMSG_DONE) {
        continue;
      }
      Slot* s = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&s));
      long status = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      CURLcode rc = m->data.result;
      curl_multi_remove_handle(multi, m->easy_handle);
      bool ok = rc == CURLE_OK && status >= 200 && status < 300 &&
                (s->step == 1 || s->step == 3 || s->body.find("\"result\"") != std::string::npos);
      if (ok && s->step < 3) {
        ++s->step;
        prepare(*s);
        curl_multi_add_handle(multi, s->easy);
        continue;
      }
      failures += ok ? 0 : 1;
      ++done;
      if (started < checks) {
        startCheck(*s);
      }
    }
    if (done < checks) {
      curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
    }
  }
  const double cpu = cpuSeconds() - cpu0;
  const double wall = wallSeconds() - wall0;
  std::printf(
      "{\"checks\":%ld,\"failures\":%ld,\"concurrency\":%ld,\"wall_s\":%.3f,\"cpu_s\":%.3f,"
      "\"cpu_us_per_check\":%.1f,\"checks_per_s\":%.1f}\n",
      done, failures, concurrency, wall, cpu, cpu * 1e6 / static_cast<double>(done),
      static_cast<double>(done) / wall);
  for (auto& s : slots) {
    curl_slist_free_all(s.headers);
    curl_easy_cleanup(s.easy);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return failures == 0 ? 0 : 1;
}
