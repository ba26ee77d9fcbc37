#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "registry/server_spec.hpp"

namespace mcphd::auth {

// Work in flight for an AuthProvider; destroying it cancels, and its callback never runs.
class Pending {
 public:
  virtual ~Pending() = default;
};

// Supplies the credential headers of a request to a server. Static credentials answer at once;
// OAuth2 (OAuth2Provider) fetches and caches tokens, so the interface is asynchronous.
class AuthProvider {
 public:
  virtual ~AuthProvider() = default;
  // Calls `done` with "Name: value" header lines (secret: the caller wipes them after use) or an
  // error whose message never contains a secret. `done` may run before authorize() returns.
  virtual std::unique_ptr<Pending> authorize(
      const registry::ServerSpec& spec,
      std::function<void(Result<std::vector<std::string>>)> done) = 0;
  // The server answered 401 to these credentials: drop any cached token for it.
  virtual void rejected(const registry::ServerSpec& spec) = 0;
  // Whether checking this server must wait for someone to authorize the client (an
  // authorization_code server without a refresh token): its status is then auth_required.
  virtual bool needsAuthorization(const registry::ServerSpec& spec) const = 0;
  // Whether a 401 from this server is worth one more attempt after discover().
  virtual bool retriesOn401(const registry::ServerSpec& spec) const = 0;
  // The server answered 401 with this WWW-Authenticate challenge: learn where and how to get a
  // token (OAuth discovery). `done` may run before discover() returns.
  virtual std::unique_ptr<Pending> discover(const registry::ServerSpec& spec,
                                            const std::string& challenge,
                                            std::function<void(Result<void>)> done) = 0;
};

// none | bearer | basic | headers, from the spec itself.
class StaticAuthProvider final : public AuthProvider {
 public:
  std::unique_ptr<Pending> authorize(
      const registry::ServerSpec& spec,
      std::function<void(Result<std::vector<std::string>>)> done) override;
  void rejected(const registry::ServerSpec&) override {}
  bool retriesOn401(const registry::ServerSpec&) const override { return false; }
  bool needsAuthorization(const registry::ServerSpec&) const override { return false; }
  std::unique_ptr<Pending> discover(const registry::ServerSpec&, const std::string&,
                                    std::function<void(Result<void>)> done) override {
    done(makeError("static credentials cannot be discovered"));
    return nullptr;
  }
};

}  // namespace mcphd::auth
