#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace mcphd::http {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// One parsed request. Header names are lower-cased; a header sent twice appears twice.
struct ServerRequest {
  std::string method;
  std::string target;  // as sent: "/api/check/x?y"
  std::string path;    // the target before '?'
  HeaderList headers;
  std::string body;
  // The first value of header `name` (lower case), or nullptr.
  const std::string* header(std::string_view name) const;
};

// Why a request cannot be answered: the status to send and a one-line reason.
struct RequestError {
  int status = 400;
  std::string message;
};

// Parses a request head: the request line and the header lines through the blank line that ends
// them ("GET / HTTP/1.1\r\nHost: x\r\n\r\n"). Any token is a method; the body is not part of it.
Result<ServerRequest, RequestError> parseRequestHead(std::string_view head);

}  // namespace mcphd::http
