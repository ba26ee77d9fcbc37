#pragma once

#include <span>
#include <string_view>

namespace mcphd::dashboard {

// One file of the page (src/dashboard/assets), compiled into the binary by
// cmake/embed_assets.cmake: `path` is "/index.html", "/app.js", "/app.css".
struct Asset {
  std::string_view path;
  std::string_view bytes;
};

// Every file of the page, sorted by path.
std::span<const Asset> assets();

}  // namespace mcphd::dashboard
