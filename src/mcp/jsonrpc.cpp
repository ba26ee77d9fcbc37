#include "mcp/jsonrpc.hpp"

#include <simdjson.h>

#include <cstdlib>

#include "common/json_writer.hpp"
#include "common/sha256.hpp"

namespace mcphd::mcp {

namespace ondemand = simdjson::ondemand;

namespace {

// Deeper JSON than this is refused: no MCP message needs it, and it bounds the parser's stack.
constexpr size_t kMaxDepth = 256;

std::string describe(simdjson::error_code e) { return simdjson::error_message(e); }

// Above this, the parsers and the input buffer give their memory back after a message: a rare
// huge response must not stay resident.
constexpr size_t kKeptCapacity = 1 << 20;

// The daemon has one loop thread; every decode reuses these (allocating per message cost more
// than parsing it). A decode finishes with them before it returns, so calls never overlap.
struct Parsers {
  simdjson::dom::parser dom;
  ondemand::parser od;
  std::string input;  // the message being decoded, followed by simdjson's padding

  Parsers() { reset(); }
  void reset() {
    dom = simdjson::dom::parser();
    if (dom.allocate(64 * 1024, kMaxDepth) != simdjson::SUCCESS) {
      dom = simdjson::dom::parser();  // capacity 0: validate() allocates, with the depth limit
    }
    od = ondemand::parser();
    std::string().swap(input);
  }
};

Parsers& parsers() {
  thread_local Parsers p;
  return p;
}

// Copies `json` into the reusable padded buffer.
simdjson::padded_string_view padded(Parsers& p, std::string_view json) {
  const size_t need = json.size() + simdjson::SIMDJSON_PADDING;
  if (p.input.size() < need) {
    p.input.resize(need);
  }
  std::copy(json.begin(), json.end(), p.input.begin());
  std::fill_n(p.input.begin() + static_cast<std::ptrdiff_t>(json.size()),
              simdjson::SIMDJSON_PADDING, '\0');
  return simdjson::padded_string_view(p.input.data(), json.size(), p.input.size());
}

// Gives memory back after an unusually large message.
struct ShrinkAfter {
  Parsers& p;
  ~ShrinkAfter() {
    if (p.input.size() > kKeptCapacity || p.od.capacity() > kKeptCapacity ||
        p.dom.capacity() > kKeptCapacity) {
      p.reset();
    }
  }
};

// A DOM parse validates every byte (ondemand skips what is not visited), so raw text that we keep
// and republish is known to be valid JSON.
Result<simdjson::dom::element> validate(simdjson::dom::parser& parser,
                                        simdjson::padded_string_view json, const char* what) {
  if (json.length() + 1 > parser.capacity() &&
      parser.allocate(json.length() + 1, kMaxDepth) != simdjson::SUCCESS) {
    return makeError(std::string("cannot allocate a JSON parser for ") + what);
  }
  simdjson::dom::element root;
  if (auto e = parser.parse(json.data(), json.length(), false).get(root); e != simdjson::SUCCESS) {
    return makeError(std::string("invalid JSON in ") + what + ": " + describe(e));
  }
  return root;
}

}  // namespace

Result<Message> decodeMessage(std::string_view text) {
  Parsers& p = parsers();
  ShrinkAfter shrink{p};
  simdjson::padded_string_view json = padded(p, text);
  auto root = validate(p.dom, json, "JSON-RPC message");
  if (!root) {
    return root.error();
  }
  if (root->is_array()) {
    return makeError("JSON-RPC batch received; batches are not allowed since 2025-06-18");
  }
  simdjson::dom::object obj;
  if (root->get_object().get(obj) != simdjson::SUCCESS) {
    return makeError("JSON-RPC message is not an object");
  }
  Message m;
  std::string_view version;
  if (obj["jsonrpc"].get_string().get(version) != simdjson::SUCCESS || version != "2.0") {
    return makeError("message is not JSON-RPC 2.0 (\"jsonrpc\":\"2.0\" missing)");
  }
  simdjson::dom::element id;
  bool hasId = obj["id"].get(id) == simdjson::SUCCESS && !id.is_null();
  if (hasId) {
    if (!id.is_string() && !id.is_int64() && !id.is_uint64()) {
      return makeError("JSON-RPC id must be a string or an integer");
    }
    m.id = simdjson::minify(id);
  }
  std::string_view method;
  if (obj["method"].get_string().get(method) == simdjson::SUCCESS) {
    m.method = std::string(method);
    m.kind = hasId ? MessageKind::kRequest : MessageKind::kNotification;
    return m;
  }
  if (!hasId) {
    // Error responses to unparseable requests carry id null.
    simdjson::dom::object err;
    if (obj["error"].get_object().get(err) == simdjson::SUCCESS) {
      m.kind = MessageKind::kErrorResponse;
      std::string_view msg;
      if (err["message"].get_string().get(msg) == simdjson::SUCCESS) {
        m.errorMessage = std::string(msg);
      }
      int64_t code = 0;
      if (err["code"].get_int64().get(code) == simdjson::SUCCESS) {
        m.errorCode = code;
      }
      return m;
    }
    return makeError("JSON-RPC message has neither method nor id");
  }
  simdjson::dom::element result;
  if (obj["result"].get(result) == simdjson::SUCCESS) {
    m.kind = MessageKind::kResponse;
    // The result's exact text: re-read it with ondemand, which points into the input.
    ondemand::document doc;
    std::string_view raw;
    if (p.od.iterate(json).get(doc) != simdjson::SUCCESS) {
      return makeError("invalid JSON-RPC response");
    }
    ondemand::value v;
    if (doc["result"].get(v) != simdjson::SUCCESS) {
      return makeError("invalid JSON-RPC result");
    }
    ondemand::json_type type;
    if (v.type().get(type) != simdjson::SUCCESS) {
      return makeError("invalid JSON-RPC result");
    }
    if (type == ondemand::json_type::object) {
      ondemand::object o;
      if (v.get_object().get(o) != simdjson::SUCCESS ||
          o.raw_json().get(raw) != simdjson::SUCCESS) {
        return makeError("invalid JSON-RPC result object");
      }
      m.result = std::string(raw);
    } else {
      m.result = simdjson::minify(result);
    }
    return m;
  }
  simdjson::dom::object err;
  if (obj["error"].get_object().get(err) == simdjson::SUCCESS) {
    m.kind = MessageKind::kErrorResponse;
    int64_t code = 0;
    if (err["code"].get_int64().get(code) != simdjson::SUCCESS) {
      return makeError("JSON-RPC error without an integer code");
    }
    m.errorCode = code;
    std::string_view msg;
    if (err["message"].get_string().get(msg) == simdjson::SUCCESS) {
      m.errorMessage = std::string(msg);
    }
    return m;
  }
  return makeError("JSON-RPC response has neither result nor error");
}

std::string encodeRequest(int64_t id, std::string_view method, std::string_view params) {
  std::string out;
  out.reserve(64 + method.size() + params.size());
  out += "{\"jsonrpc\":\"2.0\",\"id\":";
  out += std::to_string(id);
  out += ",\"method\":";
  json::appendString(out, method);
  if (!params.empty()) {
    out += ",\"params\":";
    out += params;
  }
  out += '}';
  return out;
}

std::string encodeNotification(std::string_view method) {
  std::string out;
  out.reserve(40 + method.size());
  out += "{\"jsonrpc\":\"2.0\",\"method\":";
  json::appendString(out, method);
  out += '}';
  return out;
}

std::string encodeResult(std::string_view rawId, std::string_view result) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"id\":";
  out += rawId;
  out += ",\"result\":";
  out += result;
  out += '}';
  return out;
}

std::string encodeError(std::string_view rawId, int64_t code, std::string_view message) {
  std::string out = "{\"jsonrpc\":\"2.0\",\"id\":";
  out += rawId;
  out += ",\"error\":{\"code\":" + std::to_string(code) + ",\"message\":";
  json::appendString(out, message);
  out += "}}";
  return out;
}

Result<InitializeResult> decodeInitializeResult(std::string_view resultJson) {
  Parsers& p = parsers();
  ShrinkAfter shrink{p};
  auto root = validate(p.dom, padded(p, resultJson), "initialize result");
  if (!root) {
    return root.error();
  }
  InitializeResult r;
  std::string_view s;
  if ((*root)["protocolVersion"].get_string().get(s) != simdjson::SUCCESS) {
    return makeError("initialize result has no protocolVersion string");
  }
  r.protocolVersion = std::string(s);
  simdjson::dom::object info;
  if ((*root)["serverInfo"].get_object().get(info) == simdjson::SUCCESS) {
    if (info["name"].get_string().get(s) == simdjson::SUCCESS) {
      r.serverName = std::string(s);
    }
    if (info["version"].get_string().get(s) == simdjson::SUCCESS) {
      r.serverVersion = std::string(s);
    }
  }
  simdjson::dom::object tools;
  if ((*root)["capabilities"]["tools"].get_object().get(tools) == simdjson::SUCCESS) {
    r.toolsCapability = true;
    bool lc = false;
    if (tools["listChanged"].get_bool().get(lc) == simdjson::SUCCESS) {
      r.toolsListChanged = lc;
    }
  }
  return r;
}

namespace {

Result<Tool> toolAt(ondemand::value element, size_t index,
                    const std::shared_ptr<const std::string>& page) {
  ondemand::object o;
  std::string_view raw;
  std::string_view name;
  if (element.get_object().get(o) != simdjson::SUCCESS ||
      o.raw_json().get(raw) != simdjson::SUCCESS) {
    return makeError("tools/list tool #" + std::to_string(index) + " is not an object");
  }
  // raw_json() went past the object: back to its start for the name.
  if (o.reset().error() != simdjson::SUCCESS ||
      o.find_field_unordered("name").get_string().get(name) != simdjson::SUCCESS || name.empty()) {
    return makeError("tools/list tool #" + std::to_string(index) + " has no name");
  }
  return Tool::inPage(std::string(name), raw, page);
}

}  // namespace

// A page cannot make us reserve more than this up front (each Tool is about 100 bytes).
constexpr size_t kMaxToolsReserved = 10'000;
// Pages smaller than this are kept whole, whatever else they hold.
constexpr size_t kCompactAbove = 64 * 1024;

Tool Tool::inPage(std::string name, std::string_view raw, std::shared_ptr<const std::string> page) {
  Tool t;
  t.name = std::move(name);
  t.raw_ = raw;
  t.hash = sha256(raw);
  t.page_ = std::move(page);
  return t;
}

void Tool::rehome(std::string_view raw, std::shared_ptr<const std::string> page) {
  if (raw != raw_) {
    std::abort();  // a different text would no longer match the hash
  }
  raw_ = raw;
  page_ = std::move(page);
}

Tool makeTool(std::string name, std::string raw) {
  auto page = std::make_shared<const std::string>(std::move(raw));
  const std::string_view view = *page;
  return Tool::inPage(std::move(name), view, std::move(page));
}

namespace {

// A page whose tools are a small part of it (a server padding its answer with other fields) is
// not kept whole: the tools' raw JSON move to a page of their own, so what the tools hold is what
// max_tools_bytes bounds.
void compactPage(std::vector<Tool>& tools, size_t pageBytes) {
  size_t rawBytes = 0;
  for (const auto& t : tools) {
    rawBytes += t.raw().size();
  }
  if (pageBytes < kCompactAbove || rawBytes * 2 >= pageBytes) {
    return;
  }
  auto compact = std::make_shared<std::string>();
  compact->reserve(rawBytes);
  for (const auto& t : tools) {
    compact->append(t.raw());
  }
  const std::shared_ptr<const std::string> page = compact;
  size_t at = 0;
  for (auto& t : tools) {
    const size_t n = t.raw().size();
    t.rehome(std::string_view(*page).substr(at, n), page);
    at += n;
  }
}

}  // namespace

Result<ToolsPage> decodeToolsListResult(std::string_view resultJson, Trust trust) {
  Parsers& p = parsers();
  ShrinkAfter shrink{p};  // the parsers grow to the largest page: given back after a large one
  // Parsed in place from the copy the tools keep (their raw JSON are views into it), padded
  // with zeros as simdjson needs.
  auto owned = std::make_shared<std::string>(resultJson.size() + simdjson::SIMDJSON_PADDING, '\0');
  std::copy(resultJson.begin(), resultJson.end(), owned->begin());
  const std::shared_ptr<const std::string> text = owned;
  simdjson::padded_string_view json(owned->data(), resultJson.size(), owned->size());
  if (trust == Trust::kUnchecked) {
    // ondemand skips what it is not asked for: the raw text we keep must be known valid.
    if (auto root = validate(p.dom, json, "tools/list result"); !root) {
      return root.error();
    }
  }
  ToolsPage page;
  ondemand::document doc;
  ondemand::object result;
  ondemand::array arr;
  if (p.od.iterate(json).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(result) != simdjson::SUCCESS) {
    return makeError("tools/list result is not an object");
  }
  if (result.find_field_unordered("tools").get_array().get(arr) != simdjson::SUCCESS) {
    return makeError("tools/list result has no tools array");
  }
  // Sized once: a page of N tools would otherwise regrow its vector log2(N) times.
  size_t count = 0;
  if (arr.count_elements().get(count) == simdjson::SUCCESS) {
    page.tools.reserve(std::min<size_t>(count, kMaxToolsReserved));
  }
  size_t index = 0;
  for (auto element : arr) {
    ondemand::value v;
    if (element.get(v) != simdjson::SUCCESS) {
      return makeError("tools/list tool #" + std::to_string(index) + " is not an object");
    }
    auto tool = toolAt(v, index, text);
    if (!tool) {
      return tool.error();
    }
    page.tools.push_back(std::move(tool.value()));
    ++index;
  }
  ondemand::value cursor;
  if (result.find_field_unordered("nextCursor").get(cursor) == simdjson::SUCCESS) {
    bool isNull = false;
    if (cursor.is_null().get(isNull) != simdjson::SUCCESS || !isNull) {
      std::string_view c;
      if (cursor.get_string().get(c) != simdjson::SUCCESS) {
        return makeError("tools/list nextCursor is not a string");
      }
      page.nextCursor = std::string(c);
    }
  }
  compactPage(page.tools, resultJson.size());
  return page;
}

}  // namespace mcphd::mcp
