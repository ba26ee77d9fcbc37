#include "http/request_head.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/ascii.hpp"

namespace mcphd::http {

namespace {

bool isToken(std::string_view s) {
  if (s.empty()) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || std::strchr("!#$%&'*+-.^_`|~", ch) != nullptr;
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Header values may hold no control characters but tab: a response header is never built from
// a request's bytes, but a value passed on to a handler is kept printable all the same.
bool cleanValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c < 0x20 && c != '\t') || c == 0x7f;
  });
}

}  // namespace

const std::string* ServerRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) {
      return &v;
    }
  }
  return nullptr;
}

Result<ServerRequest, RequestError> parseRequestHead(std::string_view head) {
  auto bad = [](std::string m) { return RequestError{400, std::move(m)}; };
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) {
    return bad("bad request line");
  }
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return bad("bad request line");
  }
  ServerRequest r;
  r.method = std::string(line.substr(0, sp1));
  r.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = line.substr(sp2 + 1);
  if (!isToken(r.method) || r.target.empty() || r.target[0] != '/' || !cleanValue(r.target) ||
      r.target.find(' ') != std::string::npos) {
    return bad("bad request line");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    return RequestError{505, "HTTP/1.0 or HTTP/1.1 only"};
  }
  r.path = r.target.substr(0, r.target.find('?'));
  size_t pos = eol + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string_view::npos) {
      end = head.size();
    }
    std::string_view h = head.substr(pos, end - pos);
    pos = end + 2;
    if (h.empty()) {
      break;  // the blank line that ends the head
    }
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || !isToken(h.substr(0, colon))) {
      return bad("bad header line");
    }
    std::string name = asciiLower(h.substr(0, colon));
    std::string_view value = trim(h.substr(colon + 1));
    if (!cleanValue(value)) {
      return bad("control characters in header " + name);
    }
    r.headers.emplace_back(std::move(name), std::string(value));
  }
  if (r.header("transfer-encoding") != nullptr) {
    return RequestError{501, "chunked request bodies are not supported; send Content-Length"};
  }
  return r;
}

}  // namespace mcphd::http
