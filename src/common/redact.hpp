#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/secret.hpp"

namespace mcphd {

// Replaces every occurrence of `secret` in `text` with "[redacted]". A server or token endpoint
// that echoes what it received must not smuggle a credential into a published error message.
// Secrets shorter than 4 characters are left alone (they would redact ordinary words).
void redact(std::string& text, std::string_view secret);

// Every form in which secrets went on the wire, so that text echoed back by whoever received
// them (an MCP server's error, a token endpoint's error_description, a stdio server's stderr) is
// cleaned of all of them: the raw value, its form-encoded (`+` for space) and percent-encoded
// forms (either hex case), its JSON-escaped forms (with and without `\/`), and for a header value
// the part after its scheme ("Bearer <t>") and, for Basic, the decoded `user:password` and the
// password. Build it when the request is built; apply it before any truncation.
class Redactor {
 public:
  void add(std::string_view secret);
  // A header value that carried credentials (Authorization, a secret header).
  void addHeaderValue(std::string_view value);
  void apply(std::string& text) const;
  bool empty() const { return forms_.empty(); }

 private:
  void addForm(std::string form);
  std::vector<Secret> forms_;  // longest first
};

}  // namespace mcphd
