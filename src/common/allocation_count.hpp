#pragma once

#include <cstdint>
#include <optional>

namespace mcphd {

// The number of operator new calls so far. Counted only in the benchmark build
// (cmake -DMCPHD_COUNT_ALLOCATIONS=ON), where /healthz reports it and scripts/bench.sh turns it
// into allocations per check; nullopt in every other build, which keeps the standard allocator
// untouched.
std::optional<uint64_t> allocationCount();

}  // namespace mcphd
