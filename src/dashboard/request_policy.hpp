#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/secret.hpp"
#include "http/request_head.hpp"

// Who may use the dashboard, and how its answers protect the page (docs/PROTOCOL.md, "Dashboard
// HTTP API").
namespace mcphd::dashboard {

// The headers of every dashboard response: a Content-Security-Policy that allows the page's own
// files only (no inline script or style, no other origin), nosniff, no referrer, no framing.
const http::HeaderList& securityHeaders();

// True when `host` (a Host header) names this dashboard: the listen address itself ("[::1]:9465"
// for "[::1]:9465"; without ":80" when it listens on port 80) or an allowed host ("name" matches
// that name on any port, "name:port" that port only). Compared without case. Refusing other
// names defeats DNS rebinding: a page of another site that made its name resolve to this address.
bool hostAllowed(std::string_view host, std::string_view listen,
                 const std::vector<std::string>& allowedHosts);

// True when the request may come from the dashboard's own page: no Origin (not a browser's
// cross-site request), or the Origin "http://<host>" or "https://<host>" (behind a TLS proxy) of
// the Host it was sent to; never "null", and never with Sec-Fetch-Site saying another site.
bool sameOrigin(const http::ServerRequest& request);

// True when the request carries "Authorization: Bearer <token>" (the scheme in any case). Never
// true for an empty token (read-only).
bool bearerMatches(const http::ServerRequest& request, const Secret& token);

}  // namespace mcphd::dashboard
