#include <catch2/catch.hpp>
#include <set>

#include "common/clock.hpp"

using namespace mcphd;

TEST_CASE("SystemRandom draws uniformly from 0 up to 1 (excluded), differently in each instance") {
  SystemRandom a;
  SystemRandom b;
  double sum = 0;
  std::set<double> seen;
  int lowHalf = 0;
  for (int i = 0; i < 20000; ++i) {
    const double x = a.uniform();
    REQUIRE(x >= 0.0);
    REQUIRE(x < 1.0);
    sum += x;
    lowHalf += x < 0.5 ? 1 : 0;
    seen.insert(x);
  }
  CHECK(seen.size() > 19990);  // no short cycle
  // The mean of 20,000 uniform draws is 0.5 with a standard deviation of 0.002.
  CHECK(sum / 20000 == Approx(0.5).margin(0.02));
  CHECK(lowHalf == Approx(10000).margin(500));
  // Seeded from the kernel: two generators do not repeat each other.
  int equal = 0;
  for (int i = 0; i < 100; ++i) {
    equal += a.uniform() == b.uniform() ? 1 : 0;
  }
  CHECK(equal < 5);
}
