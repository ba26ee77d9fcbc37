#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "baseline/verdict.hpp"
#include "mcp/jsonrpc.hpp"

namespace mcphd::baseline {

inline constexpr std::string_view kHiddenUnicode = "hidden_unicode";
inline constexpr std::string_view kModelInstruction = "model_instruction";
inline constexpr std::string_view kOversizedDescription = "oversized_description";
inline constexpr std::string_view kInvalidName = "invalid_name";
inline constexpr std::string_view kDuplicateName = "duplicate_name";
inline constexpr std::string_view kShadowedName = "shadowed_name";

inline constexpr size_t kMaxDescription = 8 * 1024;  // bytes
inline constexpr size_t kMaxDetail = 200;
inline constexpr size_t kMaxFindings = 50;  // kept per server (the tool snapshot)

// The phrases `model_instruction` looks for, lower case; matched case-insensitively, with any run
// of white space in the text read as one space. docs/PROTOCOL.md lists them.
const std::vector<std::string_view>& modelInstructionPhrases();

// MCP tool-name rules (2025-11-25): 1 to 128 characters of A-Z a-z 0-9 _ - .
bool validToolName(std::string_view name);

// What kind of invisible or direction-changing character `cp` is, or null: tag characters
// U+E0000-U+E007F; bidirectional controls U+202A-U+202E, U+2066-U+2069, U+200E, U+200F, U+061C;
// zero-width U+200B-U+200D, U+2060, U+FEFF; invisible U+2061-U+2064, U+00AD, U+180E,
// U+E0100-U+E01EF.
const char* hiddenKind(char32_t cp);
// The hidden code point (hiddenKind) starting at s[i], its length in `*len`; 0 for any other, or
// for bytes that are not valid UTF-8 there (`*len` then 1).
char32_t hiddenCodePoint(std::string_view s, size_t i, size_t* len);

// The findings of one server's complete tool list, in the server's order of tools, at most
// kMaxFindings (and `*total` gets how many there were, `*byCode` how many of each code): every
// rule but shadowed_name, which needs the other servers (see ShadowIndex). A definition that is
// not a JSON object is skipped (the list was validated when it was read).
// At most `max` findings as a JSON array, [{"tool","code","detail"}] (health messages, tool
// snapshots, mcp-healthctl tools lint --json).
void appendFindingsJson(std::string& out, const std::vector<Finding>& findings, size_t max);

std::vector<Finding> lintTools(const std::vector<mcp::Tool>& tools, size_t* total = nullptr,
                               std::map<std::string, size_t>* byCode = nullptr);

}  // namespace mcphd::baseline
