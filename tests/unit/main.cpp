#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "common/log.hpp"

int main(int argc, char** argv) {
  // Expected warnings (bad records, lost connections) would only clutter the test output.
  mcphd::log::setLevel(mcphd::log::Level::kError);
  return Catch::Session().run(argc, argv);
}
