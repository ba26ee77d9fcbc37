#include "common/allocation_count.hpp"

#ifdef MCPHD_COUNT_ALLOCATIONS

#include <atomic>
#include <cstdlib>
#include <new>

// Replaces the global operator new (every form delegates to these two) to count the calls. The
// daemon runs on one thread; the count is atomic because libraries may allocate on theirs (the
// resolver of libcurl). Deletes go to std::free, as the default ones would.
namespace {
std::atomic<uint64_t> g_allocations{0};

void* counted(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) {
    return p;
  }
  throw std::bad_alloc();
}

void* countedAligned(std::size_t size, std::align_val_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) {
    return p;
  }
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) { return counted(size); }
void* operator new[](std::size_t size) { return counted(size); }
void* operator new(std::size_t size, std::align_val_t align) { return countedAligned(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) {
  return countedAligned(size, align);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace mcphd {
std::optional<uint64_t> allocationCount() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace mcphd

#else

namespace mcphd {
std::optional<uint64_t> allocationCount() { return std::nullopt; }
}  // namespace mcphd

#endif
