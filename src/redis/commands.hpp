#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"

namespace mcphd::redis {

struct Reply {
  enum class Type { kNil, kString, kStatus, kInteger, kArray, kError };
  Type type = Type::kNil;
  std::string str;
  long long integer = 0;
  std::vector<Reply> elements;
};

// The commands side of a Redis connection, as logic modules see it.
class Commands {
 public:
  virtual ~Commands() = default;
  // True once connected, authenticated and the database selected.
  virtual bool ready() const = 0;
  // Sends a command. `done` gets the reply (a Redis error reply is a Reply of type kError), or an
  // Error when the connection drops first. Returns false without calling `done` when not ready.
  virtual bool command(std::vector<std::string> argv, std::function<void(Result<Reply>)> done) = 0;
  // The same with arguments the caller keeps: a connection that copies them into its buffer at
  // once does so without first copying them into strings (a health message is written twice per
  // check). By default through command().
  virtual bool commandArgs(std::span<const std::string_view> argv,
                           std::function<void(Result<Reply>)> done) {
    return command(std::vector<std::string>(argv.begin(), argv.end()), std::move(done));
  }
  bool commandRefs(std::initializer_list<std::string_view> argv,
                   std::function<void(Result<Reply>)> done) {
    return commandArgs(std::span<const std::string_view>(argv.begin(), argv.size()),
                       std::move(done));
  }
  // `listener(true)` runs each time the connection becomes ready, `listener(false)` when it is
  // lost.
  virtual void onReadyChange(std::function<void(bool)> listener) = 0;
  // Bytes of commands accepted by command() that are not yet written to the socket: a Redis that
  // reads slower than we write shows here. 0 where the connection cannot tell.
  virtual size_t unsentBytes() const { return 0; }
  // `listener` runs after each write to the socket (unsentBytes() went down).
  virtual void onWritten(std::function<void()> listener) { (void)listener; }
};

}  // namespace mcphd::redis
