// libFuzzer target: the YAML config loader (errors must be Results, never crashes or hangs).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  // Relative *_file names resolve under a folder that does not exist: the fuzzer exercises the
  // parser, not the machine's files.
  (void)mcphd::config::loadString(text, "fuzz.yaml", "/nonexistent-mcphd-fuzz");
  return 0;
}
